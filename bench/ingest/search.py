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
    from bench.search.run import SHARED_BUFFERS
    from bench.search.run import run as search_run
    from bench.search.support import own_database, set_shared_buffers

    data_dir = folder / "pgdata"
    url = set_shared_buffers(data_dir, url, SHARED_BUFFERS)
    with own_database(url, DATABASE) as search_url:
        figures = search_run(url=search_url, folder=folder, data_dir=data_dir)
    return {k if k.startswith("search_") else f"search_{k}": v for k, v in figures.items()}
