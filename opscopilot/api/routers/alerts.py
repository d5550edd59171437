"""Forecast alerts: the active list (the original API's `GET /alerts/active`), one alert, and
the actions operators take on it (acknowledge, snooze, resolve; each audited)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from opscopilot.api.deps import Session, Viewer, Writer
from opscopilot.forecasting import service
from opscopilot.forecasting.schemas import AlertList, AlertRead, ResolveBody, SnoozeBody

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])


@router.get("/active", response_model=AlertList)
async def active_alerts(
    session: Session,
    principal: Viewer,
    severity: Annotated[
        list[str] | None, Query(description="low, medium, high or critical; repeatable")
    ] = None,
    alert_type: Annotated[str | None, Query(alias="type")] = None,
    sku: Annotated[str | None, Query(max_length=100, description="The item's sku.")] = None,
    item: Annotated[str | None, Query(max_length=100, description="Same as sku.")] = None,
    site: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AlertList:
    """Open alerts on your sites, most severe first (snoozed ones once their snooze ends)."""
    alerts = await service.list_active_alerts(
        session, principal=principal, severity=severity, alert_type=alert_type,
        sku=sku or item, site=site, limit=limit,
    )  # fmt: skip
    return AlertList(alerts=alerts, count=len(alerts))


@router.get("/{alert_id}", response_model=AlertRead)
async def get_alert(alert_id: uuid.UUID, session: Session, principal: Viewer) -> AlertRead:
    return await service.get_alert(session, alert_id=alert_id, principal=principal)


@router.post("/{alert_id}/acknowledge", response_model=AlertRead)
async def acknowledge(alert_id: uuid.UUID, session: Session, principal: Writer) -> AlertRead:
    alert = await service.acknowledge_alert(session, alert_id=alert_id, principal=principal)
    await session.commit()
    return alert


@router.post("/{alert_id}/snooze", response_model=AlertRead)
async def snooze(
    alert_id: uuid.UUID, body: SnoozeBody, session: Session, principal: Writer
) -> AlertRead:
    alert = await service.snooze_alert(
        session, alert_id=alert_id, until=body.until, principal=principal
    )
    await session.commit()
    return alert


@router.post("/{alert_id}/resolve", response_model=AlertRead)
async def resolve(
    alert_id: uuid.UUID, session: Session, principal: Writer, body: ResolveBody | None = None
) -> AlertRead:
    alert = await service.resolve_alert(
        session, alert_id=alert_id, principal=principal, note=body.note if body else None
    )
    await session.commit()
    return alert
