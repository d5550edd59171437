"""Notification rows: the delivery outbox that the relay drains.

Whoever wants something delivered (a send, an alert event, an escalation, a digest) writes
notification rows here inside its own transaction; nothing talks to a provider before that
transaction commits, and a rolled-back transaction leaves nothing to deliver. Each row is
decided when it is written: queued (due now), deferred (quiet hours, or held for a digest),
suppressed with the reason, or failed when there is no address to deliver to.

Rows are inserted with ``ON CONFLICT DO NOTHING``: the unique idempotency key and the
unique (alert, user, channel, escalation level) index make writing the same notification
twice a no-op, so events can be read any number of times.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.core.metrics import NOTIFICATIONS
from opscopilot.notify.filters import Deferred, Digest, Severity, Suppressed, decide_delivery
from opscopilot.notify.preferences import (
    Recipient,
    channel_preference,
    digest_due_at,
    effective_address,
)
from opscopilot.store.models import Notification

# The relay LISTENs here; a commit that queued something due now wakes it at once.
WAKE_CHANNEL = "opscopilot_notify"


@dataclass(frozen=True, slots=True)
class Draft:
    """What is said, to whom it goes being decided per channel."""

    title: str
    message: str
    notification_type: str
    severity: Severity
    site: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    alert_id: uuid.UUID | None = None
    escalation_level: int = 0


@dataclass(frozen=True, slots=True)
class Planned:
    values: dict[str, Any]

    @property
    def id(self) -> uuid.UUID:
        value: uuid.UUID = self.values["id"]
        return value


def plan_for_user(
    draft: Draft,
    recipient: Recipient,
    *,
    channels: list[str] | None,
    now: datetime,
    key: str,
) -> list[Planned]:
    """One row per channel (given, or every channel the user has); never none.

    `key` prefixes each row's idempotency key (the channel is appended).
    """
    user = recipient.user
    chosen = channels if channels is not None else recipient.candidate_channels()
    if not chosen:
        nothing = f"user {user.external_id!r} has no channel: no preference and no contact"
        return [row_for(draft, "email", None, user.id, "failed", nothing, None, f"{key}:email")]
    planned = []
    for channel in chosen:
        row = recipient.rows.get(channel)
        preference = channel_preference(row, timezone=user.timezone)
        decision = decide_delivery(preference=preference, severity=draft.severity, at=now)
        address = effective_address(user, channel, row)
        status: str = "queued"
        reason: str | None = None
        due: datetime | None = now
        if isinstance(decision, Suppressed):
            status, reason, due = "suppressed", decision.reason.value, None
        elif address is None:
            status, due = "failed", None
            reason = f"no {channel} address for user {user.external_id!r}"
        elif isinstance(decision, Deferred):
            status, reason, due = "deferred", "quiet_hours", decision.until
        elif isinstance(decision, Digest) and row is not None and row.digest is not None:
            due = digest_due_at(row.digest, at=now, timezone=preference.timezone)
            status, reason = "deferred", "digest"
        planned.append(
            row_for(draft, channel, address, user.id, status, reason, due, f"{key}:{channel}")
        )
    return planned


def plan_for_address(
    draft: Draft, *, channel: str, address: str, now: datetime, key: str
) -> Planned:
    """A row for a shared destination (a Slack channel, a team webhook): no preferences."""
    return row_for(draft, channel, address, None, "queued", None, now, key)


async def insert_planned(session: AsyncSession, planned: list[Planned]) -> list[uuid.UUID]:
    """Insert the rows; returns the ids actually inserted (a repeat inserts nothing)."""
    if not planned:
        return []
    columns: list[Any] = [Notification.id]
    if any(p.values["status"] == "queued" for p in planned):
        # Wakes a LISTENing relay at commit; repeats within a transaction fold into one.
        columns.append(func.pg_notify(WAKE_CHANNEL, ""))
    # executemany form: one compiled statement, cached, whatever the number of rows.
    stmt = insert(Notification).on_conflict_do_nothing().returning(*columns)
    fresh = set((await session.scalars(stmt, [p.values for p in planned])).all())
    for p in planned:
        if p.id in fresh and p.values["status"] in ("suppressed", "failed"):
            NOTIFICATIONS.labels(channel=p.values["channel"], status=p.values["status"]).inc()
    return [p.id for p in planned if p.id in fresh]


def row_for(
    draft: Draft,
    channel: str,
    address: str | None,
    user_id: uuid.UUID | None,
    status: str,
    reason: str | None,
    due: datetime | None,
    key: str,
) -> Planned:
    return Planned(
        {
            "id": uuid.uuid4(),
            "user_id": user_id,
            "alert_id": draft.alert_id,
            "escalation_level": draft.escalation_level,
            "site": draft.site,
            "title": draft.title,
            "message": draft.message,
            "notification_type": draft.notification_type,
            "severity": draft.severity.value,
            "channel": channel,
            "address": address,
            "status": status,
            "reason": reason,
            "attempts": 0,
            "next_attempt_at": due,
            "idempotency_key": key[:200],
            "last_error": reason if status == "failed" else None,
            "payload": draft.payload,
        }
    )
