"""pgvector, and the job queue's schema.

Revision ID: 2026_11_27_0001
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "2026_11_27_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PGVECTOR_HELP = (
    "the PostgreSQL server has no pgvector extension. Install it (e.g. the postgresql-XX-pgvector "
    "package, or use the pgvector/pgvector image), or unset DATABASE_URL to use the embedded "
    "server, which ships it."
)


def upgrade() -> None:
    bind = op.get_bind()
    available = bind.execute(
        text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
    ).scalar()
    if not available:
        raise RuntimeError(PGVECTOR_HELP)
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    # procrastinate's names are unqualified: they land in the first schema of search_path.
    from procrastinate.schema import SchemaManager

    op.execute("CREATE SCHEMA IF NOT EXISTS jobs")
    op.execute("SET LOCAL search_path TO jobs")
    bind.exec_driver_sql(SchemaManager.get_schema().replace("%", "%%"))
    op.execute("SET LOCAL search_path TO public")


def downgrade() -> None:
    op.execute("DROP SCHEMA IF EXISTS jobs CASCADE")
