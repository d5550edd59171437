"""Helpers for search against the real Postgres: items written the way writers write them
(then `index_items` in the same transaction), and cleanup of indexes made on the fly."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest
from sqlalchemy import text

from opscopilot.store.engine import Database
from opscopilot.store.models import Base, ManufacturingItem
from opscopilot.store.search import index_items

AddItems = Callable[..., Awaitable[list[ManufacturingItem]]]


@pytest.fixture
def add_items(clean_db: Database) -> AddItems:
    async def add(records: Sequence[dict[str, Any]], model: str | None = None) -> list[Any]:
        async with clean_db.transaction() as session:
            items = [ManufacturingItem(**r) for r in records]
            session.add_all(items)
            await session.flush()
            await index_items(session, items=items, model=model)
        return items

    return add


@pytest.fixture
async def drop_runtime_indexes(clean_db: Database) -> AsyncIterator[None]:
    """Indexes created for a model at run time are real DDL: drop them after the test, so
    the shared database keeps matching the migrations."""
    yield
    declared = {ix.name for ix in Base.metadata.tables["embeddings"].indexes}
    async with clean_db.engine.begin() as conn:
        names = await conn.execute(
            text(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'embeddings' "
                "AND indexname LIKE 'ix_embeddings_hnsw_%'"
            )
        )
        for (name,) in names.all():
            if name not in declared:
                await conn.execute(text(f"DROP INDEX IF EXISTS {name}"))
