"""Draft, decide, export and look up action requests: the one place their rules live.

A draft changes nothing outside; a person with the operator role approves or rejects it;
an approved request is exported to the ERP (see `export.py`). Exporting is safe to repeat:
the file is named by the request id and the webhook carries the id as `webhook-id`, so a
retried export after a crash is recognised by the receiver.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.access.roles import Principal
from opscopilot.access.service import audit
from opscopilot.actions.export import ExportTarget, export_request, target_for_site
from opscopilot.actions.schemas import ACTION_KINDS, PAYLOADS, ActionRead
from opscopilot.core.errors import ConflictError, NotFoundError, PermissionDenied, ValidationFailed
from opscopilot.core.settings import Settings
from opscopilot.store.engine import Database
from opscopilot.store.models import ActionRequest, ManufacturingItem, Site


def to_read(row: ActionRequest) -> ActionRead:
    return ActionRead(
        id=str(row.id),
        site=row.site,
        kind=row.kind,
        sku=row.sku,
        payload=row.payload,
        reason=row.reason,
        status=row.status,
        export_status=row.export_status,
        export_ref=row.export_ref,
        created_by=row.created_by,
        decided_by=row.decided_by,
        created_at=row.created_at.isoformat() if row.created_at else "",
    )


def _parse_id(action_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(action_id)
    except ValueError:
        raise NotFoundError(f"no action request {action_id!r}", field="action_id") from None


async def draft_action(
    session: AsyncSession,
    *,
    principal: Principal,
    site: str,
    kind: str,
    sku: str,
    reason: str,
    details: dict[str, Any],
    thread_id: str | None = None,
    alert_id: uuid.UUID | None = None,
) -> ActionRead:
    if kind not in ACTION_KINDS:
        raise ValidationFailed(f"kind must be one of {', '.join(ACTION_KINDS)}", field="kind")
    if not principal.sees_site(site):
        raise PermissionDenied(f"you do not have access to site {site}")
    if not reason.strip():
        raise ValidationFailed("a reason is required", field="reason")
    try:
        payload = PAYLOADS[kind].model_validate(details).model_dump(mode="json", exclude_none=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or kind
        raise ValidationFailed(f"{where}: {first['msg']}", field="details") from None
    item = await session.scalar(select(ManufacturingItem).where(ManufacturingItem.sku == sku))
    if item is None:
        raise NotFoundError(f"no item with sku {sku!r}", field="sku")
    row = ActionRequest(
        site=site,
        kind=kind,
        item_id=item.id,
        sku=item.sku,
        payload=payload,
        reason=reason.strip()[:2000],
        status="draft",
        alert_id=alert_id,
        thread_id=thread_id,
        created_by=principal.external_id,
    )
    session.add(row)
    await session.flush()
    await audit(
        session,
        actor=principal,
        event_type="action.drafted",
        subject=str(row.id),
        details={"kind": kind, "sku": item.sku, "payload": payload},
        site=site,
        thread_id=thread_id,
    )
    return to_read(row)


async def get_action(session: AsyncSession, *, principal: Principal, action_id: str) -> ActionRead:
    row = await session.get(ActionRequest, _parse_id(action_id))
    if row is None or not principal.sees_site(row.site):
        raise NotFoundError(f"no action request {action_id!r}", field="action_id")
    return to_read(row)


async def list_actions(
    session: AsyncSession,
    *,
    principal: Principal,
    site: str,
    status: str | None = None,
    sku: str | None = None,
    limit: int = 10,
) -> list[ActionRead]:
    if not principal.sees_site(site):
        raise PermissionDenied(f"you do not have access to site {site}")
    query = select(ActionRequest).where(ActionRequest.site == site)
    if status is not None:
        query = query.where(
            or_(ActionRequest.status == status, ActionRequest.export_status == status)
        )
    if sku is not None:
        query = query.where(ActionRequest.sku == sku)
    rows = await session.scalars(query.order_by(ActionRequest.created_at.desc()).limit(limit))
    return [to_read(r) for r in rows]


async def decide_action(
    session: AsyncSession, *, principal: Principal, action_id: str, approve: bool
) -> ActionRead:
    """Approve or reject a draft; a decided request stays decided (409 on a second try)."""
    if not principal.can("operator"):
        raise PermissionDenied("deciding action requests needs the operator role")
    row = await session.get(ActionRequest, _parse_id(action_id), with_for_update=True)
    if row is None or not principal.sees_site(row.site):
        raise NotFoundError(f"no action request {action_id!r}", field="action_id")
    if row.status != "draft":
        raise ConflictError(f"action request is already {row.status}", field="action_id")
    row.status = "approved" if approve else "rejected"
    row.decided_by = principal.external_id
    row.decided_at = datetime.now(UTC)
    await audit(
        session,
        actor=principal,
        event_type="action.approved" if approve else "action.rejected",
        subject=str(row.id),
        details={"kind": row.kind, "sku": row.sku},
        site=row.site,
        thread_id=row.thread_id,
    )
    return to_read(row)


async def export_action(
    db: Database, *, settings: Settings, principal: Principal, action_id: str
) -> ActionRead:
    """Send an approved request to the ERP of its site; safe to call again after a crash."""
    rid = _parse_id(action_id)
    async with db.transaction() as session:
        row = await session.get(ActionRequest, rid, with_for_update=True)
        if row is None or not principal.sees_site(row.site):
            raise NotFoundError(f"no action request {action_id!r}", field="action_id")
        if row.export_status == "exported":
            return to_read(row)
        if row.status != "approved":
            raise ConflictError(
                f"only approved requests are exported (this one is {row.status})",
                field="action_id",
            )
        site = await session.scalar(select(Site).where(Site.code == row.site))
        target: ExportTarget = target_for_site(
            site.policy if site else {}, settings=settings, site=row.site
        )
        row.export_status = "exporting"
        document = _export_document(row)
    try:
        ref = await export_request(target, document=document, settings=settings)
    except Exception as exc:
        await _mark_export(db, rid, status="failed", ref=_short(exc), principal=principal)
        raise
    return await _mark_export(db, rid, status="exported", ref=ref, principal=principal)


async def _mark_export(
    db: Database, rid: uuid.UUID, *, status: str, ref: str, principal: Principal
) -> ActionRead:
    async with db.transaction() as session:
        values: dict[str, Any] = {"export_status": status, "export_ref": ref}
        if status == "exported":
            values["status"] = "exported"
        await session.execute(update(ActionRequest).where(ActionRequest.id == rid).values(values))
        row = await session.get(ActionRequest, rid, populate_existing=True)
        assert row is not None
        await audit(
            session,
            actor=principal,
            event_type=f"action.export_{status}",
            subject=str(rid),
            details={"ref": ref},
            site=row.site,
            thread_id=row.thread_id,
        )
        return to_read(row)


def _export_document(row: ActionRequest) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "type": row.kind,
        "site": row.site,
        "sku": row.sku,
        "reason": row.reason,
        "details": row.payload,
        "requested_by": row.created_by,
        "approved_by": row.decided_by,
        "approved_at": row.decided_at.isoformat() if row.decided_at else None,
    }


def _short(exc: Exception) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return str(text)[:300]
