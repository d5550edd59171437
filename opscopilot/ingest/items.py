"""The unified data API over items, inventory, processes and external ids.

Items are global; their planning parameters, inventory and facts belong to sites, and
every function takes `sites` (None: all) to show only what the caller may see.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from sqlalchemy import or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.core.errors import NotFoundError, PermissionDenied, ValidationFailed
from opscopilot.ingest import master, processes
from opscopilot.ingest.indexing import index_items
from opscopilot.ingest.normalize import ITEM_PARAMS
from opscopilot.ingest.schemas import (
    AuditRead,
    ExternalMappingRead,
    InventoryRead,
    ItemCreate,
    ItemList,
    ItemMatch,
    ItemRead,
    ProcessCreate,
    ProcessRead,
    SiteParamsRead,
    SnapshotRead,
)
from opscopilot.ingest.values import RowError, json_safe
from opscopilot.store.models import (
    ExternalMapping,
    InventorySnapshot,
    ItemSiteParams,
    ManufacturingItem,
    ManufacturingProcess,
    MasterDataAudit,
    RawDataBatch,
)

_ITEM_FIELDS = ("name", "description", "uom", "category", "standard_cost", "currency",
                "supplier_name")  # fmt: skip


async def find_item(session: AsyncSession, *, item: str) -> ManufacturingItem:
    """An item by sku, or by its id (the original API's `item_id`)."""
    stmt = select(ManufacturingItem).where(ManufacturingItem.sku == item)
    found = await session.scalar(stmt)
    if found is None:
        try:
            found = await session.get(ManufacturingItem, uuid.UUID(item))
        except ValueError:
            found = None
    if found is None:
        raise NotFoundError(f"no item with sku or id {item!r}", field="sku")
    return found


async def _params(
    session: AsyncSession, items: list[ManufacturingItem], sites: tuple[str, ...] | None
) -> dict[uuid.UUID, list[SiteParamsRead]]:
    if not items:
        return {}
    stmt = select(ItemSiteParams).where(ItemSiteParams.item_id.in_([i.id for i in items]))
    if sites is not None:
        stmt = stmt.where(ItemSiteParams.site.in_(sites))
    out: dict[uuid.UUID, list[SiteParamsRead]] = {}
    for p in (await session.scalars(stmt.order_by(ItemSiteParams.site))).all():
        out.setdefault(p.item_id, []).append(
            SiteParamsRead(site=p.site, lead_time_days=p.lead_time_days,
                           lead_time_std_days=p.lead_time_std_days,
                           safety_stock=p.safety_stock, reorder_point=p.reorder_point)
        )  # fmt: skip
    return out


def item_read(
    item: ManufacturingItem | Mapping[str, Any], params: list[SiteParamsRead] | None = None
) -> ItemRead:
    """An item's answer, from its ORM object or its column values (a search hit's)."""
    get: Callable[[str], Any] = item.get if isinstance(item, Mapping) else partial(getattr, item)
    cost = get("standard_cost")
    return ItemRead(
        id=get("id"),
        sku=get("sku"),
        name=get("name"),
        description=get("description"),
        uom=get("uom"),
        category=get("category"),
        standard_cost=float(cost) if cost is not None else None,
        currency=get("currency"),
        supplier_name=get("supplier_name"),
        attributes=dict(get("attributes") or {}),
        sites=params or [],
        created_at=get("created_at"),
        updated_at=get("updated_at"),
    )


async def get_item(session: AsyncSession, *, sku: str, sites: tuple[str, ...] | None) -> ItemRead:
    item = await find_item(session, item=sku)
    return item_read(item, (await _params(session, [item], sites)).get(item.id))


async def list_items(
    session: AsyncSession,
    *,
    sites: tuple[str, ...] | None,
    q: str | None = None,
    category: str | None = None,
    after: str | None = None,
    limit: int = 50,
) -> ItemList:
    """Items by sku (paged with `after`), or the best matches for a query `q`."""
    if q:
        from opscopilot.store.search import search_items  # the search part of the store

        hits = await search_items(session, query=q, limit=limit, sites=sites, site_params=True)
        # each item read once: `items` and `matches` share it (serialised twice, same JSON)
        reads = [
            item_read(h.values, [SiteParamsRead(**p._asdict()) for p in h.site_params])
            for h in hits
        ]
        return ItemList(
            items=reads,
            matches=[
                ItemMatch(item=read, score=float(h.score), matched=json_safe(h.matched))
                for read, h in zip(reads, hits, strict=True)
            ],
        )
    stmt = select(ManufacturingItem).order_by(ManufacturingItem.sku).limit(limit + 1)
    if category:
        stmt = stmt.where(ManufacturingItem.category == category)
    if after:
        stmt = stmt.where(ManufacturingItem.sku > after)
    rows = list((await session.scalars(stmt)).all())
    page, more = rows[:limit], len(rows) > limit
    params = await _params(session, page, sites)
    return ItemList(
        items=[item_read(i, params.get(i.id)) for i in page],
        next_after=page[-1].sku if more and page else None,
    )


def _check_site(site: str, sites: tuple[str, ...] | None) -> None:
    if sites is not None and site not in sites:
        raise PermissionDenied(f"site {site!r} is not among your sites", field="site")


async def upsert_item(
    session: AsyncSession,
    *,
    data: ItemCreate,
    actor: str,
    sites: tuple[str, ...] | None,
    default_site: str = "main",
) -> ItemRead:
    """Create or update an item by sku (fields left out are kept), with an audit row."""
    given = data.model_dump(exclude_unset=True, exclude_none=True)
    site = given.pop("site", None) or (sites[0] if sites and len(sites) == 1 else default_site)
    _check_site(site, sites)
    record: dict[str, Any] = {"sku": data.sku.strip()}
    record.update({f: given[f] for f in _ITEM_FIELDS if f in given})
    if "currency" in record:
        record["currency"] = record["currency"].upper()
    params = {f: given[f] for f in ITEM_PARAMS if f in given}
    if params:
        record["params"] = params
    attributes = {**json_safe(given.get("attributes") or {}), **json_safe(data.model_extra or {})}
    if attributes:
        record["attributes"] = attributes
    outcomes, written = await master.apply_items(
        session, records=[(1, site, record)], actor=actor, batch_id=None
    )
    outcome = outcomes[1]
    if isinstance(outcome, RowError):
        raise ValidationFailed(f"{outcome.field}: {outcome.reason}", field=outcome.field)
    if outcome != "unchanged":
        await index_items(session, items=written)
    item = written[0]
    await session.refresh(item)
    out = item_read(item, (await _params(session, [item], sites)).get(item.id))
    out.action = outcome  # type: ignore[assignment]
    return out


async def item_history(
    session: AsyncSession, *, sku: str, sites: tuple[str, ...] | None, limit: int = 200
) -> list[AuditRead]:
    """Every past value of an item and its site parameters, newest first, with the batch
    that brought it."""
    item = await find_item(session, item=sku)
    rows = await session.execute(
        select(MasterDataAudit, RawDataBatch.batch_reference, RawDataBatch.source_id)
        .outerjoin(RawDataBatch, RawDataBatch.id == MasterDataAudit.batch_id)
        .where(
            MasterDataAudit.entity_id == item.id,
            MasterDataAudit.entity_type.in_(("item", "item_site_params")),
        )
        .order_by(MasterDataAudit.created_at.desc(), MasterDataAudit.id)
        .limit(limit)
    )
    out = []
    for audit, reference, source in rows.tuples():
        if audit.entity_type == "item_site_params" and sites is not None:
            if (audit.after or {}).get("site") not in sites:
                continue
        out.append(
            AuditRead(at=audit.created_at, entity_type=audit.entity_type,
                      entity_key=audit.entity_key, action=audit.action, before=audit.before,
                      after=audit.after, actor=audit.actor, batch_id=audit.batch_id,
                      batch_reference=reference, source_id=source)
        )  # fmt: skip
    return out


def _snapshot(s: InventorySnapshot) -> SnapshotRead:
    return SnapshotRead(site=s.site, location=s.location, on_hand=s.on_hand,
                        allocated=s.allocated, on_order=s.on_order,
                        available=s.on_hand - s.allocated, as_of=s.as_of,
                        batch_id=s.batch_id)  # fmt: skip


async def get_inventory(
    session: AsyncSession, *, item: str, sites: tuple[str, ...] | None, history: int = 50
) -> InventoryRead:
    """The latest snapshot per site and location, their totals, and recent history."""
    found = await find_item(session, item=item)
    scope = [InventorySnapshot.item_id == found.id]
    if sites is not None:
        scope.append(InventorySnapshot.site.in_(sites))
    latest = (
        await session.scalars(
            select(InventorySnapshot)
            .where(*scope)
            .distinct(InventorySnapshot.site, InventorySnapshot.location)
            .order_by(InventorySnapshot.site, InventorySnapshot.location,
                      InventorySnapshot.as_of.desc())
        )
    ).all()  # fmt: skip
    recent = (
        await session.scalars(
            select(InventorySnapshot)
            .where(*scope)
            .order_by(InventorySnapshot.as_of.desc(), InventorySnapshot.location)
            .limit(history)
        )
    ).all()
    on_hand = sum(s.on_hand for s in latest)
    allocated = sum(s.allocated for s in latest)
    return InventoryRead(
        item_id=found.id, sku=found.sku, name=found.name, uom=found.uom, on_hand=on_hand,
        allocated=allocated, on_order=sum(s.on_order for s in latest),
        available=on_hand - allocated, locations=[_snapshot(s) for s in latest],
        history=[_snapshot(s) for s in recent],
    )  # fmt: skip


async def _process_read(session: AsyncSession, proc: ManufacturingProcess) -> ProcessRead:
    sku = None
    if proc.item_id is not None:
        sku = await session.scalar(
            select(ManufacturingItem.sku).where(ManufacturingItem.id == proc.item_id)
        )
    return ProcessRead(
        id=proc.id, code=proc.code, name=proc.name, sku=sku, site=proc.site,
        work_center=proc.work_center, steps=list(proc.steps or []),
        cycle_time_minutes=proc.cycle_time_minutes, yield_pct=proc.yield_pct,
        attributes=dict(proc.attributes or {}), updated_at=proc.updated_at,
    )  # fmt: skip


async def upsert_process(
    session: AsyncSession,
    *,
    data: ProcessCreate,
    actor: str,
    sites: tuple[str, ...] | None,
    default_site: str = "main",
) -> ProcessRead:
    given = data.model_dump(exclude_unset=True, exclude_none=True)
    site = given.pop("site", None) or (sites[0] if sites and len(sites) == 1 else default_site)
    _check_site(site, sites)
    extras = json_safe(data.model_extra or {})
    record = {k: v for k, v in given.items() if k not in (data.model_extra or {})}
    if extras:
        record["attributes"] = {**record.get("attributes", {}), **extras}
    outcomes, _ = await processes.apply_processes(
        session, records=[(1, site, record)], actor=actor, batch_id=None
    )
    outcome = outcomes[1]
    if isinstance(outcome, RowError):
        raise ValidationFailed(f"{outcome.field}: {outcome.reason}", field=outcome.field)
    proc = await session.scalar(
        select(ManufacturingProcess).where(ManufacturingProcess.code == data.code)
    )
    assert proc is not None
    await session.refresh(proc)
    out = await _process_read(session, proc)
    out.action = outcome  # type: ignore[assignment]
    return out


async def get_process(
    session: AsyncSession, *, code: str, sites: tuple[str, ...] | None
) -> ProcessRead:
    proc = await session.scalar(
        select(ManufacturingProcess).where(ManufacturingProcess.code == code)
    )
    if proc is None or (sites is not None and proc.site not in sites):
        raise NotFoundError(f"no process {code!r}", field="code")
    return await _process_read(session, proc)


async def list_processes(
    session: AsyncSession, *, sites: tuple[str, ...] | None, sku: str | None = None,
    limit: int = 100,
) -> list[ProcessRead]:  # fmt: skip
    stmt = select(ManufacturingProcess).order_by(ManufacturingProcess.code).limit(limit)
    if sites is not None:
        stmt = stmt.where(ManufacturingProcess.site.in_(sites))
    if sku:
        item = await find_item(session, item=sku)
        stmt = stmt.where(ManufacturingProcess.item_id == item.id)
    return [await _process_read(session, p) for p in (await session.scalars(stmt)).all()]


async def list_external_mappings(
    session: AsyncSession,
    *,
    system: str | None = None,
    unmapped_only: bool = False,
    q: str | None = None,
    limit: int = 100,
) -> list[ExternalMappingRead]:
    stmt = (
        select(ExternalMapping, ManufacturingItem.sku)
        .outerjoin(ManufacturingItem, ManufacturingItem.id == ExternalMapping.internal_id)
        .order_by(ExternalMapping.system, ExternalMapping.external_id)
        .limit(limit)
    )
    if system:
        stmt = stmt.where(ExternalMapping.system == system)
    if unmapped_only:
        stmt = stmt.where(ExternalMapping.internal_id.is_(None))
    if q:
        stmt = stmt.where(or_(ExternalMapping.external_id == q, ManufacturingItem.sku == q))
    return [
        ExternalMappingRead(id=m.id, system=m.system, entity_type=m.entity_type,
                            external_id=m.external_id, internal_id=m.internal_id, sku=sku,
                            created_at=m.created_at)
        for m, sku in (await session.execute(stmt)).tuples()
    ]  # fmt: skip


async def map_external_id(
    session: AsyncSession, *, system: str, external_id: str, sku: str, actor: str
) -> ExternalMappingRead:
    """Say which item another system's id means; an unmapped id becomes mapped."""
    item = await find_item(session, item=sku)
    mapping_id = await session.scalar(
        text(
            "INSERT INTO external_mappings (id, system, entity_type, external_id, internal_id) "
            "VALUES (gen_random_uuid(), :system, 'item', :ext, :item) "
            "ON CONFLICT (system, entity_type, external_id) "
            "DO UPDATE SET internal_id = EXCLUDED.internal_id RETURNING id"
        ),
        {"system": system, "ext": external_id, "item": item.id},
    )
    from opscopilot.access.service import audit

    await audit(session, actor=actor, event_type="ingest.external_id_mapped",
                subject=f"{system}:{external_id}", details={"sku": item.sku})  # fmt: skip
    row = await session.get(ExternalMapping, mapping_id, populate_existing=True)
    assert row is not None
    return ExternalMappingRead(id=row.id, system=row.system, entity_type=row.entity_type,
                               external_id=row.external_id, internal_id=row.internal_id,
                               sku=item.sku, created_at=row.created_at)  # fmt: skip
