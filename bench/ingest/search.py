"""The search half of the ingestion benchmark: `bench/search` on the same database.

`bench.ingest.run` calls `run(url=..., folder=...)` after its ingest timings: p50 / p95 of
item search over 100,000 items against the exact scan, and recall@10 of the index. Its
figures join the ingest figures under a `search_` prefix (`search_recall_met`, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def run(*, url: str, folder: Path) -> dict[str, Any]:
    from bench.search.run import run as search_run

    figures = search_run(url=url, folder=folder)
    return {k if k.startswith("search_") else f"search_{k}": v for k, v in figures.items()}
