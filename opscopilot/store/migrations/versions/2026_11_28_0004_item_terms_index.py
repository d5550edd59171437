"""item search's term channel: a GIN index on the fuzzy rows' terms

Revision ID: 2026_11_28_0004
Revises: 2026_11_28_0003
Create Date: 2026-11-28
"""

from collections.abc import Sequence

from alembic import op

revision: str = "2026_11_28_0004"
down_revision: str | None = "2026_11_28_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX IF NOT EXISTS ix_embeddings_item_terms ON embeddings USING gin (terms) "
        "WITH (fastupdate = off) WHERE model = 'hash-ngram-256' AND entity_type = 'item'"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_embeddings_item_terms")
