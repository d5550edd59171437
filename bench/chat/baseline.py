"""The baseline: a bare FastAPI SSE endpoint relaying the stand-in's stream, nothing else.

`python -m bench.chat.baseline --port P --upstream http://127.0.0.1:Q/v1`. It speaks the same
events as `POST /api/v1/chat` (token ..., done), so one client measures both.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator

import httpx
import uvicorn
from fastapi import FastAPI
from sse_starlette import EventSourceResponse


def build_app(upstream: str) -> FastAPI:
    app = FastAPI()
    client = httpx.AsyncClient(
        base_url=upstream, timeout=60, limits=httpx.Limits(max_connections=500)
    )

    @app.post("/chat")
    async def chat() -> EventSourceResponse:
        async def relay() -> AsyncIterator[bytes]:
            request = {
                "model": "stand-in",
                "stream": True,
                "messages": [{"role": "user", "content": "hello"}],
            }
            seq = 0
            async with client.stream("POST", "/chat/completions", json=request) as response:
                async for line in response.aiter_lines():
                    if not line.startswith("data: "):
                        continue
                    data = line[6:]
                    seq += 1
                    if data == "[DONE]":
                        yield f"id: {seq}\nevent: done\ndata: {{}}\n\n".encode()
                        return
                    choices = json.loads(data).get("choices") or []
                    text = choices[0].get("delta", {}).get("content") if choices else None
                    if text:
                        data = json.dumps({"text": text})
                        yield f"id: {seq}\nevent: token\ndata: {data}\n\n".encode()

        return EventSourceResponse(relay(), sep="\n")

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args = parser.parse_args()
    uvicorn.run(build_app(args.upstream), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
