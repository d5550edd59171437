"""Stored templates: named, per notification type and channel, with versions.

Saving a name again for a channel adds a version and retires the older ones; the relay
uses the newest active template for a notification's type and channel, or the shipped
default when there is none. Every version is checked before it is stored (syntax with the
line, variables the type does not provide by name, a render of sample values), so a bad
template is a 422 now rather than a broken message later.
"""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.core.errors import NotFoundError
from opscopilot.notify.events import ALERT_VARIABLES
from opscopilot.notify.preferences import parse_channel
from opscopilot.notify.schemas import TemplateRead, TemplateWrite
from opscopilot.notify.templates import (
    FORECAST_ALERT_TYPES,
    NotificationTemplate,
    declared_variables,
    validate_template,
)
from opscopilot.store.models import NotificationTemplate as TemplateRow


def variables_for(notification_type: str) -> frozenset[str]:
    """What the render context holds for this type (alerts add the alert's own fields)."""
    declared = declared_variables(notification_type)
    if notification_type in FORECAST_ALERT_TYPES:
        declared |= frozenset(ALERT_VARIABLES)
    return declared


async def save_template(
    session: AsyncSession, *, template: TemplateWrite, created_by: str | None
) -> TemplateRead:
    channel = parse_channel(template.channel)
    variables = variables_for(template.notification_type)
    validate_template(
        NotificationTemplate(
            name=template.notification_type,
            subject=template.subject,
            text=template.text,
            html=template.html,
            slack_blocks=template.slack_blocks,
        ),
        declared=variables,
    )
    # Versions of one name and channel are numbered in order; the lock keeps two saves
    # from taking the same number.
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtext(f"template:{template.name}:{channel}")))
    )
    latest = await session.scalar(
        select(func.max(TemplateRow.version)).where(
            TemplateRow.name == template.name, TemplateRow.channel == channel
        )
    )
    await session.execute(
        update(TemplateRow)
        .where(TemplateRow.name == template.name, TemplateRow.channel == channel)
        .values(is_active=False)
    )
    row = TemplateRow(
        name=template.name,
        notification_type=template.notification_type,
        channel=channel,
        version=(latest or 0) + 1,
        subject=template.subject,
        body_text=template.text,
        body_html=template.html,
        slack_blocks=template.slack_blocks,
        variables=sorted(variables),
        is_active=True,
        created_by=created_by,
    )
    session.add(row)
    await session.flush()
    await session.refresh(row)
    return to_read(row)


async def list_templates(
    session: AsyncSession, *, notification_type: str | None = None, channel: str | None = None
) -> list[TemplateRead]:
    """The active version of every stored template."""
    stmt = select(TemplateRow).where(TemplateRow.is_active.is_(True))
    if notification_type is not None:
        stmt = stmt.where(TemplateRow.notification_type == notification_type)
    if channel is not None:
        stmt = stmt.where(TemplateRow.channel == parse_channel(channel))
    stmt = stmt.order_by(TemplateRow.name, TemplateRow.channel)
    return [to_read(r) for r in (await session.scalars(stmt)).all()]


async def template_versions(
    session: AsyncSession, *, name: str, channel: str | None = None
) -> list[TemplateRead]:
    stmt = select(TemplateRow).where(TemplateRow.name == name)
    if channel is not None:
        stmt = stmt.where(TemplateRow.channel == parse_channel(channel))
    rows = (await session.scalars(stmt.order_by(TemplateRow.channel, TemplateRow.version))).all()
    if not rows:
        raise NotFoundError(f"no template named {name!r}", field="name")
    return [to_read(r) for r in rows]


async def retire_template(session: AsyncSession, *, name: str, channel: str | None = None) -> int:
    """Deactivate every version (kept for the record); the default applies again."""
    stmt = update(TemplateRow).where(TemplateRow.name == name, TemplateRow.is_active.is_(True))
    if channel is not None:
        stmt = stmt.where(TemplateRow.channel == parse_channel(channel))
    result = await session.execute(stmt.values(is_active=False))
    count = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if count == 0:
        raise NotFoundError(f"no active template named {name!r}", field="name")
    return count


def to_read(row: TemplateRow) -> TemplateRead:
    return TemplateRead(
        id=row.id,
        name=row.name,
        notification_type=row.notification_type,
        channel=row.channel,
        version=row.version,
        subject=row.subject,
        text=row.body_text,
        html=row.body_html,
        slack_blocks=row.slack_blocks,
        variables=list(row.variables),
        is_active=row.is_active,
        created_by=row.created_by,
        created_at=row.created_at,
    )
