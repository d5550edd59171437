"""Escalation: a critical alert nobody acknowledged goes to the next person on call.

Alerts routed through an on-call role carry the route (site, role, position on the list)
in their notifications' payload. When the newest escalation level of a still-active
critical alert is older than ``notify.escalation_after_s``, the next person on that list
gets the alert at level + 1. Acknowledging, snoozing or resolving the alert stops it; the
end of the list stops it too. Writing level + 1 is idempotent (the unique index), so
overlapping runs cannot page someone twice.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.core.settings import Settings
from opscopilot.notify.filters import Severity
from opscopilot.notify.outbox import Draft, insert_planned, plan_for_user
from opscopilot.notify.preferences import load_recipient
from opscopilot.notify.routing import on_call_after
from opscopilot.store.models import ForecastAlert, Notification

_DUE = text(
    """
    SELECT n.alert_id, n.escalation_level AS level,
           n.payload -> 'route' ->> 'site' AS site,
           n.payload -> 'route' ->> 'role' AS role,
           max((n.payload -> 'route' ->> 'position')::int) AS position,
           (array_agg(n.id ORDER BY n.created_at))[1] AS sample_id
    FROM notifications AS n
    JOIN forecast_alerts AS a ON a.id = n.alert_id
    WHERE a.status = 'active' AND a.severity = 'critical'
      AND n.payload -> 'route' ->> 'role' IS NOT NULL
      AND n.escalation_level = (
          SELECT max(m.escalation_level) FROM notifications AS m WHERE m.alert_id = n.alert_id
      )
    GROUP BY n.alert_id, n.escalation_level, 3, 4
    HAVING min(n.created_at) <= :cutoff
    LIMIT :limit
    """
)


async def escalate_due(
    session: AsyncSession, *, settings: Settings, now: datetime, limit: int = 100
) -> list[uuid.UUID]:
    """Page the next person for each overdue alert; returns the new notification ids.

    The caller commits.
    """
    cutoff = now - timedelta(seconds=settings.notify.escalation_after_s)
    due = (await session.execute(_DUE, {"cutoff": cutoff, "limit": limit})).all()
    created: list[uuid.UUID] = []
    for alert_id, level, site, role, position, sample_id in due:
        following = await on_call_after(session, site=site, role=role, position=position)
        if following is None:
            continue
        user, next_position = following
        sample = await session.get(Notification, sample_id)
        if sample is None:
            continue
        minutes = round(settings.notify.escalation_after_s / 60)
        route = {**sample.payload.get("route", {}), "position": next_position}
        draft = Draft(
            title=sample.title,
            message=f"Escalated: not acknowledged within {minutes} min.\n\n{sample.message}",
            notification_type=sample.notification_type,
            severity=Severity(sample.severity),
            site=sample.site,
            payload={**sample.payload, "route": route},
            alert_id=alert_id,
            escalation_level=level + 1,
        )
        recipient = await load_recipient(session, user)
        channel = route.get("channel")
        planned = plan_for_user(
            draft,
            recipient,
            channels=[channel] if channel else None,
            now=now,
            key=f"alert:{alert_id}:{user.id}:{level + 1}",
        )
        created += await insert_planned(session, planned)
        await session.execute(
            update(ForecastAlert)
            .where(ForecastAlert.id == alert_id, ForecastAlert.escalation_level < level + 1)
            .values(escalation_level=level + 1)
        )
    return created
