"""A loopback OpenAI-compatible chat endpoint, so litellm's real HTTP path is under test.

FastAPI + sse-starlette on a real uvicorn port (litellm needs one), in its own thread and
event loop, so a reply that hangs does not block the test. Streams the way OpenAI does:
a role chunk, content tokens, tool-call headers then argument fragments, a finish chunk,
a usage chunk with no choices, `[DONE]`. Replies are scripted per model name (litellm
strips the `openai/` prefix); each can also hang, stall mid-stream, fail or send garbage.
Every request body is recorded.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sse_starlette import EventSourceResponse


@dataclass(frozen=True)
class Reply:
    text: str = ""
    tool_calls: tuple[tuple[str, dict[str, Any]], ...] = ()
    # Never answer (not even headers): the client's own timeouts, or ours, must fire.
    hang: bool = False
    # Send this many chunks, then go silent: the idle-chunk watchdog must fire.
    stall_after: int | None = None
    status: int | None = None  # answer with this HTTP error instead
    garbage: bool = False  # stream a chunk that is not JSON
    delay_s: float = 0.0  # between streamed chunks


@dataclass
class OpenAIStandIn:
    default: Reply = field(default_factory=lambda: Reply(text="Hello from the stand-in."))
    requests: list[dict[str, Any]] = field(default_factory=list)
    _scripts: dict[str, deque[Reply]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    # -- script -------------------------------------------------------------------------

    def script(self, model: str, *replies: Reply) -> None:
        with self._lock:
            self._scripts.setdefault(model, deque()).extend(replies)

    def _next(self, model: str) -> Reply:
        with self._lock:
            queue = self._scripts.get(model)
            return queue.popleft() if queue else self.default

    def requests_for(self, model: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if r.get("model") == model]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- app ----------------------------------------------------------------------------

    def build_app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/v1/models")
        async def models() -> dict[str, Any]:
            return {"object": "list", "data": [{"id": "stand-in", "object": "model"}]}

        @app.post("/v1/chat/completions")
        async def completions(request: Request) -> Any:
            body = await request.json()
            with self._lock:
                self.requests.append(body)
            reply = self._next(str(body.get("model")))
            if reply.hang:
                await asyncio.sleep(3600)
            if reply.status is not None:
                return JSONResponse(
                    {"error": {"message": "stand-in failure", "type": "server_error"}},
                    status_code=reply.status,
                )
            if body.get("stream"):
                return EventSourceResponse(self._stream(body, reply), ping=600)
            return JSONResponse(_completion(body, reply))

        return app

    async def _stream(self, body: dict[str, Any], reply: Reply) -> AsyncIterator[dict[str, str]]:
        sent = 0
        for chunk in _chunks(body, reply):
            if reply.stall_after is not None and sent >= reply.stall_after:
                await asyncio.sleep(3600)
            if reply.delay_s:
                await asyncio.sleep(reply.delay_s)
            yield {"data": chunk}
            sent += 1
        yield {"data": "[DONE]"}

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = int(sock.getsockname()[1])
        # Keep idle connections longer than the client's pool does (httpx: 5 s), as hosted
        # providers do: at uvicorn's default of 5 s both sides close at the same moment and a
        # reused connection fails as a connection error.
        config = uvicorn.Config(
            self.build_app(),
            log_level="warning",
            timeout_graceful_shutdown=1,
            timeout_keep_alive=75,
            lifespan="off",
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True
        )
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the OpenAI stand-in did not start")
            time.sleep(0.01)
        self._server, self._thread = server, thread

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._server.force_exit = True
        self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.stop)


def _usage(body: dict[str, Any], reply: Reply) -> dict[str, int]:
    prompt = sum(len(str(m.get("content") or "")) for m in body.get("messages", [])) // 4 + 1
    completion = len(reply.text) // 4 + 1 + 10 * len(reply.tool_calls)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _calls(reply: Reply) -> list[dict[str, Any]]:
    return [
        {
            "id": f"call_{uuid.uuid4().hex[:10]}",
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(args)},
        }
        for name, args in reply.tool_calls
    ]


def _completion(body: dict[str, Any], reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
    if reply.tool_calls:
        message["tool_calls"] = _calls(reply)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model"),
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if reply.tool_calls else "stop",
            }
        ],
        "usage": _usage(body, reply),
    }


def _chunks(body: dict[str, Any], reply: Reply) -> list[str]:
    cid, created, model = f"chatcmpl-{uuid.uuid4().hex[:12]}", int(time.time()), body.get("model")

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        return json.dumps(
            {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
        )

    out = [chunk({"role": "assistant", "content": ""})]
    if reply.garbage:
        out.append("{this is not json")
    for word in reply.text.split(" ") if reply.text else []:
        out.append(chunk({"content": word + " " if word else " "}))
    for index, call in enumerate(_calls(reply)):
        out.append(
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": call["id"],
                            "type": "function",
                            "function": {"name": call["function"]["name"], "arguments": ""},
                        }
                    ]
                }
            )
        )
        arguments = call["function"]["arguments"]
        step = max(1, len(arguments) // 3)
        for start in range(0, len(arguments), step):
            fragment = arguments[start : start + step]
            out.append(
                chunk({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})
            )
    out.append(chunk({}, "tool_calls" if reply.tool_calls else "stop"))
    if (body.get("stream_options") or {}).get("include_usage"):
        out.append(
            json.dumps(
                {
                    "id": cid,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": _usage(body, reply),
                }
            )
        )
    return out
