"""fuzzy HNSW graph built broader: ef_construction 200 -> 800

The item search's fuzzy index (hashed n-gram vectors) is rebuilt with the broader build of
`hnsw_params`: recall@10 0.96 at ef_search 100, where the old graph needed 400
(bench/search). On a catalogue of 100,000 items the rebuild takes minutes, and writes to
`embeddings` wait.

Revision ID: 2026_11_28_0003
Revises: 2026_11_27_0002
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "2026_11_28_0003"
down_revision: str | None = "2026_11_27_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_embeddings_hnsw_hash_ngram_256"
MODEL = "hash-ngram-256"


def upgrade() -> None:
    _rebuild(ef_construction=800)


def downgrade() -> None:
    _rebuild(ef_construction=200)


def _rebuild(*, ef_construction: int) -> None:
    from opscopilot.store.vectors import build_memory_kb

    bind = op.get_bind()
    if bind.execute(text(f"SELECT to_regclass('{INDEX}')")).scalar() is None:
        return  # dropped by hand: the next write creates it with the current parameters
    rows = bind.execute(text(f"SELECT count(*) FROM embeddings WHERE model = '{MODEL}'")).scalar()
    held = bind.execute(
        text("SELECT setting::bigint FROM pg_settings WHERE name = 'maintenance_work_mem'")
    ).scalar()
    kb = build_memory_kb(rows=int(rows or 0), dim=256, m=24, held_kb=int(held or 0))
    op.execute(f"SET LOCAL maintenance_work_mem = '{kb}kB'")
    op.execute(f"ALTER INDEX {INDEX} SET (ef_construction = {ef_construction})")
    op.execute(f"REINDEX INDEX {INDEX}")
