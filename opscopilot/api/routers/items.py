"""The unified data API: items, their history and series, inventory, processes, and
external ids."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Response

from opscopilot.access.roles import Principal
from opscopilot.api.deps import Admin, Operator, Session, SettingsDep, State, Viewer
from opscopilot.core.errors import PermissionDenied
from opscopilot.ingest import service
from opscopilot.ingest.schemas import (
    AuditRead,
    ExternalMappingRead,
    ExternalMappingWrite,
    InventoryRead,
    ItemCreate,
    ItemList,
    ItemRead,
    Period,
    ProcessCreate,
    ProcessRead,
    SeriesKind,
    SeriesRead,
)

router = APIRouter(prefix="/api/v1", tags=["items"])


def _sites(principal: Principal, site: str | None) -> tuple[str, ...] | None:
    if site is None:
        return principal.site_filter()
    if not principal.sees_site(site):
        raise PermissionDenied(f"site {site!r} is not among your sites", field="site")
    return (site,)


@router.post(
    "/items",
    response_model=ItemRead,
    status_code=201,
    responses={200: {"model": ItemRead, "description": "an existing item, updated or not"}},
)
async def upsert_item(
    body: ItemCreate, response: Response, session: Session, settings: SettingsDep,
    principal: Operator,
) -> ItemRead:  # fmt: skip
    """Create or update an item by sku; fields left out keep their value; audited."""
    item = await service.upsert_item(
        session,
        data=body,
        actor=principal.external_id,
        sites=principal.site_filter(),
        default_site=settings.default_site,
    )
    if item.action != "inserted":
        response.status_code = 200
    await session.commit()
    return item


@router.get("/items", response_model=ItemList)
async def list_items(
    state: State,
    principal: Viewer,
    q: Annotated[str | None, Query(max_length=300, description="Find items by text.")] = None,
    category: str | None = None,
    after: Annotated[str | None, Query(description="Page after this sku.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> ItemList:
    # The read session is opened here rather than as a `ReadSession` dependency: a yield
    # dependency costs FastAPI an exit stack and a shielded cancel scope per request, a
    # good part of this hot route's own Python time (bench/search); the answer is plain
    # data, so the session may close before it is serialised.
    async with state.db.reads() as session:
        sites = principal.site_filter()
        return await service.list_items(
            session, sites=sites, q=q, category=category, after=after, limit=limit
        )


@router.get("/items/{sku}", response_model=ItemRead)
async def get_item(sku: str, session: Session, principal: Viewer) -> ItemRead:
    return await service.get_item(session, sku=sku, sites=principal.site_filter())


@router.get("/items/{sku}/history", response_model=list[AuditRead])
async def item_history(
    sku: str,
    session: Session,
    principal: Viewer,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[AuditRead]:
    """Every change of the item and its site parameters, with the batch that made it."""
    return await service.item_history(session, sku=sku, sites=principal.site_filter(), limit=limit)


@router.get("/items/{sku}/series/{kind}", response_model=SeriesRead)
async def item_series(
    sku: str,
    kind: SeriesKind,
    session: Session,
    principal: Viewer,
    period: Period = "monthly",
    start: date | None = None,
    end: date | None = None,
    site: str | None = None,
) -> SeriesRead:
    """Demand / supply sums, the weighted quality rate, or inventory, by period."""
    return await service.observation_series(
        session, item=sku, kind=kind, period=period, sites=_sites(principal, site),
        start=start, end=end,
    )  # fmt: skip


@router.get("/inventory/{item_id}", response_model=InventoryRead)
async def get_inventory(
    item_id: str,
    session: Session,
    principal: Viewer,
    site: str | None = None,
    history: Annotated[int, Query(ge=0, le=1000)] = 50,
) -> InventoryRead:
    """Latest snapshot per location and recent history; `item_id` is the sku or the id."""
    return await service.get_inventory(
        session, item=item_id, sites=_sites(principal, site), history=history
    )


@router.post("/processes", response_model=ProcessRead, status_code=201)
async def upsert_process(
    body: ProcessCreate, response: Response, session: Session, settings: SettingsDep,
    principal: Operator,
) -> ProcessRead:  # fmt: skip
    proc = await service.upsert_process(
        session,
        data=body,
        actor=principal.external_id,
        sites=principal.site_filter(),
        default_site=settings.default_site,
    )
    if proc.action != "inserted":
        response.status_code = 200
    await session.commit()
    return proc


@router.get("/processes", response_model=list[ProcessRead])
async def list_processes(
    session: Session,
    principal: Viewer,
    sku: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[ProcessRead]:
    return await service.list_processes(
        session, sites=principal.site_filter(), sku=sku, limit=limit
    )


@router.get("/processes/{code}", response_model=ProcessRead)
async def get_process(code: str, session: Session, principal: Viewer) -> ProcessRead:
    return await service.get_process(session, code=code, sites=principal.site_filter())


@router.get("/external-mappings", response_model=list[ExternalMappingRead])
async def list_external_mappings(
    session: Session,
    _: Viewer,
    system: str | None = None,
    unmapped: bool = False,
    q: Annotated[str | None, Query(description="An external id or our sku.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[ExternalMappingRead]:
    return await service.list_external_mappings(
        session, system=system, unmapped_only=unmapped, q=q, limit=limit
    )


@router.put("/external-mappings", response_model=ExternalMappingRead)
async def map_external_id(
    body: ExternalMappingWrite, session: Session, admin: Admin
) -> ExternalMappingRead:
    """Say which of our items another system's id means (admin)."""
    out = await service.map_external_id(
        session, system=body.system, external_id=body.external_id, sku=body.sku,
        actor=admin.external_id,
    )  # fmt: skip
    await session.commit()
    return out
