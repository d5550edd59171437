"""Load: 200 concurrent clients mixing chat, item search and forecast reads against
`opscopilot serve --workers 2`, one API key per client.

`python -m bench.load.run [--clients 200] [--duration 60] [--workers 2] [--think-ms 500]
[--mix chat=0.2,search=0.4,forecast=0.4]`. Starts an embedded Postgres in a temporary
directory, seeds the demo plant (opscopilot/agent/demo_data.py: items, a year of facts and
its forecasts) and one viewer key per client, then the stand-in LLM (bench/chat/standin.py)
and `serve`. After a warm-up (each worker's first chat imports litellm), every client loops
for `--duration` seconds: one request of the mix, then a random think time (0 to twice
`--think-ms`). A chat is timed to its `done` event.

Per-key rate limits are set for this run in serve's environment (chat 240/min, writes
600/min), above what one client can ask at this mix, so 429s stay a signal, not the result;
429s are counted apart from errors. The stand-in answers every chat with `--tokens` words
`--token-delay-ms` apart.

Prints throughput, p50/p95/p99 per route, 5xx, connection errors and 429s, the RSS of each
serve process after the warm-up and at the end, the configured pool sizes of every process
against Postgres' `max_connections` with the peak connections seen, the load average; and as
its last line one JSON object with the figures and `no_5xx_met`, `no_connection_errors_met`,
`pool_budget_met`, `flat_memory_met`. Serve's CPU seconds per ok request steer optimisation
on a shared box, where wall times move with the neighbours' load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.chat.run import _env as bench_env
from bench.chat.run import _wait_http as wait_http
from bench.chat.run import free_port, pct, process
from opscopilot.store.embedded import start_embedded, stop_embedded

# Flat memory: each serve process may grow this much over the measured run (allocator noise,
# caches filling); a leak of a few KB per request over ~10k requests shows well above it.
RSS_SLACK_MB = 40.0
CHAT_LIMIT_PER_MIN = 240
WRITE_LIMIT_PER_MIN = 600
SEARCH_WORDS = ("gasket", "pump", "bearing", "valve", "steel", "filter", "cable", "motor", "acme")
CONNECTION_ERRORS = (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError)


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    ttft: list[float] = field(default_factory=list)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    connection_errors: Counter[str] = field(default_factory=Counter)
    timeouts: Counter[str] = field(default_factory=Counter)
    stream_errors: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def note(self, text: str) -> None:
        """Keeps the first two examples of each kind (route and what went wrong)."""
        kind = " ".join(text.split()[:3])
        if len(self.examples[kind]) < 2:
            self.examples[kind].append(text)


@dataclass(frozen=True)
class Plan:
    api: str
    keys: list[str]
    forecasts: list[tuple[str, str]]
    mix: list[tuple[str, float]]
    think_s: float


async def seed(url: str, clients: int) -> tuple[list[str], list[tuple[str, str]]]:
    """The demo plant with its forecasts, and one viewer key per client."""
    from opscopilot.access.service import create_key
    from opscopilot.agent import demo_data
    from opscopilot.core.settings import Settings
    from opscopilot.store import migrate
    from opscopilot.store.engine import open_database

    settings = Settings(_env_file=None, environment="test", db={"url": url})  # type: ignore[call-arg]
    await asyncio.to_thread(migrate.upgrade, url)
    db = open_database(settings, application_name="bench-seed")
    try:
        await demo_data.load_demo_plant(db, settings)
        async with db.sessions() as session:
            keys = [
                (await create_key(session, user=f"load-client-{i}", role="viewer")).key
                for i in range(clients)
            ]
            await session.commit()
    finally:
        await db.dispose()
    forecasts = [(sku, kind) for sku, kind, _ in demo_data.FORECASTS]
    return keys, forecasts


async def one_request(
    client: httpx.AsyncClient, plan: Plan, slot: int, rng: random.Random, stats: Stats
) -> None:
    route = rng.choices([r for r, _ in plan.mix], [w for _, w in plan.mix])[0]
    headers = {"Authorization": f"Bearer {plan.keys[slot]}"}
    started = time.perf_counter()
    try:
        if route == "chat":
            await _chat(client, plan, headers, started, stats)
            return
        if route == "search":
            params = {"q": rng.choice(SEARCH_WORDS), "limit": "10"}
            r = await client.get(f"{plan.api}/api/v1/items", params=params, headers=headers)
        else:
            sku, kind = rng.choice(plan.forecasts)
            r = await client.get(f"{plan.api}/api/v1/forecasts/{sku}/{kind}", headers=headers)
        stats.statuses[(route, r.status_code)] += 1
        if r.status_code == 200:
            stats.latencies[route].append(time.perf_counter() - started)
        else:
            stats.note(f"{route} HTTP {r.status_code}: {r.text[:160]}")
    except CONNECTION_ERRORS as exc:
        stats.connection_errors[route] += 1
        stats.note(f"{route} {type(exc).__name__}: {exc}")
    except httpx.TimeoutException as exc:
        stats.timeouts[route] += 1
        stats.note(f"{route} {type(exc).__name__}")


async def _chat(
    client: httpx.AsyncClient, plan: Plan, headers: dict[str, str], started: float, stats: Stats
) -> None:
    body = {"message": "how are we doing on gaskets today?"}
    async with client.stream(
        "POST", f"{plan.api}/api/v1/chat", json=body, headers=headers
    ) as response:
        stats.statuses[("chat", response.status_code)] += 1
        if response.status_code != 200:
            await response.aread()
            stats.note(f"chat HTTP {response.status_code}: {response.text[:160]}")
            return
        event = ""
        first: float | None = None
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                if event == "token" and first is None:
                    first = time.perf_counter() - started
                elif event == "done":
                    stats.latencies["chat"].append(time.perf_counter() - started)
                    if first is not None:
                        stats.ttft.append(first)
                    return
                elif event == "error":
                    stats.stream_errors["chat"] += 1
                    stats.note(f"chat error event: {line[6:160]}")
                    return
        stats.stream_errors["chat"] += 1
        stats.note("chat stream ended without done")


async def run_clients(plan: Plan, clients: int, seconds: float, seed_no: int) -> Stats:
    stats = Stats()
    end = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients * 2, max_keepalive_connections=clients * 2)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def loop(slot: int) -> None:
            rng = random.Random(seed_no * 10_000 + slot)
            # Spread the starts over the first think time: no thundering herd at t=0.
            await asyncio.sleep(rng.uniform(0, 2 * plan.think_s))
            while time.monotonic() < end:
                await one_request(client, plan, slot, rng, stats)
                await asyncio.sleep(rng.uniform(0, 2 * plan.think_s))

        await asyncio.gather(*(loop(i) for i in range(clients)))
    return stats


def serve_processes(pid: int) -> list[psutil.Process]:
    parent = psutil.Process(pid)
    return [parent, *parent.children(recursive=True)]


def rss_by_process(pid: int) -> dict[int, float]:
    # Each process on its own (bench.chat's rss_mb sums a whole tree: the supervisor's
    # figure would then include its workers).
    return {p.pid: p.memory_info().rss / 2**20 for p in serve_processes(pid)}


def cpu_seconds(pid: int) -> float:
    """User + system CPU of serve and its workers: a cost per request that, unlike wall
    time, other work on a shared box does not inflate much."""
    total = 0.0
    for p in serve_processes(pid):
        times = p.cpu_times()
        total += times.user + times.system
    return total


class ConnectionWatch:
    """Samples pg_stat_activity once a second: the peak of client backends by application."""

    def __init__(self, url: str) -> None:
        from opscopilot.store.urls import libpq_url

        self.conninfo = libpq_url(url)
        self.peak_total = 0
        self.peak_by_app: dict[str, int] = {}
        self.max_connections = 0
        self._stop = asyncio.Event()

    async def run(self) -> None:
        import psycopg

        async with await psycopg.AsyncConnection.connect(
            self.conninfo, autocommit=True, application_name="bench-watch"
        ) as conn:
            row = await (await conn.execute("SHOW max_connections")).fetchone()
            assert row is not None
            self.max_connections = int(row[0])
            while not self._stop.is_set():
                rows = await (
                    await conn.execute(
                        "SELECT coalesce(application_name, ''), count(*) FROM pg_stat_activity "
                        "WHERE backend_type = 'client backend' GROUP BY 1"
                    )
                ).fetchall()
                counts = {str(app): int(n) for app, n in rows}
                self.peak_total = max(self.peak_total, sum(counts.values()))
                for app, n in counts.items():
                    self.peak_by_app[app] = max(self.peak_by_app.get(app, 0), n)
                try:
                    await asyncio.wait_for(self._stop.wait(), 1.0)
                except TimeoutError:
                    pass

    def stop(self) -> None:
        self._stop.set()


def pool_budget(workers: int, pool_size: int, max_overflow: int) -> dict[str, Any]:
    """The most connections each serve worker's pools may open, from the settings serve
    runs with (the bench sets only the SQLAlchemy pool's size)."""
    from opscopilot.core.settings import Settings

    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    per_worker = {
        "sqlalchemy": pool_size + max_overflow,
        "checkpointer": defaults.db.checkpoint_pool_size,
        "job_queue": defaults.jobs.pool_size,
    }
    return {
        "per_worker": per_worker,
        "workers": workers,
        # The bench's own watcher holds one more.
        "total": workers * sum(per_worker.values()) + 1,
    }


async def warm_up(plan: Plan, seconds: float, limit_s: float = 600.0) -> int:
    """Until rounds of concurrent chats all answer quickly: each worker imports litellm and
    builds its agent at its first chat (tens of seconds on a busy box), which is start-up,
    not load. Then `seconds` of the mix with a few clients fill the pools. Returns the 5xx
    seen."""
    deadline = time.monotonic() + limit_s
    chat_only = Plan(plan.api, plan.keys, plan.forecasts, [("chat", 1.0)], 0.0)
    fives = 0
    async with httpx.AsyncClient(timeout=limit_s) as client:
        # One chat alone first: the first agent build sets the checkpointer's tables up, and
        # two workers doing that at once hang (agent/memory.py: CREATE INDEX CONCURRENTLY
        # waits on the other worker's pending pg_advisory_lock, which waits on it).
        await one_request(client, chat_only, 0, random.Random(0), Stats())
        while time.monotonic() < deadline:
            stats = Stats()
            started = time.monotonic()
            await asyncio.gather(
                *(one_request(client, chat_only, i, random.Random(i), stats) for i in range(8))
            )
            fives += sum(n for (_, s), n in stats.statuses.items() if s >= 500)
            took = time.monotonic() - started
            print(f"warm-up: 8 chats, {len(stats.latencies['chat'])} answered in {took:.1f} s")
            if len(stats.latencies["chat"]) == 8 and took < 10:
                break
    warm = Plan(plan.api, plan.keys, plan.forecasts, plan.mix, 0.2)
    stats = await run_clients(warm, min(40, len(plan.keys)), seconds, seed_no=1)
    return fives + sum(n for (_, s), n in stats.statuses.items() if s >= 500)


async def measure(args: argparse.Namespace, plan: Plan, serve_pid: int, url: str) -> dict[str, Any]:
    warm_errors = await warm_up(plan, args.warmup)
    await asyncio.sleep(2)
    rss_start = rss_by_process(serve_pid)
    cpu_start = cpu_seconds(serve_pid)
    watch = ConnectionWatch(url)
    watcher = asyncio.create_task(watch.run())
    started = time.monotonic()
    stats = await run_clients(plan, args.clients, args.duration, seed_no=2)
    elapsed = time.monotonic() - started
    cpu = cpu_seconds(serve_pid) - cpu_start
    watch.stop()
    await watcher
    await asyncio.sleep(2)  # in-flight work settles before the last reading
    rss_end = rss_by_process(serve_pid)
    return {
        "stats": stats,
        "warm_errors": warm_errors,
        "elapsed": elapsed,
        "serve_cpu_s": cpu,
        "rss_start": rss_start,
        "rss_end": rss_end,
        "watch": watch,
    }


def parse_mix(text: str) -> list[tuple[str, float]]:
    mix = []
    for part in text.split(","):
        name, _, weight = part.partition("=")
        if name not in ("chat", "search", "forecast"):
            raise SystemExit(f"unknown route in --mix: {name}")
        mix.append((name, float(weight)))
    return mix


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=15.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--think-ms", type=float, default=500.0)
    parser.add_argument("--mix", default="chat=0.2,search=0.4,forecast=0.4")
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--token-delay-ms", type=float, default=20.0)
    parser.add_argument("--pool-size", type=int, default=5)
    parser.add_argument("--max-overflow", type=int, default=5)
    args = parser.parse_args()
    mix = parse_mix(args.mix)
    load_start = os.getloadavg()

    work = Path(tempfile.mkdtemp(prefix="oc-bench-load-"))
    log = work / "processes.log"
    llm_port, serve_port = free_port(), free_port()
    url = start_embedded(work / "pgdata")
    env = bench_env(
        OPSCOPILOT_DB__URL=url,
        OPSCOPILOT_MODEL="openai/stand-in",
        OPSCOPILOT_LLM__API_BASE=f"http://127.0.0.1:{llm_port}/v1",
        OPSCOPILOT_LLM__API_KEY="sk-bench",
        OPSCOPILOT_LLM__NUM_RETRIES="0",
        OPSCOPILOT_API__RATE_LIMIT_CHAT_PER_MIN=str(CHAT_LIMIT_PER_MIN),
        OPSCOPILOT_API__RATE_LIMIT_WRITE_PER_MIN=str(WRITE_LIMIT_PER_MIN),
        OPSCOPILOT_JOBS__IN_PROCESS_WORKER="false",
        OPSCOPILOT_DB__POOL_SIZE=str(args.pool_size),
        OPSCOPILOT_DB__MAX_OVERFLOW=str(args.max_overflow),
    )
    py = sys.executable
    try:
        t0 = time.monotonic()
        keys, forecasts = asyncio.run(seed(url, args.clients))
        print(f"seeded the demo plant and {len(keys)} keys in {time.monotonic() - t0:.1f} s")
        standin_cmd = [py, "-m", "bench.chat.standin", "--port", str(llm_port)]
        standin_cmd += ["--tokens", str(args.tokens), "--delay-ms", str(args.token_delay_ms)]
        serve_cmd = [py, "-m", "opscopilot.cli.main", "serve", "--port", str(serve_port)]
        serve_cmd += ["--workers", str(args.workers)]
        with process(standin_cmd, env, log) as llm, process(serve_cmd, env, log) as serve:
            wait_http(f"http://127.0.0.1:{llm_port}/v1/models", llm)
            wait_http(f"http://127.0.0.1:{serve_port}/api/v1/health", serve)
            plan = Plan(f"http://127.0.0.1:{serve_port}", keys, forecasts, mix,
                        args.think_ms / 1000)  # fmt: skip
            result = asyncio.run(measure(args, plan, serve.pid, url))
    except Exception as exc:
        print(f"benchmark failed: {exc}; process log: {log}", file=sys.stderr)
        raise
    finally:
        stop_embedded(work / "pgdata")
    kept = Path(tempfile.gettempdir()) / "opscopilot-bench-load.log"
    shutil.copyfile(log, kept)
    shutil.rmtree(work, ignore_errors=True)
    print(f"process log: {kept}")
    report(args, result, load_start)


def report(args: argparse.Namespace, result: dict[str, Any], load_start: tuple[float, ...]) -> None:
    stats: Stats = result["stats"]
    elapsed: float = result["elapsed"]
    watch: ConnectionWatch = result["watch"]
    routes: dict[str, Any] = {}
    print(f"\n{'route':10s}{'ok':>8s}{'req/s':>8s}{'p50 ms':>9s}{'p95 ms':>9s}{'p99 ms':>9s}")
    for route in ("chat", "search", "forecast"):
        ok = stats.latencies.get(route, [])
        routes[route] = {
            "ok": len(ok),
            "rps": round(len(ok) / elapsed, 1),
            "p50_ms": round(pct(ok, 0.50), 1),
            "p95_ms": round(pct(ok, 0.95), 1),
            "p99_ms": round(pct(ok, 0.99), 1),
        }
        r = routes[route]
        print(f"{route:10s}{r['ok']:8d}{r['rps']:8.1f}{r['p50_ms']:9.1f}{r['p95_ms']:9.1f}"
              f"{r['p99_ms']:9.1f}")  # fmt: skip
    routes["chat"]["ttft_p95_ms"] = round(pct(stats.ttft, 0.95), 1)
    routes["chat"]["ttft_p99_ms"] = round(pct(stats.ttft, 0.99), 1)
    total_ok = sum(len(v) for v in stats.latencies.values())
    five = sum(n for (_, s), n in stats.statuses.items() if s >= 500)
    limited = sum(n for (_, s), n in stats.statuses.items() if s == 429)
    other_4xx = sum(n for (_, s), n in stats.statuses.items() if 400 <= s < 500 and s != 429)
    conn_errors = sum(stats.connection_errors.values())
    timeouts = sum(stats.timeouts.values())
    stream_errors = sum(stats.stream_errors.values())
    cpu_s: float = result["serve_cpu_s"]
    cpu_ms_per_request = round(1000 * cpu_s / max(total_ok, 1), 2)
    print(f"throughput: {total_ok / elapsed:.1f} ok requests/s over {elapsed:.1f} s "
          f"({args.clients} clients); serve CPU {cpu_s:.1f} s, "
          f"{cpu_ms_per_request} ms per ok request")  # fmt: skip
    print(f"5xx {five} | connection errors {conn_errors} | timeouts {timeouts} | "
          f"chat error events {stream_errors} | 429 {limited} | other 4xx {other_4xx}")  # fmt: skip
    for examples in stats.examples.values():
        for example in examples:
            print("  e.g.", example, file=sys.stderr)

    start, end = result["rss_start"], result["rss_end"]
    growth = {pid: round(end.get(pid, 0.0) - mb, 1) for pid, mb in start.items()}
    for pid, mb in start.items():
        print(f"serve pid {pid}: RSS {mb:.1f} -> {end.get(pid, 0.0):.1f} MB ({growth[pid]:+} MB)")
    same_processes = set(start) == set(end)

    budget = pool_budget(args.workers, args.pool_size, args.max_overflow)
    print(f"pools: {budget['workers']} workers x {budget['per_worker']} + watcher = "
          f"{budget['total']} connections at most; max_connections {watch.max_connections}; "
          f"peak seen {watch.peak_total} {watch.peak_by_app}")  # fmt: skip
    load_end = os.getloadavg()
    print(f"load average at start {load_start}, at end {load_end}")

    out = {
        "clients": args.clients,
        "duration_s": round(elapsed, 1),
        "workers": args.workers,
        "mix": args.mix,
        "think_ms": args.think_ms,
        "throughput_rps": round(total_ok / elapsed, 1),
        "serve_cpu_s": round(cpu_s, 1),
        "serve_cpu_ms_per_ok_request": cpu_ms_per_request,
        "routes": routes,
        "errors_5xx": five,
        "connection_errors": conn_errors,
        "timeouts": timeouts,
        "chat_error_events": stream_errors,
        "rate_limited_429": limited,
        "other_4xx": other_4xx,
        "warmup_5xx": result["warm_errors"],
        "rate_limits_per_key_per_min": {"chat": CHAT_LIMIT_PER_MIN, "write": WRITE_LIMIT_PER_MIN},
        "rss_start_mb": {str(k): round(v, 1) for k, v in start.items()},
        "rss_end_mb": {str(k): round(v, 1) for k, v in end.items()},
        "rss_growth_mb": {str(k): v for k, v in growth.items()},
        "pool_budget": budget,
        "max_connections": watch.max_connections,
        "peak_connections": watch.peak_total,
        "peak_connections_by_app": watch.peak_by_app,
        "loadavg_start": [round(x, 2) for x in load_start],
        "loadavg_end": [round(x, 2) for x in load_end],
        "no_5xx_met": five == 0,
        "no_connection_errors_met": conn_errors == 0 and timeouts == 0,
        "pool_budget_met": budget["total"] < watch.max_connections
        and watch.peak_total < watch.max_connections,
        "flat_memory_met": same_processes and all(g <= RSS_SLACK_MB for g in growth.values()),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
