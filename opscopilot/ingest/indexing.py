"""The hook from master data writes to item search: embeddings are computed on write."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.store.models import ManufacturingItem

if TYPE_CHECKING:
    from opscopilot.store.search import ItemIndexBatch


async def index_items(session: AsyncSession, *, items: list[ManufacturingItem]) -> None:
    """Index created or changed items, in the same transaction as the write."""
    if not items:
        return
    from opscopilot.store.search import index_items as index  # the store's search part

    await index(session, items=items)


def batch_index(*, model: str | None = None) -> ItemIndexBatch:
    """Gathers a batch's written items, to be indexed at once before it commits."""
    from opscopilot.store.search import ItemIndexBatch

    return ItemIndexBatch(model=model)
