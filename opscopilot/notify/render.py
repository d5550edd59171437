"""From a claimed notification row to the message a channel adapter sends.

The template is the newest active stored one for the notification's type and channel, or
the shipped default. The render context is the common variables (title, message,
severity, site, created_at in the recipient's time zone, recipient_name, link) plus the
row's ``payload["vars"]``. A template that cannot be rendered with what the row carries
falls back to the generic default, so a message always goes out.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.notify.channels.base import Action, DeliveryResult, OutgoingMessage
from opscopilot.notify.filters import Severity
from opscopilot.notify.templates import (
    GENERIC,
    NotificationTemplate,
    TemplateRenderError,
    default_template,
    render_template,
)
from opscopilot.store.models import NotificationTemplate as TemplateRow

log = logging.getLogger(__name__)

TEMPLATE_CACHE_S = 5.0


@dataclass(frozen=True, slots=True)
class ClaimedRow:
    """The parts of a notification row (and its user) that delivery needs."""

    id: uuid.UUID
    channel: str
    address: str | None
    title: str
    message: str
    notification_type: str
    severity: str
    site: str | None
    payload: dict[str, Any]
    attempts: int
    created_at: datetime
    provider_message_id: str | None
    provider_conversation_id: str | None
    recipient_name: str | None
    timezone: str


class TemplateCache:
    """Stored templates by (type, channel). The relay refreshes them when it claims rows
    (`refresh`, after a few seconds); deliveries read what is there (`peek`), so a busy
    relay asks the database once per type and channel, not once per message."""

    def __init__(self, ttl_s: float = TEMPLATE_CACHE_S) -> None:
        self._ttl = ttl_s
        self._entries: dict[tuple[str, str], tuple[float, NotificationTemplate]] = {}

    def peek(self, notification_type: str, channel: str) -> NotificationTemplate | None:
        hit = self._entries.get((notification_type, channel))
        return hit[1] if hit is not None else None

    def stale(self, notification_type: str, channel: str) -> bool:
        hit = self._entries.get((notification_type, channel))
        return hit is None or time.monotonic() - hit[0] >= self._ttl

    async def refresh(
        self, session: AsyncSession, notification_type: str, channel: str
    ) -> NotificationTemplate:
        key = (notification_type, channel)
        hit = self._entries.get(key)
        if hit is not None and time.monotonic() - hit[0] < self._ttl:
            return hit[1]
        template = await stored_template(session, notification_type, channel)
        self._entries[key] = (time.monotonic(), template)
        return template


async def stored_template(
    session: AsyncSession, notification_type: str, channel: str
) -> NotificationTemplate:
    row = await session.scalar(
        select(TemplateRow)
        .where(
            TemplateRow.notification_type == notification_type,
            TemplateRow.channel == channel,
            TemplateRow.is_active.is_(True),
        )
        .order_by(TemplateRow.created_at.desc(), TemplateRow.version.desc())
        .limit(1)
    )
    if row is None:
        return shipped_template(notification_type)
    return NotificationTemplate(
        name=notification_type,
        subject=row.subject or "{{ title }}",
        text=row.body_text,
        html=row.body_html,
        slack_blocks=row.slack_blocks,
    )


@cache
def shipped_template(notification_type: str) -> NotificationTemplate:
    """The default shipped in the package, read from disk once."""
    return default_template(notification_type)


def context_for(row: ClaimedRow) -> dict[str, Any]:
    try:
        zone = ZoneInfo(row.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    variables = row.payload.get("vars") or {}
    common = {
        "title": row.title,
        "message": row.message,
        "severity": row.severity,
        "notification_type": row.notification_type,
        "site": row.site or "",
        "created_at": row.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z"),
        "recipient_name": row.recipient_name or "",
        "link": row.payload.get("link") or "",
    }
    return {**variables, **common} if isinstance(variables, dict) else common


def build_message(
    row: ClaimedRow, template: NotificationTemplate, *, chart_png: bytes | None = None
) -> OutgoingMessage:
    if row.address is None:
        raise ValueError("a claimed notification always has an address")
    context = context_for(row)
    try:
        rendered = render_template(_for_channel(template, row.channel), context)
    except TemplateRenderError as exc:
        log.warning(
            "template failed, using the generic one",
            extra={"notification_id": str(row.id), "error": exc.message},
        )
        rendered = render_template(_for_channel(shipped_template(GENERIC), row.channel), context)
    previous = None
    if row.provider_message_id and row.provider_conversation_id:
        previous = DeliveryResult(
            provider_message_id=row.provider_message_id,
            conversation_id=row.provider_conversation_id,
        )
    return OutgoingMessage(
        notification_id=row.id,
        recipient=row.address,
        title=rendered.subject,
        text=rendered.text,
        severity=Severity(row.severity),
        notification_type=row.notification_type,
        html=rendered.html,
        actions=actions_of(row.payload),
        chart_png=chart_png,
        slack_blocks=rendered.slack_blocks,
        previous=previous,
    )


def _for_channel(template: NotificationTemplate, channel: str) -> NotificationTemplate:
    """Only the parts this channel sends: the relay renders every message."""
    return replace(
        template,
        html=template.html if channel == "email" else None,
        slack_blocks=template.slack_blocks if channel == "slack" else None,
    )


def actions_of(payload: dict[str, Any]) -> tuple[Action, ...]:
    actions = []
    for raw in payload.get("actions") or []:
        if isinstance(raw, dict) and raw.get("id") and raw.get("label") and raw.get("value"):
            style = raw.get("style")
            actions.append(
                Action(
                    id=str(raw["id"]),
                    label=str(raw["label"]),
                    value=str(raw["value"]),
                    style=style if style in ("primary", "danger") else None,
                )
            )
    return tuple(actions)
