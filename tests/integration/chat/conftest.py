"""The API on a real uvicorn in its own thread and event loop (streams hang on an in-process
transport), with the real agent runner on the offline model or a loopback stand-in LLM."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest
import uvicorn

from opscopilot.core.settings import Settings
from opscopilot.store.engine import Database
from opscopilot.tools.base import ToolSpec
from opscopilot.tools.registry import build_registry
from tests.conftest import make_settings
from tests.e2e.procs import free_port

T = TypeVar("T")

PING_S = 0.5  # grace period = two pings = 1 s
SEND_TIMEOUT_S = 1.0


class LiveServer:
    """`create_app(settings)` served on 127.0.0.1 from a thread with its own loop."""

    def __init__(self, settings: Settings) -> None:
        from opscopilot.api.app import create_app

        self.app = create_app(settings)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop: asyncio.AbstractEventLoop | None = None
        self._server: uvicorn.Server | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            timeout_graceful_shutdown=5,
        )
        self._server = uvicorn.Server(config)
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        assert self._server is not None
        await self._server.serve()

    def start(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 60
        while not (self._server and self._server.started):
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the live server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        self._thread.join(30)

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run `fn()` on the server's loop (to look at its tasks and runs)."""
        assert self.loop is not None

        async def wrapped() -> T:
            return await fn()

        future = asyncio.run_coroutine_threadsafe(wrapped(), self.loop)
        return await asyncio.wrap_future(future)

    @property
    def runs(self) -> Any:
        return self.app.state.oc.extras["chat_runs"]

    async def use_model(self, model: Any, *extra_tools: ToolSpec) -> None:
        """The real runner on a scripted model, with the registry plus `extra_tools`."""

        async def install() -> None:
            from opscopilot.agent.llm import build_chain
            from opscopilot.agent.runtime import GraphAgentRunner

            state = self.app.state.oc
            registry = build_registry()
            registry.add(extra_tools)
            tools = [s.tool for s in registry.model_tools()]
            chain = build_chain(state.settings.llm, tools, primary=model)
            state.extras["agent_runner"] = GraphAgentRunner(
                state.settings, state.db, chain=chain, registry=registry
            )

        await self.call(install)

    async def task_names(self) -> list[str]:
        async def names() -> list[str]:
            me = asyncio.current_task()
            return sorted(t.get_name() for t in asyncio.all_tasks() if t is not me)

        return await self.call(names)


def chat_settings(url: str, **llm: Any) -> Settings:
    return make_settings(
        url,
        api={
            "sse_ping_s": PING_S,
            "sse_send_timeout_s": SEND_TIMEOUT_S,
            "rate_limit_chat_per_min": 0,
            "rate_limit_write_per_min": 0,
        },
        llm={"num_retries": 0, "call_deadline_s": 20, "idle_chunk_timeout_s": 10, **llm},
    )


@pytest.fixture
def serve(migrated: str, clean_db: Database) -> Iterator[Callable[..., LiveServer]]:
    """Start live servers on the test database: `serve()` offline, `serve(model=...)`."""
    started: list[LiveServer] = []

    def start(**llm: Any) -> LiveServer:
        server = LiveServer(chat_settings(migrated, **llm)).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s")
        await asyncio.sleep(0.05)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client
