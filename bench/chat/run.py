"""Chat latency: the full stack against a bare SSE relay of the same stand-in LLM.

`python -m bench.chat.run [--chats 50] [--tokens 30] [--delay-ms 30] [--rounds 3]
[--db-url URL] [--workers N]`. Starts the stand-in LLM, the baseline relay and
`opscopilot serve` (with `OPSCOPILOT_MODEL=openai/stand-in`, on an embedded Postgres in a
temporary directory unless `--db-url` is given; `--workers` uvicorn processes), warms both
up, then runs rounds of `--chats` concurrent chats whose arrivals are spread over one
second, alternating baseline and full stack. Prints p50/p95 of time to first token and total
time for each and the added latency, the serve processes' RSS and CPU over the measured
rounds, and as its last line one JSON object with the figures
and `<target>_met` booleans (added p95 <= 50 ms for both, no errors, flat memory).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from opscopilot.store.embedded import start_embedded, stop_embedded

ADDED_P95_TARGET_MS = 50.0
# Flat memory: the serve process may grow this much over all measured chats (allocator noise).
RSS_SLACK_MB = 25.0
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPSCOPILOT_", "DB_"))}
    env.pop("DATABASE_URL", None)
    env.update({"OPSCOPILOT_LOG_JSON": "false", "OPSCOPILOT_LOG_LEVEL": "WARNING"})
    env["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    env.update(extra)
    return env


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer")


@contextmanager
def process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            args, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


@dataclass
class Sample:
    ttft: float | None = None
    total: float | None = None
    error: str | None = None


@dataclass
class Target:
    name: str
    url: str
    body: dict[str, Any]
    # One bearer key per simulated person (50 chats are 50 people, not one key 50 times).
    keys: list[str] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)

    def headers(self, slot: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[slot % len(self.keys)]}"} if self.keys else {}


async def one_chat(
    client: httpx.AsyncClient, target: Target, delay: float, slot: int = 0
) -> Sample:
    await asyncio.sleep(delay)
    sample = Sample()
    start = time.perf_counter()
    try:
        async with client.stream(
            "POST", target.url, json=target.body, headers=target.headers(slot)
        ) as response:
            if response.status_code != 200:
                await response.aread()
                sample.error = f"HTTP {response.status_code}: {response.text[:200]}"
                return sample
            event = ""
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    if event == "token" and sample.ttft is None:
                        sample.ttft = time.perf_counter() - start
                    elif event == "done":
                        sample.total = time.perf_counter() - start
                        return sample
                    elif event == "error":
                        sample.error = line[6:200]
                        return sample
        sample.error = "stream ended without done"
    except httpx.HTTPError as exc:
        sample.error = f"{type(exc).__name__}: {exc}"
    return sample


async def burst(
    client: httpx.AsyncClient, target: Target, chats: int, spread_s: float
) -> list[Sample]:
    step = spread_s / max(chats, 1)
    return list(
        await asyncio.gather(*(one_chat(client, target, i * step, i) for i in range(chats)))
    )


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return (ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)) * 1000


def summary(samples: list[Sample]) -> dict[str, float | int]:
    ttft = [s.ttft for s in samples if s.ttft is not None and s.error is None]
    total = [s.total for s in samples if s.total is not None and s.error is None]
    return {
        "chats": len(samples),
        "errors": sum(1 for s in samples if s.error is not None),
        "ttft_p50_ms": round(pct(ttft, 0.5), 1),
        "ttft_p95_ms": round(pct(ttft, 0.95), 1),
        "total_p50_ms": round(pct(total, 0.5), 1),
        "total_p95_ms": round(pct(total, 0.95), 1),
    }


def _async_commit(url: str) -> None:
    import psycopg

    from opscopilot.store.urls import libpq_url

    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET synchronous_commit = off")
        conn.execute("SELECT pg_reload_conf()")


def people_keys(env: dict[str, str], api: str, count: int) -> list[str]:
    """An admin key from the CLI, then one viewer key per person through the API."""
    admin = (
        subprocess.run(
            [
                sys.executable,
                "-m",
                "opscopilot.cli.main",
                "keys",
                "create",
                "--role",
                "admin",
                "--user",
                "bench-admin",
            ],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    keys = []
    for i in range(count):
        created = httpx.post(
            f"{api}/api/v1/keys",
            json={"user": f"bench-person-{i}", "role": "viewer"},
            headers={"Authorization": f"Bearer {admin}"},
            timeout=30,
        )
        created.raise_for_status()
        keys.append(str(created.json()["key"]))
    return keys


def _tree(pid: int) -> list[psutil.Process]:
    """`serve` and, with --workers > 1, its worker processes."""
    parent = psutil.Process(pid)
    return [parent, *parent.children(recursive=True)]


def cpu_s(pid: int) -> float:
    return float(sum(t.user + t.system for t in (p.cpu_times() for p in _tree(pid))))


def rss_mb(pid: int) -> float:
    return float(sum(p.memory_info().rss for p in _tree(pid))) / 2**20


async def measure(
    args: argparse.Namespace, baseline: Target, full: Target, serve_pid: int
) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=4 * args.chats, max_keepalive_connections=4 * args.chats)
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:
        for target in (baseline, full):  # warm-up: imports, pools, litellm's first call
            for _ in range(3):
                await one_chat(client, target, 0)
            await burst(client, target, args.chats, args.spread_s)
        rss_before = rss_mb(serve_pid)
        cpu_before = cpu_s(serve_pid)
        for round_no in range(args.rounds):
            for target in (baseline, full):
                samples = await burst(client, target, args.chats, args.spread_s)
                target.samples.extend(samples)
                s = summary(samples)
                print(
                    f"round {round_no + 1} {target.name:8s} ttft p50 {s['ttft_p50_ms']:7.1f} "
                    f"p95 {s['ttft_p95_ms']:7.1f} | total p50 {s['total_p50_ms']:7.1f} "
                    f"p95 {s['total_p95_ms']:7.1f} ms | errors {s['errors']}",
                    flush=True,
                )
        await asyncio.sleep(1)
        rss_after = rss_mb(serve_pid)
        cpu_per_chat = (cpu_s(serve_pid) - cpu_before) / max(1, len(full.samples)) * 1000
    errors = [s.error for t in (baseline, full) for s in t.samples if s.error]
    for error in sorted(set(errors))[:5]:
        print("error:", error, file=sys.stderr)
    return {
        "rss_before_mb": round(rss_before, 1),
        "rss_after_mb": round(rss_after, 1),
        "serve_cpu_ms_per_chat": round(cpu_per_chat, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--tokens", type=int, default=30)
    parser.add_argument("--delay-ms", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--spread-s", type=float, default=1.0)
    parser.add_argument("--db-url", default=None, help="A Postgres to use (default: embedded).")
    parser.add_argument("--workers", type=int, default=1, help="`opscopilot serve --workers`.")
    parser.add_argument(
        "--async-commit",
        action="store_true",
        help="Diagnosis only: run the embedded Postgres with synchronous_commit=off, to see "
        "how much of the added latency is waiting for WAL flushes.",
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="oc-bench-chat-"))
    log = work / "processes.log"
    llm_port, base_port, serve_port = free_port(), free_port(), free_port()
    # The bench holds the embedded Postgres itself, so it stops with the bench whatever
    # becomes of `serve`.
    url = args.db_url or start_embedded(work / "pgdata")
    env = _env(
        OPSCOPILOT_DB__URL=url,
        OPSCOPILOT_MODEL="openai/stand-in",
        OPSCOPILOT_LLM__API_BASE=f"http://127.0.0.1:{llm_port}/v1",
        OPSCOPILOT_LLM__API_KEY="sk-bench",
        OPSCOPILOT_LLM__NUM_RETRIES="0",
        OPSCOPILOT_API__RATE_LIMIT_CHAT_PER_MIN="0",
        OPSCOPILOT_API__RATE_LIMIT_WRITE_PER_MIN="0",
        OPSCOPILOT_JOBS__IN_PROCESS_WORKER="false",
        OPSCOPILOT_DB__POOL_SIZE="10",
    )
    py = sys.executable
    try:
        with (
            process(
                [
                    py,
                    "-m",
                    "bench.chat.standin",
                    "--port",
                    str(llm_port),
                    "--tokens",
                    str(args.tokens),
                    "--delay-ms",
                    str(args.delay_ms),
                ],
                env,
                log,
            ) as llm,
            process(
                [
                    py,
                    "-m",
                    "bench.chat.baseline",
                    "--port",
                    str(base_port),
                    "--upstream",
                    f"http://127.0.0.1:{llm_port}/v1",
                ],
                env,
                log,
            ) as base,
            process(
                [
                    py,
                    "-m",
                    "opscopilot.cli.main",
                    "serve",
                    "--port",
                    str(serve_port),
                    "--workers",
                    str(args.workers),
                ],
                env,
                log,
            ) as serve,
        ):
            _wait_http(f"http://127.0.0.1:{llm_port}/v1/models", llm)
            _wait_http(f"http://127.0.0.1:{base_port}/docs", base)
            _wait_http(f"http://127.0.0.1:{serve_port}/api/v1/health", serve)
            if args.async_commit and not args.db_url:
                _async_commit(url)
            baseline = Target("baseline", f"http://127.0.0.1:{base_port}/chat", {})
            api = f"http://127.0.0.1:{serve_port}"
            keys = people_keys(env, api, args.chats)
            full = Target("full", f"{api}/api/v1/chat", {"message": "hello"}, keys)
            load_before = os.getloadavg()[0]
            memory = asyncio.run(measure(args, baseline, full, serve.pid))
            # The machine may be shared: its load says how far the figures can be trusted.
            memory["load_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    except Exception as exc:
        print(f"benchmark failed: {exc}; process log: {log}", file=sys.stderr)
        raise
    finally:
        if not args.db_url:
            stop_embedded(work / "pgdata")
    base_s, full_s = summary(baseline.samples), summary(full.samples)
    if base_s["errors"] or full_s["errors"]:
        # Kept for the diagnosis (the serve log says what the error events only hint at).
        shutil.rmtree(work / "pgdata", ignore_errors=True)
        print(f"errors: process log kept at {log}", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)
    added_ttft = round(full_s["ttft_p95_ms"] - base_s["ttft_p95_ms"], 1)
    added_total = round(full_s["total_p95_ms"] - base_s["total_p95_ms"], 1)
    growth = round(memory["rss_after_mb"] - memory["rss_before_mb"], 1)
    print()
    print(
        f"{'':10s}{'ttft p50':>10s}{'ttft p95':>10s}{'total p50':>11s}{'total p95':>11s}"
        f"{'errors':>8s}"
    )
    for name, s in (("baseline", base_s), ("full", full_s)):
        print(
            f"{name:10s}{s['ttft_p50_ms']:10.1f}{s['ttft_p95_ms']:10.1f}"
            f"{s['total_p50_ms']:11.1f}{s['total_p95_ms']:11.1f}{s['errors']:8d}"
        )
    print(
        f"added at p95: first token {added_ttft} ms, total {added_total} ms "
        f"(target <= {ADDED_P95_TARGET_MS:.0f} ms)"
    )
    print(f"serve CPU per chat: {memory['serve_cpu_ms_per_chat']} ms ({args.workers} worker(s))")
    print(f"serve RSS {memory['rss_before_mb']} MB -> {memory['rss_after_mb']} MB ({growth:+} MB)")
    print(f"machine load (1 min) before and after: {memory['load_1m']} on {os.cpu_count()} CPUs")
    result = {
        "chats": args.chats,
        "workers": args.workers,
        "async_commit": args.async_commit,
        "rounds": args.rounds,
        "tokens": args.tokens,
        "token_delay_ms": args.delay_ms,
        "baseline": base_s,
        "full": full_s,
        "added_ttft_p95_ms": added_ttft,
        "added_total_p95_ms": added_total,
        "errors": int(base_s["errors"]) + int(full_s["errors"]),
        **memory,
        "rss_growth_mb": growth,
        "added_p95_le_50ms_met": max(added_ttft, added_total) <= ADDED_P95_TARGET_MS,
        "no_errors_met": base_s["errors"] == 0 and full_s["errors"] == 0,
        "flat_memory_met": growth <= RSS_SLACK_MB,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
