"""Item search benchmark: 100,000 items, indexed search against an exact scan, same run.

    python -m bench.search.run [--items 100000] [--queries 400] [--clients 4]
        [--keep-db DIR] [--rebuild-index] [--phases knn,direct,http]
        [--sweep 100,200,300,400] [--ef-search N] [--http-sweep 100,200,400]

On one fresh embedded PostgreSQL (a temporary directory, shared_buffers raised to hold
the index, migrations applied; or `--database-url`), loads the generated catalogue
(tests/fixtures/catalog.py) through the writers' own path (`index_items`, whose first
load builds the HNSW index in bulk), then:

1. recall@10 of the HNSW index against the exact (sequential-scan) k-NN of the same query
   vectors, over an `ef_search` sweep; a returned neighbour counts when it is as close as
   the exact 10th (equal distances are common among near-twin items), and the strict
   same-ids figure is printed too;
2. `search_items` called directly: p50 / p95 with the index and with the exact scan, one
   client, and with 4 concurrent clients; recall@10 of the whole ranked answer; how often
   the labelled queries' right item is in the top 3, with the index and exact;
3. `GET /api/v1/items?q=` against `opscopilot serve` in its own process on 127.0.0.1 (as
   deployed: the API process holds none of the benchmark's data), one client and 4
   concurrent clients, with the CPU per request of the API process, of Postgres and of
   this client; with `--http-sweep`, the same at each breadth given (the server restarted
   with the setting), so that one run shows what each breadth costs and finds.

Queries: the labelled set of the quality test plus generated ones (a few words of a
random item's name, sometimes its supplier, sometimes a typo). The last line is one JSON
object with the figures and `recall_met` (>= 0.95) and `p95_met` (<= 15 ms, direct search,
one client), plus `p95_clients_met` and `p95_http_met` for the other two set-ups, and
`any_breadth_met`: whether a swept breadth meets both the recall and the HTTP p95 target.
`run(url=..., folder=...)` runs the same on an existing, migrated database.

Iterating: `--keep-db DIR` keeps the embedded server's data in DIR (not under a home or
the repo) and reuses it on the next run: a database that already holds the catalogue
skips the load (about 5 minutes of index build), so only the query phases run;
`--rebuild-index` rebuilds the HNSW index there (after changing its build parameters);
`--phases` picks the query phases; `--ef-search` sets the breadth of the headline figures
(default: the setting `ingest.search_ef_search`; the sweeps always include it). The
queries are made from the stored items, so a kept database gives the same queries every
run. Each phase also reports CPU per query: this process's, and the server's (backends of
the embedded server), which steer better than wall time on a shared machine. The figures
name the graph they were measured on (`hnsw`: the index's build parameters).
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

from bench.chat.run import cpu_s
from bench.search.support import (
    CpuMeter,
    api_server,
    ensure_catalog,
    index_params,
    rebuild_index,
    set_shared_buffers,
)

RECALL_TARGET = 0.95
P95_TARGET_MS = 15.0
SWEEP = (100, 200, 300, 400)
PHASES = ("knn", "direct", "http")
# The 100,000-item embeddings table and its HNSW index are about 320 MB; the server's
# default 128 MB of shared buffers makes every search page through the OS cache.
SHARED_BUFFERS = "768MB"


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


async def knn_recall(
    db: Any, queries: Sequence[str], sweep_efs: Sequence[int], meter: CpuMeter
) -> dict[str, Any]:
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
    async with db.transaction() as session:  # the exact scan read the heap, not the graph
        await set_search_depth(session, ef_search=max(sweep_efs))
        for vec in vectors[:30]:
            await session.execute(ann_sql, {query_param(FUZZY_EMBEDDING_MODEL): vec, "k": 10})
    sweep: dict[int, dict[str, float]] = {}
    for ef in sweep_efs:
        by_distance, by_id, ms = [], [], []
        start = meter.sample()
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
        } | meter.per_call(start, len(vectors))
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


async def direct(
    db: Any, queries: Sequence[str], clients: int, meter: CpuMeter, ef_search: int
) -> dict[str, Any]:
    from opscopilot.store.search import search_items

    async def search(q: str, exact: bool = False) -> list[Any]:
        async with db.session() as session:
            hits = await search_items(session, query=q, exact=exact, ef_search=ef_search)
            return [h.item.id for h in hits]

    await timed([partial(search, q) for q in queries[:30]], 1)  # warm caches
    start = meter.sample()
    one = await timed([partial(search, q) for q in queries], 1)
    one |= meter.per_call(start, len(queries))
    many = await timed([partial(search, q) for q in queries], clients)
    sample = queries[: min(len(queries), 150)]
    exact = await timed([partial(search, q, True) for q in sample], 1)
    overlap = []
    for q in sample:
        ann, ex = await search(q), await search(q, True)
        overlap.append(len(set(ann) & set(ex)) / max(1, len(ex)))
    top3 = {"labelled_top3": await labelled_top3(db, ef_search),
            "labelled_top3_exact": await labelled_top3(db, ef_search, exact=True)}  # fmt: skip
    return {"one": one, "clients": many, "exact": exact, "recall": statistics.mean(overlap)} | top3


async def labelled_top3(db: Any, ef_search: int, *, exact: bool = False) -> float:
    """How often the labelled queries' right item is in the top 3 (the quality test's
    measure, here over the benchmark's catalogue)."""
    from opscopilot.store.search import search_items
    from tests.fixtures.catalog_labels import QUERIES

    hits = []
    for q in QUERIES:
        async with db.session() as session:
            found = await search_items(session, query=q.text, exact=exact, ef_search=ef_search)
        hits.append(q.sku in [h.item.sku for h in found[:3]])
    return statistics.mean(hits)


async def over_http(
    db: Any, url: str, queries: Sequence[str], clients: int, meter: CpuMeter, ef_search: int
) -> dict[str, Any]:
    """`GET /api/v1/items?q=` against a real `opscopilot serve` process whose settings
    search at `ef_search`: one client, then `clients` concurrent ones. Besides latency:
    CPU per request of the API process, of Postgres and of this client, and how often the
    labelled queries' right item is in the answer's top 3 (judged after the timing)."""
    import aiohttp

    from opscopilot.access.service import create_key
    from tests.fixtures.catalog_labels import QUERIES

    async with db.transaction() as session:
        key = (await create_key(session, user="bench", role="viewer")).key
    wanted = {q.text: q.sku for q in QUERIES}
    answers: dict[str, bytes] = {}
    env = {
        "OPSCOPILOT_INGEST__SEARCH_EF_SEARCH": str(ef_search),
        "OPSCOPILOT_DB__POOL_SIZE": str(clients + 2),
    }
    log = Path(tempfile.gettempdir()) / "opscopilot-bench-search-serve.log"
    with api_server(url, env, log) as (server, port):
        # aiohttp, not httpx: the client shares the two cores and sits on every request's
        # path; httpx spends about 2.5 ms of CPU a request here, aiohttp 0.7 ms
        async with aiohttp.ClientSession(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {key}"},
            connector=aiohttp.TCPConnector(limit=clients),
            timeout=aiohttp.ClientTimeout(total=30),
        ) as client:

            async def get(q: str, keep: bool = False) -> None:
                async with client.get("/api/v1/items", params={"q": q, "limit": 10}) as r:
                    r.raise_for_status()
                    body = await r.read()
                if keep and q in wanted:
                    answers[q] = body

            await timed([partial(get, q) for q in queries[:30]], 1)  # warm caches
            start, api_start = meter.sample(), cpu_s(server.pid)
            one = await timed([partial(get, q, True) for q in queries], 1)
            one |= meter.per_call(start, len(queries))
            one["cpu_api_ms"] = (cpu_s(server.pid) - api_start) * 1000 / len(queries)
            many = await timed([partial(get, q) for q in queries], clients)
    top3 = [wanted[q] in [i["sku"] for i in json.loads(body)["items"][:3]]
            for q, body in answers.items()]  # fmt: skip
    one["labelled_top3"] = statistics.mean(top3) if top3 else float("nan")
    return {"one": one, "clients": many}


async def measure(
    url: str,
    *,
    items: int,
    queries: int,
    clients: int,
    phases: Sequence[str] = PHASES,
    sweep: Sequence[int] = SWEEP,
    rebuild: bool = False,
    data_dir: Path | None = None,
    ef_search: int | None = None,
    http_sweep: Sequence[int] = (),
) -> dict[str, Any]:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from opscopilot.core.settings import Settings
    from opscopilot.store.engine import Database, make_engine

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
    meter = CpuMeter(data_dir)
    result: dict[str, Any] = {}
    try:
        async with db.session() as session:
            shared_buffers = await session.scalar(text("SHOW shared_buffers"))
        catalog, load = await ensure_catalog(db, items)
        if load:
            print(f"loaded {len(catalog):,} items: "
                  + ", ".join(f"{k} {v:.0f}" for k, v in load.items()))  # fmt: skip
        elif rebuild:
            load = {"index_s": await rebuild_index(db)}
            print(f"rebuilt the HNSW index of {len(catalog):,} items in {load['index_s']:.0f} s")
        else:
            print(f"reusing the {len(catalog):,} items of the kept database")
        qs = make_queries(catalog, queries)
        configured = settings.ingest.search_ef_search
        ef = ef_search or configured
        http_efs = sorted({*http_sweep, ef})
        result |= {
            "items": len(catalog),
            "queries": len(qs),
            "clients": clients,
            "ef_search": ef,
            "configured_ef_search": configured,
            "hnsw": await index_params(db),
            "shared_buffers": shared_buffers,
        }
        if "index_s" in load:
            result["index_build_s"] = round(load["index_s"], 1)
        if "knn" in phases:
            # the figures at the breadths searches use, always
            efs = sorted({*sweep, ef, *(http_efs if "http" in phases else ())})
            result |= _knn_figures(await knn_recall(db, qs, efs, meter), ef)
        if "direct" in phases:
            result |= _direct_figures(await direct(db, qs, clients, meter, ef), clients)
        if "http" in phases:
            sweep_http = {e: await over_http(db, url, qs, clients, meter, e) for e in http_efs}
            result |= _http_figures(sweep_http, ef, clients, result.get("knn_sweep", {}))
    finally:
        await engine.dispose()
    result["load_avg_1m"] = round(os.getloadavg()[0], 2)
    return result


def _figures(prefix: str, row: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}_{k}": round(v, 2) for k, v in row.items()}


def _knn_figures(knn: dict[str, Any], ef_search: int) -> dict[str, Any]:
    for ef, row in knn["sweep"].items():
        show(f"k-NN, ef_search {ef}", row)
    print(f"k-NN, exact scan: p50 {knn['exact_p50_ms']:.1f} ms, p95 {knn['exact_p95_ms']:.1f} ms")
    chosen = knn["sweep"][ef_search]
    recall = round(chosen["recall"], 4)
    return {
        "knn_recall_at_10": recall,
        "knn_recall_at_10_same_ids": round(chosen["recall_ids"], 4),
        "knn_p95_ms": round(chosen["p95_ms"], 2),
        "knn_exact_p95_ms": round(knn["exact_p95_ms"], 2),
        "knn_sweep": {
            str(ef): {k: round(v, 4) for k, v in row.items()} for ef, row in knn["sweep"].items()
        },  # fmt: skip
        "recall_met": recall >= RECALL_TARGET,
    }


def _http_figures(
    sweep: dict[int, dict[str, Any]], ef: int, clients: int, knn: dict[str, dict[str, float]]
) -> dict[str, Any]:
    """The HTTP figures at the chosen breadth, and every swept breadth's, with whether any
    of them meets both targets (recall from the k-NN sweep, when it ran)."""
    for e, http in sweep.items():
        show(f"GET /api/v1/items?q= (ef_search {e}), 1 client", http["one"])
        show(f"GET /api/v1/items?q= (ef_search {e}), {clients} clients", http["clients"])
    chosen = sweep[ef]
    out = _figures("http", chosen["one"]) | _figures("http_clients", chosen["clients"])
    out["p95_http_met"] = out["http_p95_ms"] <= P95_TARGET_MS
    out["http_sweep"] = {
        str(e): {k: round(v, 3) for k, v in http["one"].items()} for e, http in sweep.items()
    }
    both = [e for e, http in sweep.items()
            if http["one"]["p95_ms"] <= P95_TARGET_MS
            and knn.get(str(e), {}).get("recall", 0.0) >= RECALL_TARGET]  # fmt: skip
    out["breadths_meeting_both"] = both
    out["any_breadth_met"] = bool(both)
    return out


def _direct_figures(d: dict[str, Any], clients: int) -> dict[str, Any]:
    show("search_items, 1 client", d["one"])
    show(f"search_items, {clients} clients", d["clients"])
    show("search_items, exact scan", d["exact"])
    print(f"search_items answers, recall@10 of index against exact: {d['recall']:.3f}")
    print(f"labelled queries, right item in the top 3: {d['labelled_top3']:.3f} "
          f"(exact scan {d['labelled_top3_exact']:.3f})")  # fmt: skip
    out: dict[str, Any] = {"search_recall_at_10": round(d["recall"], 4)}
    out |= {k: round(d[k], 4) for k in ("labelled_top3", "labelled_top3_exact")}
    out |= _figures("search", d["one"]) | _figures("search_exact", d["exact"])
    out |= _figures("search_clients", d["clients"])
    out["exact_over_index_p50"] = round(d["exact"]["p50_ms"] / d["one"]["p50_ms"], 1)
    out["p95_met"] = out["search_p95_ms"] <= P95_TARGET_MS
    out["p95_clients_met"] = out["search_clients_p95_ms"] <= P95_TARGET_MS
    return out


def run(
    *,
    url: str,
    folder: Path,
    items: int = 100_000,
    queries: int = 400,
    data_dir: Path | None = None,
) -> dict[str, Any]:
    """The search figures on an existing, migrated database (bench/ingest calls this);
    `data_dir`: the embedded server's, for its CPU figures."""
    del folder  # nothing is written outside the database
    return asyncio.run(measure(url, items=items, queries=queries, clients=4, data_dir=data_dir))


def _ints(value: str) -> tuple[int, ...]:
    return tuple(int(v) for v in value.split(",") if v.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument(
        "--database-url", help="A migrated database, empty or holding the catalogue."
    )
    parser.add_argument(
        "--keep-db",
        type=Path,
        metavar="DIR",
        help="Keep the embedded server's data in DIR and reuse it next time (not under a home).",
    )
    parser.add_argument("--rebuild-index", action="store_true",
                        help="On a reused database: rebuild the HNSW index first.")  # fmt: skip
    parser.add_argument("--phases", default=",".join(PHASES),
                        help=f"Comma-separated, of {', '.join(PHASES)}.")  # fmt: skip
    parser.add_argument("--sweep", type=_ints, default=SWEEP, help="ef_search values for k-NN.")
    parser.add_argument(
        "--ef-search",
        type=int,
        help="HNSW breadth of the headline figures, k-NN, direct and HTTP (default: the "
        "setting ingest.search_ef_search).",
    )
    parser.add_argument(
        "--http-sweep", type=_ints, default=(), help="Also time HTTP at these, e.g. 100,200,400."
    )
    parser.add_argument(
        "--shared-buffers",
        default=SHARED_BUFFERS,
        help="For the embedded server: pgvector wants the index in memory ('' keeps 128MB).",
    )
    args = parser.parse_args()
    phases = [p for p in args.phases.split(",") if p]
    if unknown := set(phases) - set(PHASES):
        parser.error(f"unknown phases: {', '.join(sorted(unknown))}")
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests.fixtures

    from opscopilot.store import migrate

    options: dict[str, Any] = {"items": args.items, "queries": args.queries,
                               "clients": args.clients, "phases": phases, "sweep": args.sweep,
                               "rebuild": args.rebuild_index,
                               "ef_search": args.ef_search,
                               "http_sweep": args.http_sweep}  # fmt: skip
    if args.database_url:
        result = asyncio.run(measure(args.database_url, **options))
    else:
        from opscopilot.store.embedded import start_embedded, stop_embedded

        folder = args.keep_db or Path(tempfile.mkdtemp(prefix="oc-bench-search-"))
        data_dir = (folder / "pgdata").resolve()
        try:
            url = start_embedded(data_dir)
            if args.shared_buffers:
                url = set_shared_buffers(data_dir, url, args.shared_buffers)
            migrate.upgrade(url)
            result = asyncio.run(measure(url, data_dir=data_dir, **options))
        finally:
            stop_embedded(data_dir)
            if args.keep_db is None:
                shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
