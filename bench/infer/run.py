"""Inference benchmark: the anomaly detector through `POST /api/v1/infer` against calling
the model directly, in the same run.

    python -m bench.infer.run [--data ../shared/data] [--items 1000] [--batch 100] [--passes 2]

Series: the first `--items` monthly spare-part series of carparts (51 months, missing
months as nulls), read in place from the shared data folder. One embedded PostgreSQL in a
temporary directory; a real `opscopilot serve` subprocess on a free loopback port; a
keep-alive httpx client in this process, sending pre-encoded bodies. Measured with one
request in flight, direct and API calls alternating (so load from elsewhere on the machine
slows both alike), `--passes` rounds over the items:

1. direct, one item per call: `AnomalyDetector().predict` in this process (the limit);
2. direct, `--batch` items per call;
3. the API, one item per request: every request authenticated, validated, run inline and
   recorded in `inference_jobs`;
4. the API, `--batch` items per request.

Prints items/s, p50 / p95 latency and the ratios. Targets: batch requests through the API
reach >= 0.5 of direct batch throughput; the API adds <= 20 ms to the single-item p95
(API p95 - direct p95). The last line is one JSON object with the figures and a
`<target>_met` flag per target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson

BATCH_RATIO_TARGET = 0.5
ADDED_P95_TARGET_MS = 20.0
REPO = Path(__file__).resolve().parents[2]


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def load_series(root: Path, count: int) -> list[dict[str, Any]]:
    """Anomaly-detector inputs for the first `count` carparts series."""
    path = root / "carparts" / "carparts.csv"
    if not path.exists():
        sys.exit(
            f"data file {path} not found: the benchmark reads carparts/carparts.csv from the "
            "shared data folder (see shared/data/carparts/SOURCE.md); pass --data PATH"
        )
    lines = path.read_text().splitlines()
    months = [m[:7] for m in lines[0].split(",")[1:]]
    out = []
    for line in lines[1 : count + 1]:
        part, *cells = line.split(",")
        series = [
            {"period": m, "value": float(c) if c else None}
            for m, c in zip(months, cells, strict=True)
        ]
        out.append({"item": part, "series": series, "season_length": 12})
    if len(out) < count:
        sys.exit(f"{path} holds only {len(out)} series; asked for {count}")
    return out


def batches(items: list[dict[str, Any]], size: int) -> list[dict[str, Any]]:
    return [{"items": items[i : i + size], "season_length": 12} for i in range(0, len(items), size)]


JSON = {"Content-Type": "application/json"}


def request_body(input: dict[str, Any]) -> bytes:
    return orjson.dumps({"model": "anomaly-detector", "input": input})


def timed(calls: Sequence[Callable[[], Any]]) -> list[float]:
    latencies = []
    for call in calls:
        start = time.perf_counter()
        call()
        latencies.append((time.perf_counter() - start) * 1000)
    return latencies


def paired(
    first: Sequence[Callable[[], Any]], second: Sequence[Callable[[], Any]]
) -> tuple[list[float], list[float]]:
    """Latencies of two call lists, run alternately: a[0], b[0], a[1], b[1], ..."""
    a: list[float] = []
    b: list[float] = []
    for call_a, call_b in zip(first, second, strict=True):
        a.extend(timed([call_a]))
        b.extend(timed([call_b]))
    return a, b


def summary(latencies_ms: list[float], items: int) -> dict[str, float]:
    total_s = sum(latencies_ms) / 1000
    return {
        "requests": len(latencies_ms),
        "items_per_s": round(items / total_s, 1),
        "requests_per_s": round(len(latencies_ms) / total_s, 1),
        "p50_ms": round(statistics.median(latencies_ms), 3),
        "p95_ms": round(percentile(latencies_ms, 95), 3),
    }


async def make_key(url: str) -> str:
    from opscopilot.access.service import create_key
    from opscopilot.core.settings import Settings
    from opscopilot.store.engine import Database, make_engine

    settings = Settings(_env_file=None, db={"url": url}, environment="test")  # type: ignore[call-arg, arg-type]
    from sqlalchemy.ext.asyncio import async_sessionmaker

    engine = make_engine(url, settings, application_name="bench")
    db = Database(url=url, engine=engine, sessions=async_sessionmaker(engine))
    async with db.sessions() as session:
        created = await create_key(session, user="bench", role="viewer")
        await session.commit()
    await engine.dispose()
    return created.key


def wait_ready(client: httpx.Client, proc: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"opscopilot serve exited with {proc.returncode}")
        try:
            if client.get("/api/v1/health").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    sys.exit("opscopilot serve did not become healthy")


def run(args: argparse.Namespace) -> dict[str, Any]:
    from opscopilot.inference.builtin.anomaly import AnomalyDetector
    from opscopilot.inference.builtin.forest import reference_scorer
    from opscopilot.store import migrate
    from opscopilot.store.embedded import start_embedded, stop_embedded
    from tests.e2e.procs import base_env, free_port, opscopilot, stop

    items = load_series(Path(args.data), args.items)
    groups = batches(items, args.batch)
    model = AnomalyDetector()
    reference_scorer()  # built once per process, in the server too: not part of a call
    for item in items[:20]:
        model.predict(item)

    tmp = Path(tempfile.mkdtemp(prefix="oc-bench-infer-"))
    data_dir = tmp / "pgdata"
    try:
        url = start_embedded(data_dir)
        migrate.upgrade(url)
        key = asyncio.run(make_key(url))
        port = free_port()
        env = base_env(DATABASE_URL=url, OPSCOPILOT_LOG_LEVEL="WARNING")
        proc = opscopilot("serve", "--port", str(port), env=env, log=tmp / "serve.log")
        headers = {"Authorization": f"Bearer {key}"}
        # TCP_NODELAY: without it the client's body write waits out the server's delayed
        # ACK (~40 ms a request), a client-side artefact that no tuned client pays.
        transport = httpx.HTTPTransport(
            socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
        )
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, headers=headers, timeout=120, transport=transport) as c:
            wait_ready(c, proc)

            def infer(body: bytes) -> None:
                r = c.post("/api/v1/infer", content=body, headers=JSON)
                if r.status_code != 200:
                    raise RuntimeError(f"infer answered {r.status_code}: {r.text[:300]}")

            # Bodies are encoded before timing: the client's JSON speed is not the API's.
            singles = [request_body(i) for i in items]
            batched = [request_body(g) for g in groups]
            for body in singles[:50]:  # warm: the server's forest, pools, code paths
                infer(body)
            # Direct and API calls alternate, so a busy machine slows both alike.
            direct_single, api_single = paired(
                [lambda i=i: model.predict(i) for i in items] * args.passes,
                [lambda b=b: infer(b) for b in singles] * args.passes,
            )
            direct_batch, api_batch = paired(
                [lambda g=g: model.predict(g) for g in groups] * args.passes,
                [lambda b=b: infer(b) for b in batched] * args.passes,
            )
        stop(proc)
    finally:
        stop_embedded(data_dir)
        shutil.rmtree(tmp, ignore_errors=True)

    figures: dict[str, Any] = {
        "items": len(items),
        "batch_size": args.batch,
        "passes": args.passes,
        "direct_single": summary(direct_single, len(items) * args.passes),
        "direct_batch": summary(direct_batch, len(items) * args.passes),
        "api_single": summary(api_single, len(items) * args.passes),
        "api_batch": summary(api_batch, len(items) * args.passes),
    }
    batch_ratio = figures["api_batch"]["items_per_s"] / figures["direct_batch"]["items_per_s"]
    single_ratio = figures["api_single"]["items_per_s"] / figures["direct_single"]["items_per_s"]
    added_p95 = figures["api_single"]["p95_ms"] - figures["direct_single"]["p95_ms"]
    figures.update(
        batch_throughput_ratio=round(batch_ratio, 3),
        single_throughput_ratio=round(single_ratio, 3),
        single_p95_added_ms=round(added_p95, 3),
        batch_throughput_ratio_met=batch_ratio >= BATCH_RATIO_TARGET,
        single_p95_added_ms_met=added_p95 <= ADDED_P95_TARGET_MS,
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--passes", type=int, default=2, help="Rounds over the items.")
    args = parser.parse_args()
    os.chdir(REPO)
    figures = run(args)
    for name in ("direct_single", "direct_batch", "api_single", "api_batch"):
        f = figures[name]
        print(
            f"{name:14s} {f['items_per_s']:>9.1f} items/s  {f['requests_per_s']:>8.1f} req/s  "
            f"p50 {f['p50_ms']:>8.2f} ms  p95 {f['p95_ms']:>8.2f} ms"
        )
    print(
        f"batch: API / direct throughput = {figures['batch_throughput_ratio']:.3f} "
        f"(target >= {BATCH_RATIO_TARGET})"
    )
    print(
        f"single item: API / direct throughput = {figures['single_throughput_ratio']:.3f}; "
        f"p95 added by the API = {figures['single_p95_added_ms']:.2f} ms "
        f"(target <= {ADDED_P95_TARGET_MS:g} ms)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
