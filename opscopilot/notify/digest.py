"""Digests: info-level items a user asked to get together, one message per period.

An item held for a digest is a notification row in ``deferred`` with reason ``digest`` and
``next_attempt_at`` at the end of its period (``preferences.digest_due_at``: the next full
hour, or 08:00 next in the user's time zone). When that time passes, ``collect_digests``
writes one digest notification per user and channel listing the items; the items then
point at it ("in digest <id>") and take its final status (sent, with its provider id, or
failed) when it is delivered.
The digest message itself honours quiet hours like any other info message.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.notify.filters import Deferred, Severity, decide_delivery
from opscopilot.notify.outbox import Draft, insert_planned, row_for
from opscopilot.notify.preferences import channel_preference
from opscopilot.store.models import Notification, NotificationPreference, User

DIGEST_TYPE = "digest"
_MAX_LINES = 50


def digest_text(items: list[Notification]) -> tuple[str, str]:
    """The digest's title and body: one line per item, oldest first."""
    count = len(items)
    title = f"{count} update{'s' if count != 1 else ''} for you"
    lines = [f"- {n.title}: {n.message.splitlines()[0] if n.message else ''}" for n in items]
    if count > _MAX_LINES:
        lines = lines[:_MAX_LINES] + [f"... and {count - _MAX_LINES} more"]
    return title, "\n".join(lines)


async def collect_digests(session: AsyncSession, *, now: datetime) -> list[uuid.UUID]:
    """Bundle the items whose period ended into digest notifications; returns their ids.

    Items are locked with SKIP LOCKED, so two relays never bundle the same item. The
    caller commits.
    """
    items = (
        await session.scalars(
            select(Notification)
            .where(
                Notification.status == "deferred",
                Notification.reason == "digest",
                Notification.next_attempt_at <= now,
            )
            .order_by(Notification.created_at)
            .limit(5000)
            .with_for_update(skip_locked=True)
        )
    ).all()
    groups: dict[tuple[Any, str, str | None], list[Notification]] = defaultdict(list)
    for item in items:
        groups[(item.user_id, item.channel, item.address)].append(item)
    created: list[uuid.UUID] = []
    for (user_id, channel, address), members in groups.items():
        user = await session.get(User, user_id) if user_id is not None else None
        pref_row = None
        if user is not None:
            pref_row = await session.scalar(
                select(NotificationPreference).where(
                    NotificationPreference.user_id == user.id,
                    NotificationPreference.channel == channel,
                )
            )
        timezone = user.timezone if user is not None else "UTC"
        # The digest is info-level; only quiet hours can hold it back further.
        preference = channel_preference(pref_row, timezone=timezone)
        undigested = type(preference)(
            enabled=True,
            quiet_hours_start=preference.quiet_hours_start,
            quiet_hours_end=preference.quiet_hours_end,
            timezone=preference.timezone,
        )
        decision = decide_delivery(preference=undigested, severity=Severity.INFO, at=now)
        title, body = digest_text(list(members))
        draft = Draft(
            title=title,
            message=body,
            notification_type=DIGEST_TYPE,
            severity=Severity.INFO,
            site=members[0].site,
            payload={"digest_of": [str(m.id) for m in members]},
        )
        status, reason, due = "queued", None, now
        if isinstance(decision, Deferred):
            status, reason, due = "deferred", "quiet_hours", decision.until
        planned = row_for(
            draft, channel, address, user_id, status, reason, due, f"digest:{members[0].id}"
        )
        # The items were locked above, so no other relay can have bundled them.
        await insert_planned(session, [planned])
        digest_id = planned.id
        await session.execute(
            update(Notification)
            .where(Notification.id.in_([m.id for m in members]))
            .values(reason=f"in digest {digest_id}", next_attempt_at=None, updated_at=now)
        )
        created.append(digest_id)
    return created
