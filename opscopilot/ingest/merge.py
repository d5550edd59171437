"""Set-based merges from the staging table into inventory snapshots and observations.

No row-by-row work: one statement rejects rows whose item is unknown, one merges the
snapshots, two merge the observations. A row whose natural key exists with the same
values is skipped before the INSERT (so resending a file locks and rewrites nothing) and
counted unchanged; a changed one is updated; a new one inserted.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.ingest.staging import STAGE

FACT_RKINDS = "('inventory', 'sales', 'receipts', 'quality')"
COUNTED_RKINDS = "('sales', 'receipts', 'quality')"


@dataclass(frozen=True)
class Resolution:
    """How a staged sku finds its item: directly, or through another system's ids."""

    system: str | None = None
    unmapped: str = "keep"

    def joins(self) -> str:
        if self.system is None:
            return "JOIN manufacturing_items i ON i.sku = s.sku"
        direct = (
            "LEFT JOIN manufacturing_items i ON i.sku = s.sku" if self.unmapped == "keep" else
            "LEFT JOIN manufacturing_items i ON false"
        )  # fmt: skip
        return (
            "LEFT JOIN external_mappings em ON em.system = :system "
            "AND em.entity_type = 'item' AND em.external_id = s.sku "
            f"{direct}"
        )

    def item_id(self) -> str:
        return "i.id" if self.system is None else "COALESCE(em.internal_id, i.id)"

    def params(self) -> dict[str, str]:
        return {} if self.system is None else {"system": self.system}


@dataclass
class Rejected:
    rows: list[tuple[str, int, str]]  # (rkind, row, sku), the first few
    total: int


async def reject_unknown_items(
    session: AsyncSession, *, resolution: Resolution, limit: int
) -> Rejected:
    """Remove fact rows whose item is unknown; unmapped external ids are remembered."""
    if resolution.system is None:
        missing = "NOT EXISTS (SELECT 1 FROM manufacturing_items i WHERE i.sku = s.sku)"
    else:
        mapped = (
            "EXISTS (SELECT 1 FROM external_mappings em WHERE em.system = :system "
            "AND em.entity_type = 'item' AND em.external_id = s.sku "
            "AND em.internal_id IS NOT NULL)"
        )
        direct = "EXISTS (SELECT 1 FROM manufacturing_items i WHERE i.sku = s.sku)"
        missing = (
            f"NOT {mapped} AND NOT {direct}" if resolution.unmapped == "keep" else f"NOT {mapped}"
        )
    remember = ""
    if resolution.system is not None:
        remember = (
            ", unmapped AS (INSERT INTO external_mappings "
            "(id, system, entity_type, external_id, internal_id) "
            "SELECT gen_random_uuid(), :system, 'item', sku, NULL FROM gone GROUP BY sku "
            "ON CONFLICT (system, entity_type, external_id) DO NOTHING)"
        )
    result = await session.execute(
        text(
            f"WITH gone AS (DELETE FROM {STAGE} s WHERE s.rkind IN {FACT_RKINDS} AND {missing} "
            f"RETURNING s.rkind, s.row_no, s.sku){remember} "
            "SELECT rkind, row_no, sku, count(*) OVER () AS total FROM gone "
            "ORDER BY rkind, row_no LIMIT :limit"
        ),
        {"limit": limit, **resolution.params()},
    )
    rows = result.all()
    return Rejected(
        rows=[(r.rkind, r.row_no, r.sku) for r in rows], total=rows[0].total if rows else 0
    )


@dataclass
class MergeCounts:
    inserted: int = 0
    updated: int = 0


async def merge_snapshots(
    session: AsyncSession, *, resolution: Resolution, batch_id: uuid.UUID
) -> MergeCounts:
    result = await session.execute(
        text(
            f"WITH src AS (SELECT s.site, {resolution.item_id()} AS item_id, s.location, "
            f"s.on_hand, s.allocated, s.on_order, s.as_of FROM {STAGE} s {resolution.joins()} "
            f"WHERE s.rkind = 'inventory'), "
            "m AS (INSERT INTO inventory_snapshots "
            "(id, item_id, site, location, on_hand, allocated, on_order, as_of, batch_id) "
            "SELECT gen_random_uuid(), item_id, site, location, on_hand, allocated, on_order, "
            "as_of, :batch FROM src WHERE item_id IS NOT NULL "
            "ON CONFLICT (item_id, site, location, as_of) DO UPDATE SET "
            "on_hand = EXCLUDED.on_hand, allocated = EXCLUDED.allocated, "
            "on_order = EXCLUDED.on_order, batch_id = EXCLUDED.batch_id "
            "WHERE (inventory_snapshots.on_hand, inventory_snapshots.allocated, "
            "inventory_snapshots.on_order) IS DISTINCT FROM "
            "(EXCLUDED.on_hand, EXCLUDED.allocated, EXCLUDED.on_order) "
            "RETURNING (xmax = 0) AS ins) "
            "SELECT count(*) FILTER (WHERE ins) AS i, count(*) FILTER (WHERE NOT ins) AS u FROM m"
        ),
        {"batch": batch_id, **resolution.params()},
    )
    row = result.one()
    return MergeCounts(inserted=row.i, updated=row.u)


_OBS_COLUMNS = (
    "site, item_id, kind, obs_date, value, weight, natural_key, counterparty, promised_date"
)
_SAME = (
    "o.item_id = c.item_id AND o.obs_date = c.obs_date AND o.value = c.value "
    "AND o.weight IS NOT DISTINCT FROM c.weight "
    "AND o.counterparty IS NOT DISTINCT FROM c.counterparty "
    "AND o.promised_date IS NOT DISTINCT FROM c.promised_date"
)


async def merge_observations(
    session: AsyncSession, *, resolution: Resolution, batch_id: uuid.UUID, inventory: bool
) -> MergeCounts:
    """Counted facts (sales, receipts, quality), or the daily readings of inventory records
    (the last reading of a day per location wins; not counted: the snapshot is).

    Changed facts are updated in place; new ones go in by a plain INSERT, which costs about
    two thirds of an upsert (no speculative insertion). Should a concurrent batch insert one
    of the same keys in between, the INSERT is undone to its savepoint and the upsert does
    the rest."""
    if inventory:
        source = (
            f"SELECT DISTINCT ON (s.site, s.natural_key) s.site, {resolution.item_id()} "
            "AS item_id, s.okind AS kind, s.obs_date, s.value, s.weight, s.natural_key, "
            f"s.counterparty, s.promised_date FROM {STAGE} s {resolution.joins()} "
            "WHERE s.rkind = 'inventory' "
            "ORDER BY s.site, s.natural_key, s.as_of DESC, s.row_no DESC"
        )
    else:
        source = (
            f"SELECT s.site, {resolution.item_id()} AS item_id, s.okind AS kind, s.obs_date, "
            f"s.value, s.weight, s.natural_key, s.counterparty, s.promised_date FROM {STAGE} s "
            f"{resolution.joins()} WHERE s.rkind IN {COUNTED_RKINDS}"
        )
    params = {"batch": batch_id, **resolution.params()}
    updated = await session.scalar(
        text(
            f"WITH src AS ({source}), u AS (UPDATE observations o SET item_id = c.item_id, "
            "obs_date = c.obs_date, value = c.value, weight = c.weight, "
            "counterparty = c.counterparty, promised_date = c.promised_date, batch_id = :batch "
            "FROM src c "
            "WHERE c.item_id IS NOT NULL AND o.site = c.site AND o.kind = c.kind "
            f"AND o.natural_key = c.natural_key AND NOT ({_SAME}) RETURNING 1) "
            "SELECT count(*) FROM u"
        ),
        params,
    )
    try:
        async with session.begin_nested():
            inserted = await session.scalar(
                text(
                    f"WITH src AS ({source}), i AS (INSERT INTO observations "
                    f"({_OBS_COLUMNS}, batch_id) SELECT {_OBS_COLUMNS}, :batch FROM src c "
                    "WHERE c.item_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM observations o "
                    "WHERE o.site = c.site AND o.kind = c.kind "
                    "AND o.natural_key = c.natural_key) RETURNING 1) SELECT count(*) FROM i"
                ),
                params,
            )
    except IntegrityError:
        raced = await _upsert_observations(session, source=source, params=params)
        return MergeCounts(inserted=raced.inserted, updated=int(updated or 0) + raced.updated)
    return MergeCounts(inserted=int(inserted or 0), updated=int(updated or 0))


async def _upsert_observations(
    session: AsyncSession, *, source: str, params: dict[str, Any]
) -> MergeCounts:
    result = await session.execute(
        text(
            f"WITH src AS ({source}), "
            "changed AS (SELECT c.* FROM src c WHERE c.item_id IS NOT NULL AND NOT EXISTS ("
            "SELECT 1 FROM observations o WHERE o.site = c.site AND o.kind = c.kind "
            f"AND o.natural_key = c.natural_key AND {_SAME})), "
            f"m AS (INSERT INTO observations ({_OBS_COLUMNS}, batch_id) "
            f"SELECT {_OBS_COLUMNS}, :batch FROM changed "
            "ON CONFLICT (site, kind, natural_key) DO UPDATE SET item_id = EXCLUDED.item_id, "
            "obs_date = EXCLUDED.obs_date, value = EXCLUDED.value, weight = EXCLUDED.weight, "
            "counterparty = EXCLUDED.counterparty, promised_date = EXCLUDED.promised_date, "
            "batch_id = EXCLUDED.batch_id "
            "WHERE (observations.item_id, observations.obs_date, observations.value, "
            "observations.weight, observations.counterparty, observations.promised_date) "
            "IS DISTINCT FROM (EXCLUDED.item_id, EXCLUDED.obs_date, EXCLUDED.value, "
            "EXCLUDED.weight, EXCLUDED.counterparty, EXCLUDED.promised_date) "
            "RETURNING (xmax = 0) AS ins) "
            "SELECT count(*) FILTER (WHERE ins) AS i, count(*) FILTER (WHERE NOT ins) AS u FROM m"
        ),
        params,
    )
    row = result.one()
    return MergeCounts(inserted=row.i, updated=row.u)
