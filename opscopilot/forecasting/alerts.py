"""Forecast alerts in the store: one open alert per (site, item, type), its `alert.raised`
event, and the actions people take on it.

A run's alerts go through `apply_verdict`, inside the transaction that stores the forecast:

- no open alert of the type: a new one, and its event;
- an open one: updated in place (message, details, severity, forecast); only a WORSE severity
  emits a new event, and brings an acknowledged or snoozed alert back to active;
- an open one of a type the run evaluated that no longer fires: resolved by the forecast.

The alert and its event are written in the same transaction (notify reads the outbox), so a
rollback leaves neither. A transaction-scoped advisory lock per (site, item, type) serialises
two runs on the same alert; the partial unique index is the last guard.

Acknowledge, snooze and resolve record who acted and when, and are audited; the caller commits.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import case, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.access.roles import Principal
from opscopilot.access.service import audit
from opscopilot.core.errors import ConflictError, NotFoundError, ValidationFailed
from opscopilot.forecasting.evaluate import Raised, Verdict
from opscopilot.forecasting.queries import ItemFacts
from opscopilot.forecasting.rules import SEVERITIES
from opscopilot.forecasting.schemas import ALERT_TYPES, AlertRead
from opscopilot.notify.events import ALERT_RAISED, SuggestedAction, alert_raised_event
from opscopilot.store.models import Forecast, ForecastAlert, OutboxEvent

OPEN = ("active", "acknowledged", "snoozed")
FORECAST_ACTOR = "forecast"
MAX_SNOOZE = timedelta(days=90)


def chart_url(sku: str, forecast_type: str, period: str, site: str) -> str:
    return (
        f"/api/v1/forecasts/{quote(sku, safe='')}/{forecast_type}/chart.png"
        f"?period={period}&site={quote(site, safe='')}"
    )


def alert_read(alert: ForecastAlert) -> AlertRead:
    return AlertRead.model_validate(alert, from_attributes=True)


async def apply_verdict(
    session: AsyncSession,
    *,
    item: ItemFacts,
    forecast: Forecast,
    verdict: Verdict,
    now: datetime,
) -> list[ForecastAlert]:
    """Write the run's alerts (see module doc); returns those that emitted an event."""
    announced: list[ForecastAlert] = []
    fired = {r.alert.alert_type for r in verdict.raised}
    for raised in verdict.raised:
        alert, emit = await _upsert(session, item=item, forecast=forecast, raised=raised, now=now)
        if emit:
            session.add(
                alert_raised_event(
                    alert,
                    item_name=item.name,
                    item_category=item.category,
                    chart_url=chart_url(item.sku, forecast.forecast_type, forecast.period,
                                        item.site),
                    suggested_action=(
                        SuggestedAction.model_validate(raised.suggested)
                        if raised.suggested else None
                    ),
                )
            )  # fmt: skip
            announced.append(alert)
    for alert_type in sorted(verdict.evaluated - fired):
        await _lock(session, item, alert_type)
        cleared = await _open_alert(session, item, alert_type)
        if cleared is not None:
            cleared.status, cleared.acted_by, cleared.acted_at = "resolved", FORECAST_ACTOR, now
            cleared.details = {**cleared.details, "resolved_by_forecast": str(forecast.id)}
    return announced


async def _lock(session: AsyncSession, item: ItemFacts, alert_type: str) -> None:
    key = f"forecast_alert:{item.site}:{item.id}:{alert_type}"
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": key})


async def _open_alert(
    session: AsyncSession, item: ItemFacts, alert_type: str
) -> ForecastAlert | None:
    return await session.scalar(
        select(ForecastAlert).where(
            ForecastAlert.site == item.site,
            ForecastAlert.item_id == item.id,
            ForecastAlert.alert_type == alert_type,
            ForecastAlert.status != "resolved",
        )
    )


async def _upsert(
    session: AsyncSession,
    *,
    item: ItemFacts,
    forecast: Forecast,
    raised: Raised,
    now: datetime,
) -> tuple[ForecastAlert, bool]:
    spec = raised.alert
    details: dict[str, Any] = {
        **raised.details,
        "explanation": forecast.explanation,
        "forecast_id": str(forecast.id),
        "forecast_type": forecast.forecast_type,
        "period": raised.details.get("period", forecast.period),
        "sku": item.sku,
        "item_name": item.name,
    }
    if raised.suggested is not None:
        details["suggested_action"] = raised.suggested
    await _lock(session, item, spec.alert_type)
    alert = await _open_alert(session, item, spec.alert_type)
    if alert is None:
        alert = ForecastAlert(
            id=uuid.uuid4(),
            site=item.site,
            item_id=item.id,
            sku=item.sku,
            forecast_id=forecast.id,
            alert_type=spec.alert_type,
            severity=spec.severity,
            message=spec.message,
            details=details,
            status="active",
        )
        session.add(alert)
        await session.flush()
        return alert, True
    worse = SEVERITIES.index(spec.severity) > SEVERITIES.index(alert.severity)  # type: ignore[arg-type]
    alert.severity, alert.message, alert.details = spec.severity, spec.message, details
    alert.forecast_id = forecast.id
    alert.updated_at = now
    if worse and alert.status != "active":
        alert.status, alert.snoozed_until = "active", None
    await session.flush()
    return alert, worse


# -- reads and actions (REST, Slack buttons and the agent's tools call these) --------------


def _check_filters(severity: list[str] | None, alert_type: str | None) -> None:
    for value in severity or []:
        if value not in SEVERITIES:
            raise ValidationFailed(
                f"unknown severity {value!r}; valid: {', '.join(SEVERITIES)}", field="severity"
            )
    if alert_type is not None and alert_type not in ALERT_TYPES:
        raise ValidationFailed(
            f"unknown alert type {alert_type!r}; valid: {', '.join(ALERT_TYPES)}",
            field="alert_type",
        )


async def list_active_alerts(
    session: AsyncSession,
    *,
    principal: Principal,
    severity: list[str] | None = None,
    alert_type: str | None = None,
    sku: str | None = None,
    site: str | None = None,
    limit: int = 100,
    now: datetime | None = None,
) -> list[AlertRead]:
    """Open alerts on the principal's sites: active, acknowledged, and snoozed ones whose
    snooze has ended; the most severe and most recent first."""
    _check_filters(severity, alert_type)
    moment = now or datetime.now(UTC)
    stmt = select(ForecastAlert).where(
        or_(
            ForecastAlert.status.in_(("active", "acknowledged")),
            (ForecastAlert.status == "snoozed") & (ForecastAlert.snoozed_until <= moment),
        )
    )
    sites = principal.site_filter()
    if sites is not None:
        stmt = stmt.where(ForecastAlert.site.in_(sites))
    if site is not None:
        stmt = stmt.where(ForecastAlert.site == site)
    if severity:
        stmt = stmt.where(ForecastAlert.severity.in_(severity))
    if alert_type is not None:
        stmt = stmt.where(ForecastAlert.alert_type == alert_type)
    if sku is not None:
        stmt = stmt.where(func.lower(ForecastAlert.sku) == sku.lower())
    rank = case({name: i for i, name in enumerate(SEVERITIES)}, value=ForecastAlert.severity)
    rows = await session.scalars(
        stmt.order_by(rank.desc(), ForecastAlert.updated_at.desc()).limit(max(1, limit))
    )
    return [alert_read(a) for a in rows.all()]


# The Slack home tab's name for the same list.
active_alerts = list_active_alerts

# What `alerts_raised_since` reports of each announcement (the event carries much more).
CHANGE_FIELDS = ("alert_id", "site", "sku", "alert_type", "severity", "message")


async def alerts_raised_since(
    session: AsyncSession, *, principal: Principal, site: str, since: datetime, limit: int = 50
) -> list[dict[str, Any]]:
    """The alerts announced as new or worse at `site` after `since`: the latest announcement
    of each, oldest first. Only new or worse alerts emit `alert.raised`, so this is the list
    of changes a digest reports, never a second copy of an unchanged alert."""
    if not principal.sees_site(site):
        return []
    events = await session.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.event_type == ALERT_RAISED, OutboxEvent.site == site,
               OutboxEvent.created_at > since)
        .order_by(OutboxEvent.id)
    )  # fmt: skip
    latest: dict[str, dict[str, Any]] = {}
    for event in events.all():
        latest.pop(event.aggregate_id, None)  # a later announcement moves it to the end
        latest[event.aggregate_id] = {
            **{k: event.payload.get(k) for k in CHANGE_FIELDS},
            "raised_at": event.created_at.isoformat(),
        }
    return list(latest.values())[-max(1, limit) :]


async def _visible(
    session: AsyncSession, alert_id: uuid.UUID, principal: Principal
) -> ForecastAlert:
    alert = await session.get(ForecastAlert, alert_id, with_for_update=True)
    if alert is None or not principal.sees_site(alert.site):
        raise NotFoundError(f"no alert {alert_id}", field="alert_id")
    return alert


async def get_alert(
    session: AsyncSession, *, alert_id: uuid.UUID, principal: Principal
) -> AlertRead:
    alert = await session.get(ForecastAlert, alert_id)
    if alert is None or not principal.sees_site(alert.site):
        raise NotFoundError(f"no alert {alert_id}", field="alert_id")
    return alert_read(alert)


async def _act(
    session: AsyncSession,
    alert: ForecastAlert,
    *,
    status: str,
    principal: Principal,
    extra: dict[str, Any],
) -> AlertRead:
    if alert.status == "resolved":
        raise ConflictError(f"alert {alert.id} is already resolved", field="alert_id")
    now = datetime.now(UTC)
    before = alert.status
    alert.status, alert.acted_by, alert.acted_at = status, principal.external_id, now
    alert.updated_at = now
    alert.snoozed_until = extra.get("until") if status == "snoozed" else None
    await audit(
        session,
        actor=principal,
        event_type=f"alert.{status}",
        subject=str(alert.id),
        details={
            "sku": alert.sku,
            "alert_type": alert.alert_type,
            "from": before,
            **{k: v.isoformat() if isinstance(v, datetime) else v for k, v in extra.items()},
        },
        site=alert.site,
    )
    await session.flush()
    return alert_read(alert)


async def acknowledge_alert(
    session: AsyncSession, *, alert_id: uuid.UUID, principal: Principal
) -> AlertRead:
    """Someone is on it: the alert stays listed, marked acknowledged by `principal`."""
    alert = await _visible(session, alert_id, principal)
    return await _act(session, alert, status="acknowledged", principal=principal, extra={})


async def snooze_alert(
    session: AsyncSession, *, alert_id: uuid.UUID, until: datetime, principal: Principal
) -> AlertRead:
    """Hide the alert until `until` (at most 90 days ahead); a worse run brings it back."""
    if until.tzinfo is None:
        raise ValidationFailed("give the snooze end with a time zone", field="until")
    now = datetime.now(UTC)
    if until <= now or until - now > MAX_SNOOZE:
        raise ValidationFailed("a snooze ends in the future and within 90 days", field="until")
    alert = await _visible(session, alert_id, principal)
    return await _act(session, alert, status="snoozed", principal=principal, extra={"until": until})


async def resolve_alert(
    session: AsyncSession, *, alert_id: uuid.UUID, principal: Principal, note: str | None = None
) -> AlertRead:
    """Close the alert; the next run that finds the problem again opens a new one."""
    alert = await _visible(session, alert_id, principal)
    return await _act(
        session, alert, status="resolved", principal=principal, extra={"note": note} if note else {}
    )
