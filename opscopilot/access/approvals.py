"""Approvals waiting for a person: the writes the agent proposed that no one has decided yet.

The agent records and decides approvals (agent/records.py); this is the read that digests
and the agent's tools share, limited to the sites the reader sees.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.access.roles import Principal
from opscopilot.store.models import Approval


async def pending_approvals(
    session: AsyncSession, *, principal: Principal, site: str, limit: int = 50
) -> list[dict[str, Any]]:
    """The pending approvals of `site`, oldest first (the longest waiting lead)."""
    if not principal.sees_site(site):
        return []
    rows = await session.scalars(
        select(Approval)
        .where(Approval.site == site, Approval.status == "pending")
        .order_by(Approval.created_at)
        .limit(max(1, limit))
    )
    return [
        {
            "id": str(a.id),
            "site": a.site,
            "tool": a.tool_name,
            "description": a.description,
            "requested_by": a.requested_by,
            "created_at": a.created_at.isoformat(),
        }
        for a in rows.all()
    ]
