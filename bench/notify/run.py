"""Notification delivery through the outbox against a bare httpx loop, same receiver, same run.

`python -m bench.notify.run [--count 10000] [--backlog 5000] [--concurrency 8]
[--producers 4] [--relay process|inline] [--db-url URL]`. Starts an embedded Postgres in a
temporary directory (migrated to head) unless `--db-url` is given, and the test suite's
webhook receiver (signature check, one effect per webhook-id) in its own process. Then:

1. direct: `--count` signed webhook POSTs by `--concurrency` workers sharing one
   httpx.AsyncClient, the limit of this receiver for this client (httpx gets slower, not
   faster, with many more connections on loopback);
2. live: `--count` notifications to 100 users with webhook preferences, each queued by
   `send_notification` in its own transaction by one of `--producers` tasks while the
   notify loop delivers them (a separate process, as a worker runs it; `--relay inline`:
   inside this process, as `serve` runs it on the embedded default), `--concurrency` in
   flight: deliveries/s from the first send to the last arrival, and enqueue-to-delivery
   latency from just before each commit to its arrival at the receiver;
3. backlog: `--backlog` more queued with the relay stopped, then drained: the relay's own
   delivery rate, without the producers.

Prints each rate and its ratio to the direct loop, the latency percentiles, lost and doubled
deliveries, the CPU per delivery of the relay (backlog phase) beside that of the bare httpx
client and of the receiver (steadier than the rates on a shared machine), and as its last
line one JSON object with the figures and `<target>_met` booleans: live ratio >= 0.5,
p95 <= 2 s, none lost or doubled.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

RATIO_TARGET = 0.5
P95_TARGET_S = 2.0
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
USERS = 100
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def cpu_s(pid: int | None = None) -> float:
    """User + system CPU seconds of a process (default: this one). Wall rates swing with
    whatever else runs on the machine; CPU per delivery much less."""
    import psutil

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, *args],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


async def stats(client: httpx.AsyncClient, url: str, arrivals: bool = False) -> dict[str, Any]:
    response = await client.get(f"{url}/_stats", params={"arrivals": "1"} if arrivals else None)
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


async def wait_for_receiver(url: str, proc: subprocess.Popen[bytes]) -> None:
    async with httpx.AsyncClient(trust_env=False) as client:
        for _ in range(200):
            if proc.poll() is not None:
                raise RuntimeError("the receiver exited; see its log")
            try:
                await stats(client, url)
                return
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
    raise TimeoutError("the receiver did not start")


async def direct_loop(url: str, count: int, concurrency: int, prefix: str = "direct") -> float:
    """Deliveries per second of signed POSTs from a bare httpx loop."""
    from opscopilot.notify.channels.webhook import sign

    ids = iter(range(count))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def worker(client: httpx.AsyncClient) -> None:
        for n in ids:
            msg_id = f"{prefix}-{n}"
            body = json.dumps(
                {
                    "type": "notification",
                    "data": {
                        "id": msg_id,
                        "title": f"Direct {n}",
                        "text": "Conveyor jam at station 4",
                    },
                },
                separators=(",", ":"),
            ).encode()
            ts = int(time.time())
            headers = {
                "content-type": "application/json",
                "webhook-id": msg_id,
                "webhook-timestamp": str(ts),
                "webhook-signature": sign(secret=SECRET, msg_id=msg_id, timestamp=ts, body=body),
            }
            response = await client.post(f"{url}/hooks/direct", content=body, headers=headers)
            response.raise_for_status()

    async with httpx.AsyncClient(limits=limits, trust_env=False, timeout=30) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        return count / (time.perf_counter() - started)


class RelayRunner:
    """The notify loop as a worker process (default) or inside this process (`serve`)."""

    def __init__(self, args: argparse.Namespace, env: dict[str, str], work: Path) -> None:
        self.args, self.env, self.work = args, env, work
        self.proc: subprocess.Popen[bytes] | None = None
        self.task: asyncio.Task[None] | None = None
        self.stop_event = asyncio.Event()

    async def start(self, db: Any, settings: Any) -> None:
        from opscopilot.notify.runner import NotifyLoop

        if self.args.relay == "process":
            log = self.work / "relay.log"
            seen = read_log(log).count("relay up")  # the log is kept across restarts
            self.proc = spawn(
                ["-m", "bench.notify.relay_proc", str(self.args.concurrency)], self.env, log
            )
            await wait_for_line(log, "relay up", seen + 1, self.proc)
        else:
            self.stop_event = asyncio.Event()
            loop = NotifyLoop(db, settings, concurrency=self.args.concurrency)
            self.task = asyncio.create_task(loop.run(self.stop_event))
        await asyncio.sleep(2.0)  # up and idle, as in production

    def cpu_s(self) -> float:
        """CPU seconds of the relay: its process, or this one when it runs inline."""
        return cpu_s(self.proc.pid if self.proc is not None else None)

    async def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None
        if self.task is not None:
            self.stop_event.set()
            await self.task
            self.task = None


def read_log(log: Path) -> str:
    return log.read_text(errors="replace") if log.exists() else ""


async def wait_for_line(log: Path, line: str, times: int, proc: subprocess.Popen[bytes]) -> None:
    """Until `line` is in the log `times` times: a loaded machine takes seconds to start
    Python and import the package, and the clock must not run against a relay still
    starting."""
    deadline = time.monotonic() + 120
    while read_log(log).count(line) < times:
        if proc.poll() is not None:
            raise RuntimeError(f"the relay exited; see {log}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {line!r} in {log}")
        await asyncio.sleep(0.1)


async def enqueue(db: Any, first: int, count: int, producers: int) -> dict[str, float]:
    """Queue `count` notifications by `producers` concurrent tasks, one send per transaction;
    returns notification id -> time just before its commit."""
    from opscopilot.notify.service import send_notification

    enqueued: dict[str, float] = {}
    counter = itertools.count(first)

    async def producer() -> None:
        while (n := next(counter)) < first + count:
            async with db.sessions() as s:
                sent = await send_notification(
                    s,
                    user_id=f"bench-{n % USERS:03d}",
                    title=f"Line {n % 7} stop #{n}",
                    message="Conveyor jam at station 4",
                    severity="warning",
                    channel="webhook",
                )
                enqueued[str(sent.notification_id)] = time.time()
                await s.commit()

    await asyncio.gather(*(producer() for _ in range(producers)))
    return enqueued


async def wait_effects(
    client: httpx.AsyncClient, receiver: str, total: int, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while (await stats(client, receiver))["effects"] < total and time.monotonic() < deadline:
        await asyncio.sleep(0.25)


async def ours(
    args: argparse.Namespace, db_url: str, receiver: str, env: dict[str, str], work: Path
) -> dict[str, Any]:
    from sqlalchemy import text

    from opscopilot.core.settings import Settings
    from opscopilot.notify.service import set_preferences
    from opscopilot.store.engine import open_database

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment="test",
        db={"url": db_url, "pool_size": args.producers + 4, "auto_upgrade": False},
        notify={"webhook_secret": SECRET, "webhook_allowlist": ["127.0.0.1"]},
    )
    db = open_database(settings, application_name="bench")
    async with db.sessions() as s:
        for i in range(USERS):
            await set_preferences(
                s,
                user_id=f"bench-{i:03d}",
                channel="webhook",
                address=f"{receiver}/hooks/bench-{i:03d}",
                webhook_allowlist=["127.0.0.1"],
            )
        await s.commit()
    relay = RelayRunner(args, env, work)
    async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
        base = (await stats(client, receiver))["effects"]
        # Live: producers queue while the relay delivers.
        await relay.start(db, settings)
        started = time.time()
        live = await enqueue(db, 0, args.count, args.producers)
        enqueue_s = time.time() - started
        await wait_effects(client, receiver, base + args.count, args.timeout)
        await relay.stop()
        # Backlog: the relay starts on a full outbox (after an outage, a burst of alerts).
        backlog = await enqueue(db, args.count, args.backlog, args.producers)
        await relay.start(db, settings)
        relay_cpu = relay.cpu_s()
        await wait_effects(client, receiver, base + args.count + args.backlog, args.timeout)
        relay_cpu = relay.cpu_s() - relay_cpu
        await relay.stop()
        await asyncio.sleep(1.0)  # anything doubled arrives now or not at all
        final = await stats(client, receiver, arrivals=True)
    async with db.sessions() as s:
        statuses: dict[str, int] = dict(
            (await s.execute(text("SELECT status, count(*) FROM notifications GROUP BY 1"))).all()
        )
        attempts = (await s.execute(text("SELECT sum(attempts) FROM notifications"))).scalar()
    await db.dispose()

    arrivals: dict[str, float] = final["arrivals"]
    delivered = [i for i in live if i in arrivals]
    latencies = [arrivals[i] - live[i] for i in delivered]
    drained = sorted(arrivals[i] for i in backlog if i in arrivals)
    sent_total = len(delivered) + len(drained)
    return {
        "enqueue_per_s": args.count / enqueue_s,
        "deliveries_per_s": len(delivered) / (max(arrivals[i] for i in delivered) - started),
        "backlog_per_s": (len(drained) - 1) / (drained[-1] - drained[0])
        if len(drained) > 1
        else float("nan"),
        "p50_s": pct(latencies, 0.5),
        "p95_s": pct(latencies, 0.95),
        "max_s": max(latencies),
        "lost": args.count + args.backlog - sent_total,
        # Every request before ours (warm-up, direct loop) carried a distinct id.
        "doubled": final["duplicates"] + max(0, final["requests"] - base - sent_total),
        "rejected": final["rejected"],
        "statuses": statuses,
        "attempts": int(attempts or 0),
        # Inline, it also counts this process polling the receiver (a little).
        "relay_cpu_ms": relay_cpu / max(len(drained), 1) * 1000,
    }


async def bench(args: argparse.Namespace, db_url: str, work: Path) -> dict[str, Any]:
    port = free_port()
    receiver = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPSCOPILOT_", "DB_"))}
    env.pop("DATABASE_URL", None)
    env |= {
        "OPSCOPILOT_DB__URL": db_url,
        "OPSCOPILOT_DB__AUTO_UPGRADE": "false",
        "OPSCOPILOT_ENVIRONMENT": "test",
        "OPSCOPILOT_LOG_JSON": "false",
        "OPSCOPILOT_LOG_LEVEL": "WARNING",
        "OPSCOPILOT_NOTIFY__WEBHOOK_SECRET": SECRET,
        "OPSCOPILOT_NOTIFY__WEBHOOK_ALLOWLIST": json.dumps(["127.0.0.1"]),
    }
    proc = spawn(["-m", "bench.notify.receiver", str(port), SECRET], env, work / "receiver.log")
    try:
        await wait_for_receiver(receiver, proc)
        await direct_loop(receiver, min(500, args.count), args.concurrency, "warm-up")
        client_cpu, receiver_cpu = cpu_s(), cpu_s(proc.pid)
        direct = await direct_loop(receiver, args.count, args.concurrency)
        client_cpu, receiver_cpu = cpu_s() - client_cpu, cpu_s(proc.pid) - receiver_cpu
        print(
            f"direct httpx loop: {direct:8.1f} deliveries/s ({args.count} POSTs, "
            f"{args.concurrency} at a time)",
            flush=True,
        )
        async with httpx.AsyncClient(trust_env=False) as client:
            # Warm-up and direct ids are all distinct: the receiver saw each once.
            seen = await stats(client, receiver)
        assert seen["duplicates"] == 0 and seen["rejected"] == 0, seen
        result = await ours(args, db_url, receiver, env, work)
    finally:
        stop(proc)
    result["direct_per_s"] = direct
    result["direct_cpu_ms"] = client_cpu / args.count * 1000
    result["receiver_cpu_ms"] = receiver_cpu / args.count * 1000
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument("--backlog", type=int, default=5_000)
    parser.add_argument("--relay", choices=("process", "inline"), default="process")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--db-url", default=None, help="A Postgres to use (default: embedded).")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="oc-bench-notify-"))
    data_dir = work / "pgdata"
    try:
        from opscopilot.store import migrate

        if args.db_url:
            db_url = args.db_url
        else:
            from opscopilot.store.embedded import start_embedded

            db_url = start_embedded(data_dir)
        migrate.upgrade(db_url)
        r = asyncio.run(bench(args, db_url, work))
    finally:
        if not args.db_url:
            from opscopilot.store.embedded import stop_embedded

            stop_embedded(data_dir)
        shutil.rmtree(work, ignore_errors=True)

    ratio = r["deliveries_per_s"] / r["direct_per_s"]
    backlog_ratio = r["backlog_per_s"] / r["direct_per_s"]
    print(
        f"outbox, live     : {r['deliveries_per_s']:8.1f} deliveries/s, ratio {ratio:.2f} "
        f"(target >= {RATIO_TARGET}; {args.count} queued at {r['enqueue_per_s']:.1f}/s by "
        f"{args.producers} producers while the relay ({args.relay}) delivers)"
    )
    print(
        f"outbox, backlog  : {r['backlog_per_s']:8.1f} deliveries/s, ratio {backlog_ratio:.2f} "
        f"({args.backlog} queued first, then drained; {args.concurrency} in flight)"
    )
    print(
        f"enqueue->delivery: p50 {r['p50_s'] * 1000:.0f} ms, p95 {r['p95_s'] * 1000:.0f} ms, "
        f"max {r['max_s'] * 1000:.0f} ms (live; target p95 <= {P95_TARGET_S:.0f} s)"
    )
    print(
        f"lost {r['lost']}, doubled {r['doubled']}, bad signatures {r['rejected']}, "
        f"rows by status {r['statuses']}, attempts {r['attempts']}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"CPU per delivery : relay {r['relay_cpu_ms']:.2f} ms (backlog), bare httpx client "
        f"{r['direct_cpu_ms']:.2f} ms, receiver {r['receiver_cpu_ms']:.2f} ms (direct loop)"
    )
    figures = {
        "count": args.count,
        "backlog": args.backlog,
        "concurrency": args.concurrency,
        "producers": args.producers,
        "relay": args.relay,
        "direct_deliveries_per_s": round(r["direct_per_s"], 1),
        "outbox_deliveries_per_s": round(r["deliveries_per_s"], 1),
        "enqueue_per_s": round(r["enqueue_per_s"], 1),
        "ratio": round(ratio, 3),
        "backlog_deliveries_per_s": round(r["backlog_per_s"], 1),
        "backlog_ratio": round(backlog_ratio, 3),
        "p50_latency_s": round(r["p50_s"], 3),
        "p95_latency_s": round(r["p95_s"], 3),
        "max_latency_s": round(r["max_s"], 3),
        "relay_cpu_ms_per_delivery": round(r["relay_cpu_ms"], 3),
        "direct_client_cpu_ms_per_delivery": round(r["direct_cpu_ms"], 3),
        "receiver_cpu_ms_per_request": round(r["receiver_cpu_ms"], 3),
        "lost": r["lost"],
        "doubled": r["doubled"],
        "load_average": round(os.getloadavg()[0], 2),
        "ratio_met": ratio >= RATIO_TARGET,
        "p95_met": r["p95_s"] <= P95_TARGET_S,
        "none_lost_or_doubled_met": r["lost"] == 0 and r["doubled"] == 0,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
