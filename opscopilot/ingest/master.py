"""Master data (items, their per-site parameters, processes, costs): create or update with
an audit row for every change. Shared by batches and by `POST /api/v1/items`.

Records arrive as `(row, site, data)` with `data` in our field names (see normalize.py);
each gets an outcome: "inserted", "updated", "unchanged" or a `RowError`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.ingest.values import RowError
from opscopilot.store.models import (
    ExternalMapping,
    ItemSiteParams,
    ManufacturingItem,
    MasterDataAudit,
)

MasterRecord = tuple[int, str, dict[str, Any]]
Outcome = str | RowError


class MasterApply(Protocol):
    async def __call__(
        self,
        session: AsyncSession,
        *,
        records: Sequence[MasterRecord],
        actor: str,
        batch_id: uuid.UUID | None,
        external_system: str | None = None,
    ) -> tuple[dict[int, Outcome], list[ManufacturingItem]]: ...


ITEM_COLUMNS = (
    "sku", "name", "description", "uom", "category", "standard_cost", "currency",
    "supplier_name",
)  # fmt: skip
PARAM_COLUMNS = ("lead_time_days", "lead_time_std_days", "safety_stock", "reorder_point")


def item_state(item: ManufacturingItem) -> dict[str, Any]:
    """The audited view of an item: what `before` and `after` hold."""
    out: dict[str, Any] = {c: getattr(item, c) for c in ITEM_COLUMNS}
    if isinstance(out["standard_cost"], Decimal):
        out["standard_cost"] = float(out["standard_cost"])
    out["attributes"] = dict(item.attributes or {})
    return out


def audit_row(
    *,
    entity_type: str,
    entity_id: uuid.UUID,
    key: str,
    before: dict[str, Any] | None,
    after: dict[str, Any],
    actor: str,
    batch_id: uuid.UUID | None,
) -> MasterDataAudit:
    return MasterDataAudit(
        entity_type=entity_type,
        entity_id=entity_id,
        entity_key=key,
        action="create" if before is None else "update",
        before=before,
        after=after,
        actor=actor,
        batch_id=batch_id,
    )


async def resolve_external_skus(
    session: AsyncSession, *, skus: Sequence[str], system: str | None
) -> dict[str, str]:
    """External id -> our sku for the ids that are mapped (items only)."""
    if system is None or not skus:
        return {}
    rows = await session.execute(
        select(ExternalMapping.external_id, ManufacturingItem.sku)
        .join(ManufacturingItem, ManufacturingItem.id == ExternalMapping.internal_id)
        .where(
            ExternalMapping.system == system,
            ExternalMapping.entity_type == "item",
            ExternalMapping.external_id.in_(list(set(skus))),
        )
    )
    return {ext: sku for ext, sku in rows.tuples()}


async def _remember_external(
    session: AsyncSession, *, system: str, pairs: dict[str, uuid.UUID]
) -> None:
    if not pairs:
        return
    stmt = pg_insert(ExternalMapping).values(
        [
            {"id": uuid.uuid4(), "system": system, "entity_type": "item", "external_id": ext,
             "internal_id": iid}
            for ext, iid in pairs.items()
        ]
    )  # fmt: skip
    stmt = stmt.on_conflict_do_update(
        index_elements=["system", "entity_type", "external_id"],
        set_={"internal_id": stmt.excluded.internal_id},
        where=ExternalMapping.internal_id.is_(None),
    )
    await session.execute(stmt)


def ours(translated: dict[str, str], sku: str) -> str:
    return translated.get(sku) or sku


def waves(records: Sequence[MasterRecord], key: str) -> list[list[MasterRecord]]:
    """Split records so no key repeats within a wave (an item may come once per site)."""
    waves: list[list[MasterRecord]] = []
    seen: list[set[str]] = []
    for rec in records:
        k = rec[2][key]
        for wave, keys in zip(waves, seen, strict=True):
            if k not in keys:
                wave.append(rec)
                keys.add(k)
                break
        else:
            waves.append([rec])
            seen.append({k})
    return waves


async def apply_items(
    session: AsyncSession,
    *,
    records: Sequence[MasterRecord],
    actor: str,
    batch_id: uuid.UUID | None,
    external_system: str | None = None,
) -> tuple[dict[int, Outcome], list[ManufacturingItem]]:
    """Create or update items by sku; returns each record's outcome and the items written."""
    outcomes: dict[int, Outcome] = {}
    touched: dict[uuid.UUID, ManufacturingItem] = {}
    translated = await resolve_external_skus(
        session, skus=[r[2]["sku"] for r in records], system=external_system
    )
    new_external: dict[str, uuid.UUID] = {}
    for wave in waves(records, "sku"):
        skus = [ours(translated, d["sku"]) for _, _, d in wave]
        existing = {
            i.sku: i
            for i in (
                await session.scalars(
                    select(ManufacturingItem)
                    .where(ManufacturingItem.sku.in_(skus))
                    .with_for_update()
                )
            ).all()
        }
        params = await _load_params(session, wave, existing)
        written: list[tuple[int, str, dict[str, Any], ManufacturingItem]] = []
        for (row, site, data), sku in zip(wave, skus, strict=True):
            outcome = _apply_item(session, existing.get(sku), sku, data, actor, batch_id)
            if isinstance(outcome, RowError):
                outcomes[row] = outcome
                continue
            item, outcomes[row] = outcome
            touched[item.id] = item
            written.append((row, site, data, item))
            if external_system and data["sku"] not in translated:
                new_external[data["sku"]] = item.id
        # Items first: the ORM knows no relationship that would order the inserts for us.
        await session.flush()
        snaps: list[tuple[int, ManufacturingItem, str, dict[str, Any]]] = []
        changed: set[int] = set()
        for row, site, data, item in written:
            if _apply_params(session, params, item, site, data.get("params"), actor, batch_id):
                changed.add(row)
            if data.get("snapshot"):
                snaps.append((row, item, site, data["snapshot"]))
        await session.flush()
        changed.update(await _apply_snapshots(session, snaps, batch_id))
        for row in changed:
            if outcomes[row] == "unchanged":
                outcomes[row] = "updated"
    if external_system:
        await _remember_external(session, system=external_system, pairs=new_external)
    await session.flush()
    return outcomes, list(touched.values())


def _apply_item(
    session: AsyncSession,
    item: ManufacturingItem | None,
    sku: str,
    data: dict[str, Any],
    actor: str,
    batch_id: uuid.UUID | None,
) -> tuple[ManufacturingItem, str] | RowError:
    fields = {c: data[c] for c in ITEM_COLUMNS if c in data and c != "sku"}
    if "standard_cost" in fields:
        fields["standard_cost"] = Decimal(str(fields["standard_cost"]))
    if item is None:
        if not fields.get("name"):
            return RowError("name", f"is required for a new item ({sku})")
        values = {c: fields.get(c) for c in ITEM_COLUMNS if c != "sku"}
        values["uom"] = values["uom"] or "EA"
        attributes = dict(data.get("attributes") or {})
        item = ManufacturingItem(id=uuid.uuid4(), sku=sku, attributes=attributes, **values)
        session.add(item)
        session.add(
            audit_row(entity_type="item", entity_id=item.id, key=sku, before=None,
                   after=item_state(item), actor=actor, batch_id=batch_id)
        )  # fmt: skip
        return item, "inserted"
    before = item_state(item)
    for name, value in fields.items():
        setattr(item, name, value)
    if data.get("attributes"):
        item.attributes = {**(item.attributes or {}), **data["attributes"]}
    after = item_state(item)
    if after == before:
        return item, "unchanged"
    session.add(
        audit_row(entity_type="item", entity_id=item.id, key=sku, before=before, after=after,
               actor=actor, batch_id=batch_id)
    )  # fmt: skip
    return item, "updated"


ParamsByKey = dict[tuple[uuid.UUID, str], ItemSiteParams]


async def _load_params(
    session: AsyncSession, wave: Sequence[MasterRecord], existing: dict[str, ManufacturingItem]
) -> ParamsByKey:
    ids = [i.id for i in existing.values()]
    if not ids or not any(d.get("params") for _, _, d in wave):
        return {}
    rows = await session.scalars(
        select(ItemSiteParams).where(ItemSiteParams.item_id.in_(ids)).with_for_update()
    )
    return {(p.item_id, p.site): p for p in rows.all()}


def _apply_params(
    session: AsyncSession,
    loaded: ParamsByKey,
    item: ManufacturingItem,
    site: str,
    params: dict[str, float] | None,
    actor: str,
    batch_id: uuid.UUID | None,
) -> bool:
    if not params:
        return False
    row = loaded.get((item.id, site))
    before = None if row is None else {c: getattr(row, c) for c in PARAM_COLUMNS}
    if row is None:
        row = ItemSiteParams(id=uuid.uuid4(), item_id=item.id, site=site)
        for column in PARAM_COLUMNS:
            setattr(row, column, None)
        session.add(row)
        loaded[(item.id, site)] = row
    for name, value in params.items():
        setattr(row, name, value)
    after = {c: getattr(row, c) for c in PARAM_COLUMNS}
    if before == after:
        return False
    session.add(
        audit_row(entity_type="item_site_params", entity_id=item.id, key=f"{item.sku}@{site}",
               before=before, after={"site": site, **after}, actor=actor, batch_id=batch_id)
    )  # fmt: skip
    return True


_SNAPSHOTS = text(
    "WITH src AS (SELECT * FROM unnest("
    "CAST(:rows AS int[]), CAST(:items AS uuid[]), CAST(:sites AS text[]), "
    "CAST(:locs AS text[]), CAST(:qtys AS float8[]), CAST(:as_ofs AS timestamptz[]))"
    " AS t(row_no, item_id, site, location, on_hand, as_of)), "
    "snap AS (INSERT INTO inventory_snapshots "
    "(id, item_id, site, location, on_hand, allocated, on_order, as_of, batch_id) "
    "SELECT gen_random_uuid(), item_id, site, location, on_hand, 0, 0, as_of, :batch FROM src "
    "ON CONFLICT (item_id, site, location, as_of) DO UPDATE "
    "SET on_hand = EXCLUDED.on_hand, batch_id = EXCLUDED.batch_id "
    "WHERE inventory_snapshots.on_hand IS DISTINCT FROM EXCLUDED.on_hand "
    "RETURNING item_id, site, location, as_of), "
    "obs AS (INSERT INTO observations "
    "(site, item_id, kind, obs_date, value, natural_key, counterparty, batch_id) "
    "SELECT s.site, s.item_id, 'inventory', (s.as_of AT TIME ZONE 'UTC')::date, s.on_hand, "
    "'d:' || i.sku || ':' || (s.as_of AT TIME ZONE 'UTC')::date || ':' || s.location, "
    "s.location, :batch FROM src s JOIN manufacturing_items i ON i.id = s.item_id "
    "ON CONFLICT (site, kind, natural_key) DO UPDATE "
    "SET value = EXCLUDED.value, batch_id = EXCLUDED.batch_id "
    "WHERE observations.value IS DISTINCT FROM EXCLUDED.value) "
    "SELECT src.row_no FROM src JOIN snap USING (item_id, site, location, as_of)"
)


async def _apply_snapshots(
    session: AsyncSession,
    snaps: Sequence[tuple[int, ManufacturingItem, str, dict[str, Any]]],
    batch_id: uuid.UUID | None,
) -> list[int]:
    """The `qty` of items records: inventory snapshots plus their daily observations; returns
    the rows whose snapshot changed."""
    if not snaps:
        return []
    result = await session.scalars(
        _SNAPSHOTS,
        {
            "rows": [r for r, _, _, _ in snaps],
            "items": [i.id for _, i, _, _ in snaps],
            "sites": [s for _, _, s, _ in snaps],
            "locs": [d["location"] for _, _, _, d in snaps],
            "qtys": [d["on_hand"] for _, _, _, d in snaps],
            "as_ofs": [datetime.fromisoformat(d["as_of"]) for _, _, _, d in snaps],
            "batch": batch_id,
        },
    )
    return list(result.all())


async def apply_costs(
    session: AsyncSession,
    *,
    records: Sequence[MasterRecord],
    actor: str,
    batch_id: uuid.UUID | None,
    external_system: str | None = None,
) -> tuple[dict[int, Outcome], list[ManufacturingItem]]:
    """Standard costs by effective date: an older cost never replaces a newer one."""
    outcomes: dict[int, Outcome] = {}
    touched: dict[uuid.UUID, ManufacturingItem] = {}
    translated = await resolve_external_skus(
        session, skus=[r[2]["sku"] for r in records], system=external_system
    )
    ordered = sorted(records, key=lambda r: (r[2]["effective_date"], r[0]))
    skus = {ours(translated, d["sku"]) for _, _, d in ordered}
    items = {
        i.sku: i
        for i in (
            await session.scalars(
                select(ManufacturingItem).where(ManufacturingItem.sku.in_(skus)).with_for_update()
            )
        ).all()
    }
    for row, _site, data in ordered:
        item = items.get(ours(translated, data["sku"]))
        if item is None:
            outcomes[row] = RowError("sku", f"unknown sku {data['sku']!r}")
            continue
        effective = data["effective_date"]
        if str((item.attributes or {}).get("cost_effective_date", "")) > effective:
            outcomes[row] = "unchanged"
            continue
        before = item_state(item)
        item.standard_cost = Decimal(str(data["standard_cost"]))
        if data.get("currency"):
            item.currency = data["currency"]
        item.attributes = {**(item.attributes or {}), "cost_effective_date": effective}
        after = item_state(item)
        if _without_effective(before) == _without_effective(after):
            item.attributes = before["attributes"]
            outcomes[row] = "unchanged"
            continue
        session.add(
            audit_row(entity_type="item", entity_id=item.id, key=item.sku, before=before,
                   after=after, actor=actor, batch_id=batch_id)
        )  # fmt: skip
        touched[item.id] = item
        outcomes[row] = "updated"
    await session.flush()
    return outcomes, list(touched.values())


def _without_effective(state: dict[str, Any]) -> dict[str, Any]:
    attrs = {k: v for k, v in state["attributes"].items() if k != "cost_effective_date"}
    return {**state, "attributes": attrs}
