"""Action-request tools: draft one (draft tier), look them up, approve and export (write)."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from langchain_core.tools import tool
from langgraph.prebuilt import ToolRuntime
from pydantic import BaseModel, Field

from opscopilot.actions import service
from opscopilot.actions.schemas import PAYLOADS
from opscopilot.prompts import format_number
from opscopilot.tools.base import ToolSpec, WriteMeta, respond, to_jsonable, write_tool
from opscopilot.tools.context import ToolContext

Reply = tuple[str, dict[str, Any]]
Kind = Literal["purchase_request", "transfer", "expedite", "work_order_change"]


@tool(parse_docstring=True, response_format="content_and_artifact")
async def draft_action_request(
    runtime: ToolRuntime[ToolContext],
    kind: Kind,
    sku: str,
    reason: str,
    quantity: float | None = None,
    needed_by: date | None = None,
    supplier: str | None = None,
    from_site: str | None = None,
    to_site: str | None = None,
    reference: str | None = None,
    work_order: str | None = None,
    change: str | None = None,
    site: str | None = None,
) -> Reply:
    """Draft an action request for a person to approve. Changes nothing outside yet.

    Kinds and their fields: purchase_request (quantity, optional needed_by, supplier);
    transfer (quantity, from_site, to_site); expedite (reference = PO number, optional
    needed_by, quantity); work_order_change (work_order, change, optional quantity).

    Args:
        kind: purchase_request, transfer, expedite or work_order_change.
        sku: The item's SKU.
        reason: Why, with the numbers behind it (e.g. "4 days of cover, lead time 21").
        quantity: Units, where the kind needs them.
        needed_by: Date needed (YYYY-MM-DD), optional.
        supplier: Supplier for a purchase request, optional.
        from_site: Source site of a transfer.
        to_site: Destination site of a transfer.
        reference: PO or order number to expedite.
        work_order: Work order number to change.
        change: What to change on the work order.
        site: Plant code; defaults to the chat's site.
    """
    ctx = runtime.context
    fields = {
        "quantity": quantity,
        "needed_by": needed_by,
        "supplier": supplier,
        "from_site": from_site,
        "to_site": to_site,
        "reference": reference,
        "work_order": work_order,
        "change": change,
    }
    details = {k: v for k, v in fields.items() if v is not None}
    allowed = set(PAYLOADS[kind].model_fields)
    async with ctx.db.transaction() as session:
        action = await service.draft_action(
            session,
            principal=ctx.principal,
            site=ctx.site_or_default(site),
            kind=kind,
            sku=sku.strip().upper(),
            reason=reason,
            details={k: v for k, v in details.items() if k in allowed},
            thread_id=ctx.thread_id,
        )
    return respond("draft_action_request", action.model_dump())


@tool(parse_docstring=True, response_format="content_and_artifact")
async def action_status(
    runtime: ToolRuntime[ToolContext],
    action_id: str | None = None,
    sku: str | None = None,
    status: str | None = None,
    limit: int = 10,
    site: str | None = None,
) -> Reply:
    """Status of action requests: one by id, or the latest ones (optionally by item/status).

    Statuses: draft, approved, rejected, exported; export status: exporting, exported, failed.

    Args:
        action_id: One action request's id.
        sku: Only requests for this item.
        status: Only requests in this status.
        limit: How many to list (default 10).
        site: Plant code; defaults to the chat's site.
    """
    ctx = runtime.context
    async with ctx.db.session() as session:
        if action_id:
            actions = [
                await service.get_action(session, principal=ctx.principal, action_id=action_id)
            ]
        else:
            actions = await service.list_actions(
                session,
                principal=ctx.principal,
                site=ctx.site_or_default(site),
                status=status,
                sku=sku.strip().upper() if sku else None,
                limit=max(1, min(limit, 50)),
            )
    return respond("action_status", {"actions": [a.model_dump() for a in actions]})


class SubmitAction(BaseModel):
    action_id: str = Field(description="The id of the drafted action request.")


async def submit_action_request(
    ctx: ToolContext, args: BaseModel, meta: WriteMeta
) -> dict[str, Any]:
    """Approve a drafted action request and export it to the ERP of its site.

    Needs a person with the operator role to approve first; the chat pauses for that.
    """
    assert isinstance(args, SubmitAction)
    async with ctx.db.transaction() as session:
        current = await service.get_action(
            session, principal=meta.approved_by, action_id=args.action_id
        )
        if current.status == "draft":
            await service.decide_action(
                session, principal=meta.approved_by, action_id=args.action_id, approve=True
            )
    exported = await service.export_action(
        ctx.db, settings=ctx.settings, principal=meta.approved_by, action_id=args.action_id
    )
    result: dict[str, Any] = to_jsonable(exported.model_dump())
    return result


async def _describe_submit(ctx: ToolContext, args: BaseModel) -> str:
    assert isinstance(args, SubmitAction)
    async with ctx.db.session() as session:
        action = await service.get_action(
            session, principal=ctx.principal, action_id=args.action_id
        )
    numbers = ", ".join(
        f"{k.replace('_', ' ')} {format_number(v) if isinstance(v, float | int) else v}"
        for k, v in action.payload.items()
    )
    return (
        f"Approve {action.kind.replace('_', ' ')} {action.id} for {action.sku} at site "
        f"{action.site} ({numbers}; reason: {action.reason}) and export it to that site's "
        "ERP (signed webhook or file drop)."
    )


def specs() -> list[ToolSpec]:
    return [
        ToolSpec(tool=draft_action_request, tier="draft", status="drafting an action request"),
        ToolSpec(tool=action_status, tier="read", status="looking up action requests"),
        write_tool(
            name="submit_action_request",
            args_schema=SubmitAction,
            describe=_describe_submit,
            execute=submit_action_request,
            status="exporting the action request",
        ),
    ]
