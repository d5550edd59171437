"""The baselines: a bare FastAPI SSE endpoint relaying the stand-in's stream, nothing else.

`python -m bench.chat.baseline --port P --upstream http://127.0.0.1:Q/v1 [--litellm]`. It
speaks the same events as `POST /api/v1/chat` (token ..., done), so one client measures all
arms. Plain, it reads the stand-in with raw httpx: the floor of any relay. With `--litellm`
it calls `litellm.acompletion` the way our agent does (`agent/litellm_direct.py`: same model
string and call parameters, streamed, usage included): the floor of any relay built on
litellm, so the full stack's added latency splits into litellm's part and ours.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from sse_starlette import EventSourceResponse

MESSAGES = [{"role": "user", "content": "hello"}]
Relay = Callable[[], AsyncIterator[bytes]]


def _token(seq: int, text: str) -> bytes:
    return f"id: {seq}\nevent: token\ndata: {json.dumps({'text': text})}\n\n".encode()


def _done(seq: int) -> bytes:
    return f"id: {seq}\nevent: done\ndata: {{}}\n\n".encode()


def httpx_relay(upstream: str) -> Relay:
    client = httpx.AsyncClient(
        base_url=upstream, timeout=60, limits=httpx.Limits(max_connections=500)
    )

    async def relay() -> AsyncIterator[bytes]:
        request = {"model": "stand-in", "stream": True, "messages": MESSAGES}
        seq = 0
        async with client.stream("POST", "/chat/completions", json=request) as response:
            async for line in response.aiter_lines():
                if not line.startswith("data: "):
                    continue
                data = line[6:]
                seq += 1
                if data == "[DONE]":
                    yield _done(seq)
                    return
                choices = json.loads(data).get("choices") or []
                text = choices[0].get("delta", {}).get("content") if choices else None
                if text:
                    yield _token(seq, text)

    return relay


def litellm_relay(upstream: str) -> Relay:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm  # seconds to import: at startup, like `serve`'s runner start

    litellm.suppress_debug_info = True
    # What `serve` does after the same import (agent/runtime.py): the tokenizer loaded now,
    # and the imported heap kept out of the collector's full passes. A floor for any relay
    # on litellm includes the mitigations any such relay would take.
    litellm.token_counter(text="warm-up")
    gc.collect()
    gc.freeze()
    # The agent's parameters (LiteLLMModel.create / stream), no tools: the stand-in answers
    # with text only, and tool schemas would only add request-building work.
    params: dict[str, Any] = {
        "model": "openai/stand-in",
        "api_base": upstream,
        "api_key": "sk-bench",
        "temperature": 0.0,
        "timeout": 60.0,
        "max_retries": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }

    async def relay() -> AsyncIterator[bytes]:
        seq = 0
        response = await litellm.acompletion(messages=MESSAGES, **params)
        try:
            async for chunk in response:
                seq += 1
                choices = chunk.choices
                text = choices[0].delta.content if choices else None
                if text:
                    yield _token(seq, text)
        finally:
            aclose = getattr(response, "aclose", None)
            if aclose is not None:
                await aclose()
        yield _done(seq + 1)

    return relay


def build_app(upstream: str, *, use_litellm: bool = False) -> FastAPI:
    app = FastAPI()
    relay = litellm_relay(upstream) if use_litellm else httpx_relay(upstream)

    @app.post("/chat")
    async def chat() -> EventSourceResponse:
        return EventSourceResponse(relay(), sep="\n")

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--litellm", action="store_true", help="Relay through litellm.")
    args = parser.parse_args()
    app = build_app(args.upstream, use_litellm=args.litellm)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
