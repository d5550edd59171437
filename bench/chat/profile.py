"""Where a chat's CPU goes: the API in this process, chats through its real HTTP + SSE path.

`python -m bench.chat.profile [--chats 40] [--tokens 30] [--delay-ms 5] [--concurrency 10]
[--passes 3] [--top 40] [--out FILE] [--no-profile]`. The stand-in LLM runs in a process of
its own and the client in this process's main thread, so the CPU counted is the server's
threads only (the event loop and litellm's helper threads). Runs the chats with one token
and with `--tokens` tokens per answer (`--passes` times each, keeping the least CPU: other
work on a shared machine only adds to it): the difference splits the CPU per chat into a
fixed part per request and a part per streamed chunk. Then runs them once more under
cProfile (the loop's thread) and prints the heaviest functions by cumulative and own time.
Not a latency benchmark: it steers the CPU cuts that `bench.chat.run` then measures.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil
import uvicorn
import uvloop

from bench.chat.client import Target, one_chat
from bench.chat.run import REPO, _env, _wait_http, free_port
from opscopilot.core.settings import Settings
from opscopilot.store.embedded import start_embedded, stop_embedded

T = TypeVar("T")


class InProcessServer:
    """The app on uvicorn (uvloop + httptools, as `serve`) in a thread of this process."""

    def __init__(self, settings: Settings) -> None:
        from opscopilot.api.app import create_app

        self.app = create_app(settings)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=lambda: uvloop.run(self._serve()), daemon=True)

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        await self.server.serve()

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.05)

    def call_sync(self, fn: Callable[[], T]) -> T:
        async def wrapped() -> T:
            return fn()

        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(30)

    def acall(self, fn: Callable[[], Awaitable[T]]) -> T:
        async def wrapped() -> T:
            return await fn()

        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(60)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def server_cpu_s() -> float:
    """CPU of every thread of this process but the main one (the client's)."""
    me = threading.main_thread().native_id
    return float(sum(t.user_time + t.system_time for t in psutil.Process().threads() if t.id != me))


async def chats(url: str, keys: list[str], count: int, concurrency: int) -> list[str]:
    target = Target("full", f"{url}/api/v1/chat", {"message": "hello"}, keys)
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency * 2)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def one(slot: int) -> str | None:
            async with gate:
                return (await one_chat(client, target, 0, slot)).error

        errors = await asyncio.gather(*(one(i) for i in range(count)))
    return [e for e in errors if e]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chats", type=int, default=40)
    parser.add_argument("--tokens", type=int, default=30)
    parser.add_argument("--delay-ms", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--passes", type=int, default=3, help="Measured passes; least kept.")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--out", default=None, help="Also dump the cProfile stats here.")
    parser.add_argument("--no-profile", action="store_true", help="CPU figures only.")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="oc-bench-chat-profile-"))
    url = start_embedded(work / "pgdata")
    ports = {t: free_port() for t in (1, args.tokens)}
    standins = {
        t: subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.chat.standin",
                "--port",
                str(p),
                "--tokens",
                str(t),
                "--delay-ms",
                str(args.delay_ms),
            ],
            env=_env(),
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        for t, p in ports.items()
    }
    try:
        from opscopilot.store import migrate

        migrate.upgrade(url)
        for t, p in ports.items():
            _wait_http(f"http://127.0.0.1:{p}/v1/models", standins[t])
        result: dict[str, Any] = {"chats": args.chats, "concurrency": args.concurrency}
        for tokens, port in ports.items():
            result[f"cpu_ms_per_chat_{tokens}_tokens"] = _measure(
                url, port, args, profile=tokens == args.tokens and not args.no_profile
            )
        per_chunk = (
            result[f"cpu_ms_per_chat_{args.tokens}_tokens"] - result["cpu_ms_per_chat_1_tokens"]
        ) / max(1, args.tokens - 1)
        result["cpu_ms_per_chunk"] = round(per_chunk, 2)
        result["cpu_ms_fixed_per_chat"] = round(result["cpu_ms_per_chat_1_tokens"] - per_chunk, 1)
        print(json.dumps(result))
    finally:
        for proc in standins.values():
            proc.terminate()
            proc.wait(10)
        stop_embedded(work / "pgdata")
        shutil.rmtree(work, ignore_errors=True)


def _measure(db_url: str, llm_port: int, args: argparse.Namespace, *, profile: bool) -> float:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment="test",
        log_json=False,
        log_level="WARNING",
        db={"url": db_url, "pool_size": 10, "auto_upgrade": False},
        jobs={"in_process_worker": False},
        api={"rate_limit_chat_per_min": 0, "rate_limit_write_per_min": 0},
        llm={
            "model": "openai/stand-in",
            "api_base": f"http://127.0.0.1:{llm_port}/v1",
            "api_key": "sk-bench",
            "num_retries": 0,
        },
    )
    server = InProcessServer(settings)
    server.start()
    try:
        keys = server.acall(lambda: _keys(server, args.concurrency))
        warm = asyncio.run(chats(server.url, keys, args.concurrency * 2, args.concurrency))
        if warm:
            print("warm-up errors:", sorted(set(warm))[:3], file=sys.stderr)
        # Other work on a shared machine only ever adds CPU time (cache and core sharing):
        # the least of a few passes is the steadiest figure.
        spent = float("inf")
        for _ in range(args.passes):
            before = server_cpu_s()
            errors = asyncio.run(chats(server.url, keys, args.chats, args.concurrency))
            time.sleep(0.3)  # the event writer's last batch
            spent = min(spent, server_cpu_s() - before)
            if errors:
                print("errors:", sorted(set(errors))[:3], file=sys.stderr)
        if profile:  # a separate pass: the profiler's own cost stays out of the figure
            profiler = cProfile.Profile()
            server.call_sync(profiler.enable)
            asyncio.run(chats(server.url, keys, args.chats, args.concurrency))
            time.sleep(0.3)
            server.call_sync(profiler.disable)
            _report(profiler, args)
        return round(spent / int(args.chats) * 1000, 1)
    finally:
        server.stop()


async def _keys(server: InProcessServer, count: int) -> list[str]:
    from opscopilot.access.service import create_key

    db = server.app.state.oc.db
    keys = []
    async with db.sessions() as session:
        for i in range(count):
            created = await create_key(session, user=f"profile-{i}", role="viewer")
            keys.append(created.key)
        await session.commit()
    return keys


def _report(profiler: cProfile.Profile, args: argparse.Namespace) -> None:
    if args.out:
        profiler.dump_stats(args.out)
    for key in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(key).print_stats(args.top)
        print(out.getvalue(), file=sys.stderr)


if __name__ == "__main__":
    main()
