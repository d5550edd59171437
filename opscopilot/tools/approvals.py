"""Approval tools: the proposed writes still waiting for a person's decision (read)."""

from __future__ import annotations

from typing import Any

from langchain_core.tools import tool
from langgraph.prebuilt import ToolRuntime

from opscopilot.access.approvals import pending_approvals
from opscopilot.tools.base import ToolSpec, respond
from opscopilot.tools.context import ToolContext


@tool(parse_docstring=True, response_format="content_and_artifact")
async def open_approvals(
    runtime: ToolRuntime[ToolContext], limit: int = 20
) -> tuple[str, dict[str, Any]]:
    """The changes proposed at the chat's site that still wait for a person to approve or
    reject them, the longest waiting first.

    Args:
        limit: How many to list (default 20).
    """
    ctx = runtime.context
    async with ctx.db.session() as session:
        found = await pending_approvals(
            session, principal=ctx.principal, site=ctx.site, limit=max(1, min(limit, 50))
        )
    return respond("open_approvals", {"site": ctx.site, "approvals": found, "count": len(found)})


def specs() -> list[ToolSpec]:
    return [ToolSpec(tool=open_approvals, tier="read", status="listing open approvals")]
