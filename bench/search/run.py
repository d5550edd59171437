"""Item search benchmark: 100,000 items, indexed search against an exact scan, same run.

    python -m bench.search.run [--items 100000] [--queries 400] [--clients 4]

On one fresh embedded PostgreSQL (a temporary directory, shared_buffers raised to hold
the index, migrations applied; or `--database-url`), loads the generated catalogue
(tests/fixtures/catalog.py) through the writers' own path (`index_items`, whose first
load builds the HNSW index in bulk), then:

1. recall@10 of the HNSW index against the exact (sequential-scan) k-NN of the same query
   vectors, over an `ef_search` sweep; a returned neighbour counts when it is as close as
   the exact 10th (equal distances are common among near-twin items), and the strict
   same-ids figure is printed too;
2. `search_items` called directly: p50 / p95 with the index and with the exact scan, one
   client, and with 4 concurrent clients; recall@10 of the whole ranked answer;
3. `GET /api/v1/items?q=` through HTTP (uvicorn on 127.0.0.1) when the route exists, one
   client and 4 concurrent clients.

Queries: the labelled set of the quality test plus generated ones (a few words of a
random item's name, sometimes its supplier, sometimes a typo). The last line is one JSON
object with the figures and `recall_met` (>= 0.95) and `p95_met` (<= 15 ms, direct search,
one client), plus `p95_clients_met` and `p95_http_met` for the other two set-ups.
`run(url=..., folder=...)` runs the same on an existing, migrated database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

RECALL_TARGET = 0.95
P95_TARGET_MS = 15.0
SWEEP = (100, 200, 300, 400)
# The 100,000-item embeddings table and its HNSW index are about 320 MB; the server's
# default 128 MB of shared buffers makes every search page through the OS cache.
SHARED_BUFFERS = "768MB"


def set_shared_buffers(data_dir: Path, url: str, size: str) -> str:
    """ALTER SYSTEM on the benchmark's own embedded server, then restart it."""
    from sqlalchemy import create_engine, pool, text

    from opscopilot.store.embedded import start_embedded, stop_embedded
    from opscopilot.store.urls import psycopg_sqlalchemy_url

    engine = create_engine(
        psycopg_sqlalchemy_url(url), poolclass=pool.NullPool, isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as conn:
        conn.execute(text(f"ALTER SYSTEM SET shared_buffers = '{size}'"))
    engine.dispose()
    stop_embedded(data_dir)
    return start_embedded(data_dir)


def show(label: str, row: dict[str, float]) -> None:
    parts = [f"{k.removesuffix('_ms')} {v:.2f}{' ms' if k.endswith('_ms') else ''}"
             for k, v in row.items()]  # fmt: skip
    print(f"{label}: " + ", ".join(parts), flush=True)


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def make_queries(catalog: Sequence[Any], count: int, seed: int = 11) -> list[str]:
    """The labelled queries, then ones made the way people shorten an item's name: a few
    of its telling words in order (sizes, codes, nouns; not units or filler), sometimes
    the supplier, sometimes a slip of the finger."""
    from tests.fixtures.catalog_labels import QUERIES

    rng = random.Random(seed)
    out = [q.text for q in QUERIES]
    filler = {"x", "mm", "and", "with", "for", "the", "of", "in", "a"}
    while len(out) < count:
        item = catalog[rng.randrange(len(catalog))]
        words = [
            w for w in item.name.replace(",", " ").split()
            if w.lower() not in filler and (len(w) >= 3 or any(c.isdigit() for c in w))
        ]  # fmt: skip
        keep = sorted(rng.sample(range(len(words)), min(len(words), rng.randint(2, 4))))
        picked = [words[i] for i in keep]
        if rng.random() < 0.4:
            picked.append(item.supplier_name.split()[0])
        if rng.random() < 0.2:
            i = rng.randrange(len(picked))
            w = picked[i]
            if len(w) > 4 and w.isalpha():
                j = rng.randrange(1, len(w) - 2)
                picked[i] = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
        out.append(" ".join(picked).lower())
    return out


async def load_catalog(db: Any, items: int) -> tuple[list[Any], dict[str, float]]:
    from sqlalchemy import insert, select

    from opscopilot.store.models import ManufacturingItem
    from opscopilot.store.search import index_items
    from tests.fixtures.catalog import generate_catalog

    t0 = time.perf_counter()
    catalog = generate_catalog(items)
    t1 = time.perf_counter()
    async with db.transaction() as session:
        records = [c.record() for c in catalog]
        for start in range(0, len(records), 5000):
            await session.execute(insert(ManufacturingItem), records[start : start + 5000])
    t2 = time.perf_counter()
    async with db.transaction() as session:
        rows = list(await session.scalars(select(ManufacturingItem)))
        written = await index_items(session, items=rows)
    t3 = time.perf_counter()
    assert written == len(catalog), (written, len(catalog))
    return catalog, {"generate_s": t1 - t0, "insert_s": t2 - t1, "index_s": t3 - t2}


async def knn_recall(db: Any, queries: Sequence[str]) -> dict[str, Any]:
    from sqlalchemy import text

    from opscopilot.store.embedders import get_embedder
    from opscopilot.store.models.search import FUZZY_EMBEDDING_MODEL
    from opscopilot.store.vectors import knn_sql, query_param, set_search_depth

    embedder = get_embedder(FUZZY_EMBEDDING_MODEL)
    vectors = await embedder.embed(list(queries))
    dim = len(vectors[0])
    ann_sql = text(knn_sql(model=FUZZY_EMBEDDING_MODEL, dim=dim, entity_type="item"))
    exact_sql = text(knn_sql(model=FUZZY_EMBEDDING_MODEL, dim=dim, entity_type="item", exact=True))
    truth = []
    exact_ms = []
    async with db.session() as session:
        for vec in vectors:
            t = time.perf_counter()
            rows = (await session.execute(exact_sql, {query_param(FUZZY_EMBEDDING_MODEL): vec,
                                                      "k": 10})).all()  # fmt: skip
            exact_ms.append((time.perf_counter() - t) * 1000)
            truth.append(({r.id for r in rows}, rows[-1].d + 1e-6))
    sweep: dict[int, dict[str, float]] = {}
    for ef in SWEEP:
        by_distance, by_id, ms = [], [], []
        async with db.transaction() as session:
            await set_search_depth(session, ef_search=ef)
            for vec, (ids, kth) in zip(vectors, truth, strict=True):
                t = time.perf_counter()
                rows = (await session.execute(ann_sql, {query_param(FUZZY_EMBEDDING_MODEL): vec,
                                                        "k": 10})).all()  # fmt: skip
                ms.append((time.perf_counter() - t) * 1000)
                by_distance.append(sum(r.d <= kth for r in rows) / 10)
                by_id.append(len(ids & {r.id for r in rows}) / 10)
        sweep[ef] = {
            "recall": statistics.mean(by_distance),
            "recall_ids": statistics.mean(by_id),
            "p50_ms": pct(ms, 0.5),
            "p95_ms": pct(ms, 0.95),
        }
    return {"sweep": sweep, "exact_p50_ms": pct(exact_ms, 0.5), "exact_p95_ms": pct(exact_ms, 0.95)}


async def timed(calls: Sequence[Callable[[], Awaitable[Any]]], clients: int) -> dict[str, float]:
    """Run the calls on `clients` concurrent workers; per-call latency and throughput."""
    latencies: list[float] = []
    queue = list(calls)

    async def worker() -> None:
        while queue:
            call = queue.pop()
            t = time.perf_counter()
            await call()
            latencies.append((time.perf_counter() - t) * 1000)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    wall = time.perf_counter() - t0
    return {"p50_ms": pct(latencies, 0.5), "p95_ms": pct(latencies, 0.95),
            "qps": len(latencies) / wall}  # fmt: skip


async def direct(db: Any, queries: Sequence[str], clients: int) -> dict[str, Any]:
    from opscopilot.store.search import search_items

    async def search(q: str, exact: bool = False) -> list[Any]:
        async with db.session() as session:
            return [h.item.id for h in await search_items(session, query=q, exact=exact)]

    await timed([partial(search, q) for q in queries[:30]], 1)  # warm caches
    one = await timed([partial(search, q) for q in queries], 1)
    many = await timed([partial(search, q) for q in queries], clients)
    sample = queries[: min(len(queries), 150)]
    exact = await timed([partial(search, q, True) for q in sample], 1)
    overlap = []
    for q in sample:
        ann, ex = await search(q), await search(q, True)
        overlap.append(len(set(ann) & set(ex)) / max(1, len(ex)))
    return {"one": one, "clients": many, "exact": exact, "recall": statistics.mean(overlap)}


async def over_http(
    db: Any, settings: Any, queries: Sequence[str], clients: int
) -> dict[str, Any] | None:
    import httpx
    import uvicorn

    from opscopilot.access.service import create_key
    from opscopilot.api.app import create_app

    app = create_app(settings, database=db)
    # the OpenAPI paths, not app.routes: included routers may be wrapped, not flattened
    if "/api/v1/items" not in app.openapi().get("paths", {}):
        return None
    async with db.transaction() as session:
        key = (await create_key(session, user="bench", role="viewer")).key
    from tests.peers._http import free_port

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    try:
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {key}"},
            limits=limits,
            timeout=30,
        ) as client:

            async def get(q: str) -> None:
                r = await client.get("/api/v1/items", params={"q": q, "limit": 10})
                r.raise_for_status()

            await timed([partial(get, q) for q in queries[:30]], 1)
            return {
                "one": await timed([partial(get, q) for q in queries], 1),
                "clients": await timed([partial(get, q) for q in queries], clients),
            }
    finally:
        server.should_exit = True
        await task


async def measure(url: str, *, items: int, queries: int, clients: int) -> dict[str, Any]:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from opscopilot.core.settings import Settings
    from opscopilot.store.engine import Database, make_engine
    from opscopilot.store.search import EF_SEARCH

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment="test",
        log_json=False,
        log_level="WARNING",
        db={
            "url": url,
            "pool_size": clients + 2,
            "max_overflow": 2,
            "auto_upgrade": False,
            "statement_timeout_ms": 3_600_000,
        },  # fmt: skip
        jobs={"in_process_worker": False},
    )
    engine = make_engine(url, settings, application_name="bench-search")
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    db = Database(url=url, engine=engine, sessions=sessions)
    try:
        async with db.session() as session:
            shared_buffers = await session.scalar(text("SHOW shared_buffers"))
        catalog, load = await load_catalog(db, items)
        print(
            f"loaded {len(catalog):,} items: " + ", ".join(f"{k} {v:.0f}" for k, v in load.items())
        )
        qs = make_queries(catalog, queries)
        knn = await knn_recall(db, qs)
        for ef, row in knn["sweep"].items():
            show(f"k-NN, ef_search {ef}", row)
        print(
            f"k-NN, exact scan: p50 {knn['exact_p50_ms']:.1f} ms, p95 {knn['exact_p95_ms']:.1f} ms"
        )
        d = await direct(db, qs, clients)
        show("search_items, 1 client", d["one"])
        show(f"search_items, {clients} clients", d["clients"])
        show("search_items, exact scan", d["exact"])
        print(f"search_items answers, recall@10 of index against exact: {d['recall']:.3f}")
        http = await over_http(db, settings, qs, clients)
        if http:
            show("GET /api/v1/items?q=, 1 client", http["one"])
            show(f"GET /api/v1/items?q=, {clients} clients", http["clients"])
        else:
            print("HTTP: no GET /api/v1/items route mounted; skipped")
    finally:
        await engine.dispose()
    chosen = knn["sweep"].get(EF_SEARCH) or knn["sweep"][max(knn["sweep"])]
    result: dict[str, Any] = {
        "items": len(catalog),
        "queries": len(qs),
        "clients": clients,
        "ef_search": EF_SEARCH,
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "shared_buffers": shared_buffers,
        "index_build_s": round(load["index_s"], 1),
        "knn_recall_at_10": round(chosen["recall"], 4),
        "knn_recall_at_10_same_ids": round(chosen["recall_ids"], 4),
        "knn_p95_ms": round(chosen["p95_ms"], 2),
        "knn_exact_p95_ms": round(knn["exact_p95_ms"], 2),
        "knn_sweep": {
            str(ef): {k: round(v, 4) for k, v in row.items()} for ef, row in knn["sweep"].items()
        },  # fmt: skip
        "search_recall_at_10": round(d["recall"], 4),
        "search_p50_ms": round(d["one"]["p50_ms"], 2),
        "search_p95_ms": round(d["one"]["p95_ms"], 2),
        "search_exact_p50_ms": round(d["exact"]["p50_ms"], 2),
        "search_exact_p95_ms": round(d["exact"]["p95_ms"], 2),
        "exact_over_index_p50": round(d["exact"]["p50_ms"] / d["one"]["p50_ms"], 1),
        "search_clients_p50_ms": round(d["clients"]["p50_ms"], 2),
        "search_clients_p95_ms": round(d["clients"]["p95_ms"], 2),
        "search_clients_qps": round(d["clients"]["qps"], 1),
    }
    if http:
        result |= {
            "http_p50_ms": round(http["one"]["p50_ms"], 2),
            "http_p95_ms": round(http["one"]["p95_ms"], 2),
            "http_clients_p50_ms": round(http["clients"]["p50_ms"], 2),
            "http_clients_p95_ms": round(http["clients"]["p95_ms"], 2),
        }
    result["recall_met"] = result["knn_recall_at_10"] >= RECALL_TARGET
    result["p95_met"] = result["search_p95_ms"] <= P95_TARGET_MS
    result["p95_clients_met"] = result["search_clients_p95_ms"] <= P95_TARGET_MS
    if http:
        result["p95_http_met"] = result["http_p95_ms"] <= P95_TARGET_MS
    return result


def run(*, url: str, folder: Path, items: int = 100_000, queries: int = 400) -> dict[str, Any]:
    """The search figures on an existing, migrated database (bench/ingest calls this)."""
    del folder  # nothing is written outside the database
    return asyncio.run(measure(url, items=items, queries=queries, clients=4))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--database-url", help="A migrated, empty database (default: embedded).")
    parser.add_argument(
        "--shared-buffers",
        default=SHARED_BUFFERS,
        help="For the embedded server: pgvector wants the index in memory ('' keeps 128MB).",
    )
    args = parser.parse_args()
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests.fixtures

    from opscopilot.store import migrate

    if args.database_url:
        result = asyncio.run(measure(args.database_url, items=args.items, queries=args.queries,
                                     clients=args.clients))  # fmt: skip
    else:
        from opscopilot.store.embedded import start_embedded, stop_embedded

        folder = Path(tempfile.mkdtemp(prefix="oc-bench-search-"))
        try:
            url = start_embedded(folder / "pgdata")
            if args.shared_buffers:
                url = set_shared_buffers(folder / "pgdata", url, args.shared_buffers)
            migrate.upgrade(url)
            result = asyncio.run(measure(url, items=args.items, queries=args.queries,
                                         clients=args.clients))  # fmt: skip
        finally:
            stop_embedded(folder / "pgdata")
            shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
