"""``alert.raised``: the event forecasting writes with an alert, and how notify reads it.

The contract (forecasting writes this row in the SAME transaction as the alert insert or
update, so an alert that rolls back announces nothing)::

    INSERT INTO outbox_events (event_type, aggregate_type, aggregate_id, site, payload)
    VALUES ('alert.raised', 'forecast_alert', '<alert uuid>', '<site>', '<payload json>')

    payload = {
      "alert_id": "<alert uuid>",          # required, the forecast_alerts.id
      "site": "main",                      # required
      "sku": "ITEM-001",                   # required
      "alert_type": "stockout_risk",       # required, one of templates.FORECAST_ALERT_TYPES
      "severity": "critical",              # required: info, warning, critical (or low...high)
      "message": "Projected stock ...",    # required, one or two sentences
      "title": "...",                      # optional; default "<Alert type>: <sku>"
      "item_name": "Component A",          # optional
      "item_category": "critical-parts",   # optional; routing rules may match on it
      "details": {                         # optional; the template variables of the type
        "explanation": "...",              #   (templates.TYPE_SAMPLES), plus explanation
        "on_hand": 40, "days_until_stockout": 4, ...
      },
      "chart_url": "/api/v1/forecasts/<item>/<type>/chart.png",  # optional, on our API
      "suggested_action": {"kind": "purchase_request", "label": "Draft a purchase request",
                           "details": {"quantity": 500}}         # optional
    }

``alert_raised_event(alert, ...)`` builds that row from a ``ForecastAlert`` (add it to the
session that holds the alert). Notify reads each event at least once and may read it
again; the notifications it writes are unique per (alert, recipient, channel, escalation
level), so a second read writes nothing. Buttons ride in each notification's payload as
actions whose ``value`` is the alert id: ``alert_ack``, ``alert_snooze_4h``,
``alert_snooze_1d``, ``alert_open_chat`` and ``alert_suggested_action`` (its value is JSON
with the alert id, kind and details); the Slack bot handles them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.core.errors import OpsCopilotError
from opscopilot.core.settings import Settings
from opscopilot.notify.filters import Severity, parse_severity
from opscopilot.notify.outbox import Draft, Planned, insert_planned, plan_for_address, plan_for_user
from opscopilot.notify.preferences import load_recipient
from opscopilot.notify.routing import AlertFacts, Target, targets_for
from opscopilot.store.models import ForecastAlert, OutboxEvent

log = logging.getLogger(__name__)

ALERT_RAISED = "alert.raised"
AGGREGATE = "forecast_alert"
# Variables every alert notification provides besides its type's (see templates.py).
ALERT_VARIABLES = ("alert_id", "alert_type", "sku", "item_name", "explanation", "chart_url")
# What a malformed event, or a row it cannot write, raises. A lost database connection is
# not among them, so an outage does not use up an event's attempts.
_BAD_EVENT = (ValidationError, OpsCopilotError, ValueError, LookupError, DataError, IntegrityError)


class SuggestedAction(BaseModel):
    kind: str = Field(min_length=1, max_length=64)
    label: str = Field(min_length=1, max_length=75)
    details: dict[str, Any] = Field(default_factory=dict)


class AlertRaised(BaseModel):
    alert_id: uuid.UUID
    site: str
    sku: str
    alert_type: str
    severity: str
    message: str
    title: str | None = None
    item_name: str | None = None
    item_category: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    chart_url: str | None = None
    suggested_action: SuggestedAction | None = None


def alert_raised_event(
    alert: ForecastAlert,
    *,
    item_name: str | None = None,
    item_category: str | None = None,
    chart_url: str | None = None,
    suggested_action: SuggestedAction | None = None,
    title: str | None = None,
) -> OutboxEvent:
    """The outbox row announcing `alert`; add it in the transaction that writes the alert."""
    if alert.id is None:
        alert.id = uuid.uuid4()
    payload = AlertRaised(
        alert_id=alert.id,
        site=alert.site,
        sku=alert.sku,
        alert_type=alert.alert_type,
        severity=alert.severity,
        message=alert.message,
        title=title,
        item_name=item_name,
        item_category=item_category,
        details=dict(alert.details or {}),
        chart_url=chart_url,
        suggested_action=suggested_action,
    )
    return OutboxEvent(
        event_type=ALERT_RAISED,
        aggregate_type=AGGREGATE,
        aggregate_id=str(alert.id),
        site=alert.site,
        payload=payload.model_dump(mode="json"),
    )


def alert_draft(event: AlertRaised, *, severity: Severity, public_url: str) -> Draft:
    explanation = str(event.details.get("explanation") or "")
    message = event.message
    if explanation and explanation not in message:
        message = f"{message}\n\n{explanation}"
    title = event.title or f"{event.alert_type.replace('_', ' ').capitalize()}: {event.sku}"
    variables = {
        **event.details,
        "alert_id": str(event.alert_id),
        "alert_type": event.alert_type,
        "sku": event.sku,
        "item_name": event.item_name or "",
        "explanation": explanation,
        "chart_url": event.chart_url or "",
    }
    payload: dict[str, Any] = {
        "vars": variables,
        "actions": alert_actions(event.alert_id, event.suggested_action),
        "link": f"{public_url.rstrip('/')}/?alert={event.alert_id}",
    }
    if event.chart_url:
        payload["chart_url"] = event.chart_url
    return Draft(
        title=title,
        message=message,
        notification_type=event.alert_type,
        severity=severity,
        site=event.site,
        payload=payload,
        alert_id=event.alert_id,
    )


def alert_actions(alert_id: uuid.UUID, suggested: SuggestedAction | None) -> list[dict[str, Any]]:
    value = str(alert_id)
    actions: list[dict[str, Any]] = [
        {"id": "alert_ack", "label": "Acknowledge", "value": value, "style": "primary"},
        {"id": "alert_snooze_4h", "label": "Snooze 4 h", "value": value, "style": None},
        {"id": "alert_snooze_1d", "label": "Snooze 1 day", "value": value, "style": None},
        {"id": "alert_open_chat", "label": "Open in web chat", "value": value, "style": None},
    ]
    if suggested is not None:
        detail = {"alert_id": value, "kind": suggested.kind, "details": suggested.details}
        actions.append(
            {
                "id": "alert_suggested_action",
                "label": suggested.label,
                "value": json.dumps(detail, separators=(",", ":"))[:2000],
                "style": None,
            }
        )
    return actions


def plan_for_targets(
    draft: Draft, targets: list[tuple[Target, Any]], *, now: datetime
) -> list[Planned]:
    """Rows for each (target, recipient preferences); shared addresses skip preferences."""
    planned: list[Planned] = []
    level = draft.escalation_level
    for target, recipient in targets:
        routed = draft
        if target.role is not None:
            route = {
                "rule_id": str(target.rule_id),
                "site": draft.site,
                "role": target.role,
                "position": target.position,
                "channel": target.channel,
            }
            routed = replace(draft, payload={**draft.payload, "route": route})
        if target.user is not None:
            planned += plan_for_user(
                routed,
                recipient,
                channels=[target.channel] if target.channel else None,
                now=now,
                key=f"alert:{draft.alert_id}:{target.user.id}:{level}",
            )
        elif target.channel is not None and target.address is not None:
            digest = hashlib.sha256(target.address.encode()).hexdigest()[:24]
            planned.append(
                plan_for_address(
                    routed,
                    channel=target.channel,
                    address=target.address,
                    now=now,
                    key=f"alert:{draft.alert_id}:{target.channel}:{digest}:{level}",
                )
            )
    unique: dict[str, Planned] = {}
    for p in planned:
        unique.setdefault(p.values["idempotency_key"], p)
    return list(unique.values())


async def process_alert_events(
    session: AsyncSession, *, settings: Settings, now: datetime, limit: int = 100
) -> int:
    """Turn pending alert.raised events into notifications; returns events handled.

    Events are locked with SKIP LOCKED (relays share them); one that fails is retried
    on the next pass and set aside with its error after `notify.max_attempts`. The
    caller commits.
    """
    events = (
        await session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.processed_at.is_(None), OutboxEvent.event_type == ALERT_RAISED)
            .order_by(OutboxEvent.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    for event in events:
        try:
            async with session.begin_nested():
                note = await _route(session, event, settings=settings, now=now)
        except _BAD_EVENT as exc:
            event.attempts += 1
            event.last_error = str(exc)[:2000]
            if event.attempts >= settings.notify.max_attempts:
                event.processed_at = now
            log.warning("alert event not routed", extra={"event_id": event.id, "error": str(exc)})
            continue
        event.processed_at = now
        event.last_error = note
    return len(events)


async def _route(
    session: AsyncSession, event: OutboxEvent, *, settings: Settings, now: datetime
) -> str | None:
    raised = AlertRaised.model_validate(event.payload)
    alert = await session.get(ForecastAlert, raised.alert_id)
    if alert is None:
        raise LookupError(f"alert {raised.alert_id} does not exist")
    if alert.status == "resolved":
        return "alert resolved before it was routed; nothing sent"
    severity = parse_severity(raised.severity)
    facts = AlertFacts(
        site=raised.site,
        alert_type=raised.alert_type,
        severity=severity,
        item_category=raised.item_category,
    )
    targets, notes = await targets_for(session, facts)
    fallback = settings.slack.alert_channel
    if not targets and fallback:
        targets = [Target(rule_id=uuid.UUID(int=0), channel="slack", address=fallback)]
    if not targets:
        return "; ".join(notes + ["no routing rule matched"])
    with_recipients = [
        (t, await load_recipient(session, t.user) if t.user is not None else None) for t in targets
    ]
    draft = alert_draft(raised, severity=severity, public_url=settings.api.public_url)
    await insert_planned(session, plan_for_targets(draft, with_recipients, now=now))
    return "; ".join(notes) or None
