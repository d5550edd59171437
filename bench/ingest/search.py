"""The search half of the ingestion benchmark: `bench/search` on the same server.

`bench.ingest.run` calls `run(url=..., folder=...)` after its ingest timings: p50 / p95 of
item search over 100,000 items against the exact scan, and recall@10 of the index. Its
figures join the ingest figures under a `search_` prefix (`search_recall_met`, ...).

The search runs in a database of its own on the same embedded server: the ingest's
database holds its 10,000 items, indexed on write, which bench/search would take for a
kept catalogue and search instead of its 100,000 (it did: recall 0.94 and a labelled top 3
of 0 on the wrong items). The server gets bench/search's shared_buffers first, as
`python -m bench.search.run` gives it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

DATABASE = "oc_bench_search"


def run(*, url: str, folder: Path) -> dict[str, Any]:
    from sqlalchemy import create_engine, pool, text
    from sqlalchemy.engine import make_url

    from bench.search.run import SHARED_BUFFERS
    from bench.search.run import run as search_run
    from bench.search.support import set_shared_buffers
    from opscopilot.store import migrate
    from opscopilot.store.urls import psycopg_sqlalchemy_url

    data_dir = folder / "pgdata"
    url = set_shared_buffers(data_dir, url, SHARED_BUFFERS)
    server = create_engine(
        psycopg_sqlalchemy_url(url), poolclass=pool.NullPool, isolation_level="AUTOCOMMIT"
    )
    search_url = make_url(url).set(database=DATABASE).render_as_string(hide_password=False)
    try:
        with server.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {DATABASE}"))
            conn.execute(text(f"CREATE DATABASE {DATABASE}"))
        migrate.upgrade(search_url)
        figures = search_run(url=search_url, folder=folder, data_dir=data_dir)
    finally:
        with server.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))
        server.dispose()
    return {k if k.startswith("search_") else f"search_{k}": v for k, v in figures.items()}
