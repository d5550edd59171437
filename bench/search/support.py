"""The benchmark's database: its own embedded server's buffers, the catalogue loaded once
(or found in a kept database), the index rebuilt on demand, and CPU meters."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _on_server(url: str, *statements: str) -> None:
    """Run statements that cannot run in a transaction (ALTER SYSTEM, CREATE DATABASE)."""
    from sqlalchemy import create_engine, pool, text

    from opscopilot.store.urls import psycopg_sqlalchemy_url

    engine = create_engine(
        psycopg_sqlalchemy_url(url), poolclass=pool.NullPool, isolation_level="AUTOCOMMIT"
    )
    try:
        with engine.connect() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()


def set_shared_buffers(data_dir: Path, url: str, size: str) -> str:
    """ALTER SYSTEM on the benchmark's own embedded server, then restart it."""
    from opscopilot.store.embedded import start_embedded, stop_embedded

    _on_server(url, f"ALTER SYSTEM SET shared_buffers = '{size}'")
    stop_embedded(data_dir)
    return start_embedded(data_dir)


@contextmanager
def own_database(url: str, name: str) -> Iterator[str]:
    """A new, empty database `name` on the server of `url` (one left over from an
    interrupted run is dropped first), migrated; its URL; dropped afterwards."""
    from sqlalchemy.engine import make_url

    from opscopilot.store import migrate

    _on_server(url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}")
    try:
        own = make_url(url).set(database=name).render_as_string(hide_password=False)
        migrate.upgrade(own)
        yield own
    finally:
        _on_server(url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def ensure_catalog(db: Any, items: int) -> tuple[list[Any], dict[str, float]]:
    """The catalogue in the database, loaded unless a kept database already holds it;
    returns the stored items' (name, supplier) in sku order, which the queries are made of."""
    from sqlalchemy import func, insert, select, text

    from opscopilot.store.models import Embedding, ManufacturingItem
    from opscopilot.store.models.search import FUZZY_EMBEDDING_MODEL
    from opscopilot.store.search import index_items

    load: dict[str, float] = {}
    async with db.session() as session:
        held = await session.scalar(
            select(func.count()).select_from(Embedding).where(
                Embedding.model == FUZZY_EMBEDDING_MODEL, Embedding.entity_type == "item"
            )
        )  # fmt: skip
    if not held:
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
        # As a plant's database is between loads: vacuumed and analysed. Otherwise
        # autovacuum's first pass over the new rows shares the two cores with the timings
        # that follow (bench/ingest's HTTP p95 was 15.8 ms at load 2.4 right after a load).
        async with db.reads() as session:  # autocommit: VACUUM runs outside a transaction
            await session.execute(text("VACUUM ANALYZE manufacturing_items, embeddings"))
        t4 = time.perf_counter()
        load = {"generate_s": t1 - t0, "insert_s": t2 - t1, "index_s": t3 - t2,
                "vacuum_s": t4 - t3}  # fmt: skip
    elif held != items:
        print(f"the kept database holds {held:,} items, not {items:,}: using those")
    async with db.session() as session:
        stored = (
            await session.execute(
                select(ManufacturingItem.name, ManufacturingItem.supplier_name).order_by(
                    ManufacturingItem.sku
                )
            )
        ).all()
    return list(stored), load


async def rebuild_index(db: Any) -> float:
    """Rebuild the fuzzy model's HNSW index with the current build parameters."""
    from sqlalchemy import text

    from opscopilot.store.models.search import FUZZY_EMBEDDING_MODEL, hnsw_index_name
    from opscopilot.store.vectors import ensure_index, forget_index

    t = time.perf_counter()
    async with db.transaction() as session:
        name = hnsw_index_name(FUZZY_EMBEDDING_MODEL)
        await session.execute(text(f"DROP INDEX IF EXISTS {name}"))
        forget_index(FUZZY_EMBEDDING_MODEL)
        dim = await session.scalar(
            text("SELECT vector_dims(embedding) FROM embeddings WHERE model = :m LIMIT 1"),
            {"m": FUZZY_EMBEDDING_MODEL},
        )
        await ensure_index(session, model=FUZZY_EMBEDDING_MODEL, dim=int(dim))
        await session.execute(text("ANALYZE embeddings"))
    return time.perf_counter() - t


async def index_params(db: Any) -> dict[str, str]:
    """The fuzzy model's HNSW build parameters as the index holds them (its reloptions),
    so that every figure names the graph it was measured on."""
    from sqlalchemy import text

    from opscopilot.store.models.search import FUZZY_EMBEDDING_MODEL, hnsw_index_name

    async with db.session() as session:
        options = await session.scalar(
            text("SELECT reloptions FROM pg_class WHERE relname = :n"),
            {"n": hnsw_index_name(FUZZY_EMBEDDING_MODEL)},
        )
    return dict(o.split("=", 1) for o in options or [])


class CpuMeter:
    """CPU seconds spent by this process and by the embedded server's backends."""

    def __init__(self, data_dir: Path | None) -> None:
        self.postmaster: Any = None
        if data_dir is not None:
            import psutil

            pid = int((data_dir / "postmaster.pid").read_text().split()[0])
            self.postmaster = psutil.Process(pid)

    def server(self) -> float:
        if self.postmaster is None:
            return float("nan")
        import psutil

        total = 0.0
        for child in self.postmaster.children():
            try:
                t = child.cpu_times()
            except psutil.NoSuchProcess:  # a backend that ended meanwhile
                continue
            total += t.user + t.system
        return total

    def sample(self) -> tuple[float, float]:
        return time.process_time(), self.server()

    def per_call(self, start: tuple[float, float], calls: int) -> dict[str, float]:
        here, server = self.sample()
        return {
            "cpu_client_ms": (here - start[0]) * 1000 / max(1, calls),
            "cpu_server_ms": (server - start[1]) * 1000 / max(1, calls),
        }


@contextmanager
def api_server(url: str, settings: dict[str, str], log: Path) -> Iterator[tuple[Any, int]]:
    """`opscopilot serve` in its own process on 127.0.0.1, as it is deployed: one uvicorn
    worker, no in-process job worker, on the benchmark's database, with `settings` (env
    variables) added; the other benchmarks' process helpers, its output in `log`. Yields
    the process and its port once it answers its liveness probe."""
    import sys

    from bench.chat.run import _env, _wait_http, free_port, process

    port = free_port()
    env = _env(OPSCOPILOT_DB__URL=url, OPSCOPILOT_DB__AUTO_UPGRADE="false",
               OPSCOPILOT_JOBS__IN_PROCESS_WORKER="false", **settings)  # fmt: skip
    command = [sys.executable, "-m", "opscopilot.cli.main", "serve",
               "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    with process(command, env, log) as proc:
        _wait_http(f"http://127.0.0.1:{port}/api/v1/health/live", proc)
        yield proc, port
