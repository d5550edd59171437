"""Admin routes of notify: templates with versions, routing rules, on-call lists.

Mounted under /api/v1 by the `notify` router."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter

from opscopilot.access.service import audit
from opscopilot.api.deps import Admin, Session, SettingsDep
from opscopilot.notify import routing, template_store
from opscopilot.notify.schemas import (
    OnCallRead,
    OnCallWrite,
    RoutingRuleRead,
    RoutingRuleWrite,
    TemplateRead,
    TemplateWrite,
)

router = APIRouter(tags=["notification admin"])


@router.post("/templates", response_model=TemplateRead, status_code=201)
async def save_template(body: TemplateWrite, session: Session, admin: Admin) -> TemplateRead:
    """Store a new version of a named template (checked first: 422 names the line or the
    variable at fault)."""
    saved = await template_store.save_template(session, template=body, created_by=admin.external_id)
    await audit(
        session,
        actor=admin,
        event_type="notify.template_saved",
        subject=f"{saved.name}/{saved.channel} v{saved.version}",
    )
    await session.commit()
    return saved


@router.get("/templates", response_model=list[TemplateRead])
async def list_templates(
    session: Session,
    _: Admin,
    notification_type: str | None = None,
    channel: str | None = None,
) -> list[TemplateRead]:
    return await template_store.list_templates(
        session, notification_type=notification_type, channel=channel
    )


@router.get("/templates/{name}", response_model=list[TemplateRead])
async def template_versions(
    name: str, session: Session, _: Admin, channel: str | None = None
) -> list[TemplateRead]:
    return await template_store.template_versions(session, name=name, channel=channel)


@router.delete("/templates/{name}", status_code=204)
async def retire_template(
    name: str, session: Session, admin: Admin, channel: str | None = None
) -> None:
    """Deactivate the template (versions are kept); the shipped default applies again."""
    await template_store.retire_template(session, name=name, channel=channel)
    await audit(session, actor=admin, event_type="notify.template_retired", subject=name)
    await session.commit()


@router.get("/routing-rules", response_model=list[RoutingRuleRead])
async def list_rules(session: Session, _: Admin, site: str | None = None) -> list[RoutingRuleRead]:
    return await routing.list_rules(session, site=site)


@router.post("/routing-rules", response_model=RoutingRuleRead, status_code=201)
async def create_rule(
    body: RoutingRuleWrite, session: Session, settings: SettingsDep, admin: Admin
) -> RoutingRuleRead:
    saved = await routing.create_rule(
        session, rule=body, webhook_allowlist=settings.notify.webhook_allowlist
    )
    await audit(session, actor=admin, event_type="notify.rule_created", subject=str(saved.id))
    await session.commit()
    return saved


@router.put("/routing-rules/{rule_id}", response_model=RoutingRuleRead)
async def update_rule(
    rule_id: UUID, body: RoutingRuleWrite, session: Session, settings: SettingsDep, admin: Admin
) -> RoutingRuleRead:
    saved = await routing.update_rule(
        session, rule_id=rule_id, rule=body, webhook_allowlist=settings.notify.webhook_allowlist
    )
    await audit(session, actor=admin, event_type="notify.rule_updated", subject=str(rule_id))
    await session.commit()
    return saved


@router.delete("/routing-rules/{rule_id}", status_code=204)
async def delete_rule(rule_id: UUID, session: Session, admin: Admin) -> None:
    await routing.delete_rule(session, rule_id=rule_id)
    await audit(session, actor=admin, event_type="notify.rule_deleted", subject=str(rule_id))
    await session.commit()


@router.get("/on-call", response_model=list[OnCallRead])
async def list_on_call(session: Session, _: Admin, site: str | None = None) -> list[OnCallRead]:
    return await routing.list_on_call(session, site=site)


@router.put("/on-call/{site}/{role}", response_model=OnCallRead)
async def set_on_call(
    site: str, role: str, body: OnCallWrite, session: Session, admin: Admin
) -> OnCallRead:
    """Replace the on-call list for a site and role, in escalation order."""
    saved = await routing.set_on_call(session, site=site, role=role, user_ids=body.user_ids)
    await audit(
        session, actor=admin, event_type="notify.on_call_set", subject=f"{site}/{role}", site=site
    )
    await session.commit()
    return saved
