"""An aiohttp app served on 127.0.0.1 from its own thread and event loop.

Its own loop keeps the peer answering while a test's loop is busy or blocked, and lets sync
and async tests use it alike (``with peer:`` or ``async with peer:``). A stopped peer can be
started again on the same port, to play a provider that goes down and comes back.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from types import TracebackType
from typing import Self

from aiohttp import web


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FailurePlan:
    """Answer the next `count` matching requests with `status` (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plans: list[tuple[int, int, float | None, str | None]] = []

    def add(self, count: int, status: int, retry_after: float | None, key: str | None) -> None:
        with self._lock:
            self._plans.append((count, status, retry_after, key))

    def take(self, key: str | None = None) -> tuple[int, float | None] | None:
        with self._lock:
            for i, (count, status, retry_after, only) in enumerate(self._plans):
                if only is None or only == key:
                    if count <= 1:
                        del self._plans[i]
                    else:
                        self._plans[i] = (count - 1, status, retry_after, only)
                    return status, retry_after
        return None


class ThreadedHTTPPeer:
    def __init__(self, *, port: int = 0) -> None:
        self.port = port
        self.lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    def build_app(self) -> web.Application:
        raise NotImplementedError

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("peer already running")
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name=type(self).__name__, daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        asyncio.run_coroutine_threadsafe(self._serve(), loop).result(timeout=10)

    async def _serve(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = int(sock.getsockname()[1])
        runner = web.AppRunner(self.build_app(), access_log=None, shutdown_timeout=0.5)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        self._runner = runner

    @staticmethod
    async def _shutdown(runner: web.AppRunner | None) -> None:
        if runner is not None:
            await runner.cleanup()
        # Handlers still sleeping (a delayed answer) would be destroyed pending with the loop.
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def stop(self) -> None:
        loop, thread, runner = self._loop, self._thread, self._runner
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(runner), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = self._runner = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)
