"""KPI tools: days of cover, stockout risk, scrap rate, supplier on-time rate (read tier)."""

from __future__ import annotations

from typing import Any

from langchain_core.tools import tool
from langgraph.prebuilt import ToolRuntime

from opscopilot.tools import kpis
from opscopilot.tools.base import ToolSpec, respond
from opscopilot.tools.context import ToolContext

Reply = tuple[str, dict[str, Any]]


@tool(parse_docstring=True, response_format="content_and_artifact")
async def days_of_cover(
    runtime: ToolRuntime[ToolContext],
    sku: str | None = None,
    window_days: int = 90,
    site: str | None = None,
) -> Reply:
    """How many days the available stock lasts at recent average demand, per item.

    Use it for "will we run out of X", "how long will X last", "days of cover/supply".
    Also returns each item's lead time and safety stock to compare against.

    Args:
        sku: One item's SKU; omit for every item of the site.
        window_days: Days of demand history averaged (default 90).
        site: Plant code; defaults to the chat's site.
    """
    ctx = runtime.context
    async with ctx.db.session() as session:
        data = await kpis.days_of_cover(
            session,
            site=ctx.site_or_default(site),
            today=ctx.today,
            sku=sku.strip().upper() if sku else None,
            window_days=max(7, min(window_days, 730)),
        )
    return respond("days_of_cover", data)


@tool(parse_docstring=True, response_format="content_and_artifact")
async def stockout_risk(
    runtime: ToolRuntime[ToolContext],
    limit: int = 10,
    site: str | None = None,
) -> Reply:
    """Items likely to run out before a replenishment could arrive, worst first.

    An item is at risk when its days of cover are below its lead time; "high" when below
    half of it or at or under safety stock.

    Args:
        limit: How many items to list (default 10).
        site: Plant code; defaults to the chat's site.
    """
    ctx = runtime.context
    async with ctx.db.session() as session:
        data = await kpis.stockout_risk(
            session, site=ctx.site_or_default(site), today=ctx.today, limit=max(1, min(limit, 50))
        )
    return respond("stockout_risk", data)


@tool(parse_docstring=True, response_format="content_and_artifact")
async def scrap_rate(
    runtime: ToolRuntime[ToolContext],
    sku: str | None = None,
    days: int = 90,
    site: str | None = None,
) -> Reply:
    """Scrap (defect) rate from quality inspections: defects / inspected, in percent.

    Args:
        sku: One item's SKU; omit for the whole site with its worst items.
        days: Look-back in days (default 90).
        site: Plant code; defaults to the chat's site.
    """
    ctx = runtime.context
    async with ctx.db.session() as session:
        data = await kpis.scrap_rate(
            session,
            site=ctx.site_or_default(site),
            today=ctx.today,
            sku=sku.strip().upper() if sku else None,
            days=max(1, min(days, 730)),
        )
    return respond("scrap_rate", data)


@tool(parse_docstring=True, response_format="content_and_artifact")
async def supplier_on_time(
    runtime: ToolRuntime[ToolContext],
    supplier: str | None = None,
    days: int = 180,
    site: str | None = None,
) -> Reply:
    """Share of supplier receipts that arrived on time, per supplier.

    Args:
        supplier: Part of a supplier's name; omit for all suppliers.
        days: Look-back in days (default 180).
        site: Plant code; defaults to the chat's site.
    """
    ctx = runtime.context
    async with ctx.db.session() as session:
        data = await kpis.supplier_on_time(
            session,
            site=ctx.site_or_default(site),
            today=ctx.today,
            supplier=supplier.strip() if supplier else None,
            days=max(1, min(days, 730)),
        )
    return respond("supplier_on_time", data)


def specs() -> list[ToolSpec]:
    return [
        ToolSpec(tool=days_of_cover, tier="read", status="computing days of cover"),
        ToolSpec(tool=stockout_risk, tier="read", status="checking stockout risk"),
        ToolSpec(tool=scrap_rate, tier="read", status="computing scrap rate"),
        ToolSpec(tool=supplier_on_time, tier="read", status="computing supplier on-time rate"),
    ]
