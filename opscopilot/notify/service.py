"""Sending and tracking notifications: the functions routes, jobs and agent tools call.

`send_notification` writes the notification rows (one per channel) in the caller's
transaction and returns their ids and statuses at once; the relay delivers them after the
commit. Nothing is dropped silently: a channel the user disabled, a severity below their
minimum or a repeat of the same message within a few minutes is recorded as suppressed
with the reason, and a channel without an address as failed with the reason.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.access.service import find_user, get_or_create_user
from opscopilot.core.errors import ConflictError, NotFoundError, ValidationFailed
from opscopilot.notify.filters import parse_severity
from opscopilot.notify.outbox import Draft, Planned, plan_for_user
from opscopilot.notify.preferences import get_preferences, parse_channel, set_preferences
from opscopilot.notify.recipients import CACHE, cache_key, insert_checked, load_snapshot
from opscopilot.notify.schemas import (
    NotificationPage,
    NotificationRead,
    NotificationSummary,
    SendResult,
)
from opscopilot.store.models import Notification, User
from opscopilot.store.models.notify import NOTIFICATION_STATUSES

__all__ = [
    "get_notification",
    "get_preferences",
    "list_notifications",
    "send_notification",
    "set_preferences",
]

MAX_PAGE = 500
# A send whose user's preferences change between its read and its insert reads again.
MAX_PLAN_ATTEMPTS = 3


async def send_notification(
    session: AsyncSession,
    *,
    user_id: str,
    title: str,
    message: str,
    notification_type: str = "general",
    severity: str = "info",
    channel: str | None = None,
    site: str | None = None,
    data: dict[str, Any] | None = None,
    actions: list[dict[str, Any]] | None = None,
    request_key: str | None = None,
    caller: str = "system",
    now: datetime | None = None,
) -> SendResult:
    """Queue a notification to a user (created if unknown) on one or every channel.

    `request_key` (an Idempotency-Key) makes a repeated request return the first one's
    notifications. The caller commits.
    """
    level = parse_severity(severity)
    channels = [parse_channel(channel)] if channel else None
    if request_key:
        prefix = f"req:{caller}:{request_key}"[:150]
        earlier = await _by_key_prefix(session, prefix)
        if earlier:
            return _result(earlier)
        key = prefix
    else:
        key = f"send:{uuid.uuid4()}"
    at = now or datetime.now(UTC)
    fingerprint = _fingerprint(title, message, notification_type, level.value)
    payload: dict[str, Any] = {"vars": data or {}, "content_hash": fingerprint}
    if actions:
        payload["actions"] = actions
    draft = Draft(
        title=title,
        message=message,
        notification_type=notification_type,
        severity=level,
        site=site,
        payload=payload,
    )
    planned = await _plan_and_insert(session, draft, user_id, channels, at, key, fingerprint)
    if request_key:
        return _result(await _by_key_prefix(session, key))
    return _result([p.values for p in planned])


async def list_notifications(
    session: AsyncSession,
    *,
    user_id: str | None = None,
    status: str | None = None,
    channel: str | None = None,
    alert_id: uuid.UUID | None = None,
    limit: int = 50,
    offset: int = 0,
) -> NotificationPage:
    """Newest first."""
    stmt = select(Notification, User.external_id).outerjoin(User, User.id == Notification.user_id)
    if user_id is not None:
        user = await find_user(session, external_id=user_id)
        stmt = stmt.where(Notification.user_id == user.id)
    if status is not None:
        if status not in NOTIFICATION_STATUSES:
            raise ValidationFailed(
                f"unknown status {status!r}; valid: {', '.join(NOTIFICATION_STATUSES)}",
                field="status",
                details={"valid": list(NOTIFICATION_STATUSES)},
            )
        stmt = stmt.where(Notification.status == status)
    if channel is not None:
        stmt = stmt.where(Notification.channel == parse_channel(channel))
    if alert_id is not None:
        stmt = stmt.where(Notification.alert_id == alert_id)
    limit = max(1, min(limit, MAX_PAGE))
    stmt = stmt.order_by(Notification.created_at.desc(), Notification.id).limit(limit)
    rows = (await session.execute(stmt.offset(max(offset, 0)))).tuples()
    return NotificationPage(
        items=[_read(n, external) for n, external in rows], limit=limit, offset=offset
    )


async def get_notification(
    session: AsyncSession, *, notification_id: uuid.UUID
) -> NotificationRead:
    row = (
        await session.execute(
            select(Notification, User.external_id)
            .outerjoin(User, User.id == Notification.user_id)
            .where(Notification.id == notification_id)
        )
    ).first()
    if row is None:
        raise NotFoundError(f"no notification {notification_id}", field="notification_id")
    return _read(row[0], row[1])


async def _plan_and_insert(
    session: AsyncSession,
    draft: Draft,
    user_id: str,
    channels: list[str] | None,
    at: datetime,
    key: str,
    fingerprint: str,
) -> list[Planned]:
    """Decide each row from the user's preferences (cached; see recipients.py) and insert
    them, in one statement when the cached preferences are still current."""
    cached = cache_key(session, user_id)
    for _ in range(MAX_PLAN_ATTEMPTS):
        snapshot = CACHE.get(cached)
        if snapshot is None:
            snapshot = await load_snapshot(session, user_id)
            if snapshot is None:  # an unknown user is created, in the caller's transaction
                await get_or_create_user(session, external_id=user_id)
                snapshot = await load_snapshot(session, user_id)
                assert snapshot is not None
            CACHE.put(cached, snapshot)
        planned = plan_for_user(draft, snapshot.recipient(), channels=channels, now=at, key=key)
        if await insert_checked(
            session,
            planned,
            user_id=snapshot.user["id"],
            version=snapshot.version,
            content_hash=fingerprint,
        ):
            return planned
        CACHE.drop(cached)  # changed since it was read: read again
    raise ConflictError(
        f"the preferences of user {user_id!r} kept changing during the send; retry",
        field="user_id",
    )


async def _by_key_prefix(session: AsyncSession, prefix: str) -> list[dict[str, Any]]:
    rows = await session.scalars(
        select(Notification)
        .where(Notification.idempotency_key.startswith(prefix + ":", autoescape=True))
        .order_by(Notification.channel)
    )
    return [
        {"id": n.id, "channel": n.channel, "status": n.status, "reason": n.reason} for n in rows
    ]


def _result(rows: list[dict[str, Any]]) -> SendResult:
    items = [
        NotificationSummary(
            id=r["id"], channel=r["channel"], status=r["status"], reason=r["reason"]
        )
        for r in rows
    ]
    return SendResult(notification_id=items[0].id, status=items[0].status, notifications=items)


def _fingerprint(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def _read(row: Notification, external_id: str | None) -> NotificationRead:
    return NotificationRead(
        id=row.id,
        user_id=external_id,
        alert_id=row.alert_id,
        escalation_level=row.escalation_level,
        site=row.site,
        title=row.title,
        message=row.message,
        notification_type=row.notification_type,
        severity=row.severity,
        channel=row.channel,
        address=row.address,
        status=row.status,
        reason=row.reason,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        idempotency_key=row.idempotency_key,
        provider_message_id=row.provider_message_id,
        provider_conversation_id=row.provider_conversation_id,
        last_error=row.last_error,
        payload=row.payload,
        created_at=row.created_at,
        updated_at=row.updated_at,
        sent_at=row.sent_at,
    )
