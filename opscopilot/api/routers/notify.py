"""Notifications over HTTP: send, track, preferences; templates, routing and on-call
(admin) in `notify_admin`. Thin adapters over `opscopilot.notify`."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Query

from opscopilot.access.roles import Principal
from opscopilot.api.deps import Session, SettingsDep, Viewer, Writer
from opscopilot.api.routers.notify_admin import router as admin_router
from opscopilot.core.errors import NotFoundError, PermissionDenied
from opscopilot.notify import service
from opscopilot.notify.schemas import (
    NotificationPage,
    NotificationRead,
    PreferenceRead,
    PreferenceWrite,
    SendRequest,
    SendResult,
    UserPreferences,
)

router = APIRouter(prefix="/api/v1", tags=["notifications"])
router.include_router(admin_router)


def _self_or_operator(principal: Principal, user_id: str) -> None:
    if not principal.can("operator") and principal.external_id != user_id:
        raise PermissionDenied("you may only see and change your own notification settings")


@router.post("/send", response_model=SendResult)
async def send(
    body: SendRequest,
    session: Session,
    caller: Writer,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=100)] = None,
) -> SendResult:
    """Queue a notification; delivery follows the commit. Omit `channel` for every
    channel the user has enabled."""
    result = await service.send_notification(
        session,
        user_id=body.user_id,
        title=body.title,
        message=body.message,
        notification_type=body.notification_type,
        severity=body.severity,
        channel=body.channel,
        site=body.site,
        data=body.data,
        actions=[a.model_dump() for a in body.actions],
        request_key=idempotency_key,
        caller=caller.external_id,
    )
    await session.commit()
    return result


@router.get("/notifications", response_model=NotificationPage)
async def list_notifications(
    session: Session,
    principal: Viewer,
    user_id: str | None = None,
    status: str | None = None,
    channel: str | None = None,
    alert_id: UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> NotificationPage:
    if not principal.can("operator"):
        user_id = user_id or principal.external_id
        _self_or_operator(principal, user_id)
    return await service.list_notifications(
        session,
        user_id=user_id,
        status=status,
        channel=channel,
        alert_id=alert_id,
        limit=limit,
        offset=offset,
    )


@router.get("/notifications/{notification_id}", response_model=NotificationRead)
async def get_notification(
    notification_id: UUID, session: Session, principal: Viewer
) -> NotificationRead:
    found = await service.get_notification(session, notification_id=notification_id)
    if not principal.can("operator") and found.user_id != principal.external_id:
        raise NotFoundError(f"no notification {notification_id}", field="notification_id")
    return found


@router.post("/preferences", response_model=PreferenceRead)
async def set_preferences(
    body: PreferenceWrite, session: Session, settings: SettingsDep, principal: Viewer
) -> PreferenceRead:
    """Set one channel's preference for a user (created if unknown); replaces it."""
    _self_or_operator(principal, body.user_id)
    saved = await service.set_preferences(
        session,
        user_id=body.user_id,
        channel=body.channel,
        address=body.address,
        enabled=body.enabled,
        min_severity=body.min_severity,
        quiet_hours_start=body.quiet_hours_start,
        quiet_hours_end=body.quiet_hours_end,
        timezone=body.timezone,
        critical_breaks_quiet_hours=body.critical_breaks_quiet_hours,
        digest=body.digest,
        webhook_allowlist=settings.notify.webhook_allowlist,
    )
    await session.commit()
    return saved


@router.get("/preferences/{user_id}", response_model=UserPreferences)
async def get_preferences(user_id: str, session: Session, principal: Viewer) -> UserPreferences:
    _self_or_operator(principal, user_id)
    return await service.get_preferences(session, user_id=user_id)


@router.get("/preferences", response_model=UserPreferences)
async def get_preferences_query(
    session: Session, principal: Viewer, user_id: str | None = None
) -> UserPreferences:
    who = user_id or principal.external_id
    _self_or_operator(principal, who)
    return await service.get_preferences(session, user_id=who)
