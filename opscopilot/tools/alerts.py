"""Alert tools: the open forecast alerts (read), and acting on one (write)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from langchain_core.tools import tool
from langgraph.prebuilt import ToolRuntime
from pydantic import BaseModel, Field

from opscopilot.core.errors import ValidationFailed
from opscopilot.forecasting import alerts as forecast_alerts
from opscopilot.forecasting import service as forecasting
from opscopilot.forecasting.rules import Severity
from opscopilot.forecasting.schemas import AlertRead
from opscopilot.tools.base import ToolSpec, WriteMeta, respond, to_jsonable, write_tool
from opscopilot.tools.context import ToolContext


def _alert(a: AlertRead) -> dict[str, Any]:
    return {
        "id": str(a.id),
        "sku": a.sku,
        "site": a.site,
        "alert_type": a.alert_type,
        "severity": a.severity,
        "message": a.message,
        # When a stockout risk expects the stock to run out (the rules name it either way).
        "date": a.details.get("stockout_date") or a.details.get("date"),
        "status": a.status,
        "acted_by": a.acted_by,
        "updated_at": a.updated_at.isoformat(),
    }


@tool(parse_docstring=True, response_format="content_and_artifact")
async def active_alerts(
    runtime: ToolRuntime[ToolContext],
    severity: Severity | None = None,
    sku: str | None = None,
    limit: int = 10,
) -> tuple[str, dict[str, Any]]:
    """The open forecast alerts at the chat's site (stockout risk, excess stock, demand
    spike or drop, supply shortfall, quality drift), most severe first.

    Args:
        severity: Only this severity: low, medium, high or critical.
        sku: Only alerts of this item.
        limit: How many to list (default 10).
    """
    ctx = runtime.context
    async with ctx.db.session() as session:
        found = await forecasting.list_active_alerts(
            session,
            principal=ctx.principal,
            severity=[severity] if severity else None,
            sku=sku.strip() if sku else None,
            site=ctx.site,
            limit=max(1, min(limit, 50)),
        )
    return respond("active_alerts", {"alerts": [_alert(a) for a in found], "count": len(found)})


@tool(parse_docstring=True, response_format="content_and_artifact")
async def alert_changes(
    runtime: ToolRuntime[ToolContext], since: str
) -> tuple[str, dict[str, Any]]:
    """The forecast alerts announced as new or worse at the chat's site after a moment:
    the latest announcement of each, oldest first. An alert that did not change is not
    announced again, so this is what changed, not every open alert.

    Args:
        since: ISO date-time, e.g. 2026-03-01T05:00:00+00:00 (UTC when no offset is given).
    """
    try:
        moment = datetime.fromisoformat(since.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed(f"since is not an ISO date-time: {since!r}", field="since") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    ctx = runtime.context
    async with ctx.db.session() as session:
        changes = await forecast_alerts.alerts_raised_since(
            session, principal=ctx.principal, site=ctx.site, since=moment
        )
    data = {"site": ctx.site, "since": moment.isoformat(), "changes": changes,
            "count": len(changes)}  # fmt: skip
    return respond("alert_changes", data)


class AlertActionArgs(BaseModel):
    alert_id: uuid.UUID = Field(description="The alert's id, from active_alerts.")
    action: Literal["acknowledge", "snooze", "resolve"]
    snooze_days: int = Field(1, ge=1, le=90, description="For snooze: days until it returns.")
    note: str | None = Field(None, max_length=500, description="For resolve: why it is closed.")


async def alert_action(ctx: ToolContext, args: BaseModel, meta: WriteMeta) -> dict[str, Any]:
    """Acknowledge, snooze or resolve a forecast alert, when the person asks for it.
    Pauses for an operator's approval.
    """
    assert isinstance(args, AlertActionArgs)
    alert_id, who = args.alert_id, meta.approved_by
    async with ctx.db.transaction() as session:
        if args.action == "acknowledge":
            done = await forecasting.acknowledge_alert(session, alert_id=alert_id, principal=who)
        elif args.action == "snooze":
            until = datetime.now(UTC) + timedelta(days=args.snooze_days)
            done = await forecasting.snooze_alert(
                session, alert_id=alert_id, until=until, principal=who
            )
        else:
            done = await forecasting.resolve_alert(
                session, alert_id=alert_id, principal=who, note=args.note
            )
    result: dict[str, Any] = to_jsonable(_alert(done))
    return result


async def _describe(ctx: ToolContext, args: BaseModel) -> str:
    assert isinstance(args, AlertActionArgs)
    async with ctx.db.session() as session:
        alert = await forecasting.get_alert(
            session, alert_id=args.alert_id, principal=ctx.principal
        )
    what = {
        "acknowledge": "Acknowledge",
        "snooze": f"Snooze for {args.snooze_days} day(s)",
        "resolve": "Resolve",
    }[args.action]
    note = f" Note: {args.note!r}." if args.note else ""
    return (
        f"{what} the {alert.severity} {alert.alert_type.replace('_', ' ')} alert for "
        f"{alert.sku} at site {alert.site}: {alert.message!r}.{note}"
    )


def specs() -> list[ToolSpec]:
    return [
        ToolSpec(tool=active_alerts, tier="read", status="listing the alerts"),
        ToolSpec(tool=alert_changes, tier="read", status="looking up what changed"),
        write_tool(
            name="alert_action",
            args_schema=AlertActionArgs,
            describe=_describe,
            execute=alert_action,
            status="acting on the alert",
        ),
    ]
