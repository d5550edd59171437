"""Item tools: find an item, its master data, its stock (read tier)."""

from __future__ import annotations

from typing import Any

from langchain_core.tools import tool
from langgraph.prebuilt import ToolRuntime

from opscopilot.ingest import service as ingest
from opscopilot.tools.base import ToolSpec, respond
from opscopilot.tools.context import ToolContext

Reply = tuple[str, dict[str, Any]]


@tool(parse_docstring=True, response_format="content_and_artifact")
async def find_items(runtime: ToolRuntime[ToolContext], query: str, limit: int = 5) -> Reply:
    """Find items by SKU, name, description words, supplier or a misspelling of them.

    Use it first whenever a person names an item loosely ("the 40mm gaskets").

    Args:
        query: Words that describe the item, e.g. "gasket 40mm acme".
        limit: How many matches to return (default 5).
    """
    ctx = runtime.context
    async with ctx.db.session() as session:
        found = await ingest.list_items(
            session, sites=ctx.principal.site_filter(), q=query, limit=max(1, min(limit, 20))
        )
    items = [
        {
            "sku": m.item.sku,
            "name": m.item.name,
            "supplier": m.item.supplier_name,
            "category": m.item.category,
            "score": round(m.score, 3),
        }
        for m in found.matches or []
    ]
    return respond("find_items", {"query": query, "items": items})


@tool(parse_docstring=True, response_format="content_and_artifact")
async def get_item(runtime: ToolRuntime[ToolContext], sku: str) -> Reply:
    """Master data of one item: name, description, unit, cost, supplier and, per site, its
    lead time, safety stock and reorder point.

    Args:
        sku: The item's SKU, e.g. ITEM-001.
    """
    ctx = runtime.context
    async with ctx.db.session() as session:
        item = await ingest.get_item(session, sku=sku.strip(), sites=ctx.principal.site_filter())
    data = {
        "sku": item.sku,
        "name": item.name,
        "description": item.description,
        "uom": item.uom,
        "category": item.category,
        "standard_cost": item.standard_cost,
        "currency": item.currency,
        "supplier": item.supplier_name,
        "attributes": item.attributes,
        "sites": [p.model_dump() for p in item.sites],
    }
    return respond("get_item", data)


@tool(parse_docstring=True, response_format="content_and_artifact")
async def get_inventory(
    runtime: ToolRuntime[ToolContext], sku: str, site: str | None = None
) -> Reply:
    """Current stock of one item at a site: on hand, allocated, on order and available,
    per location, from the latest inventory snapshots.

    Args:
        sku: The item's SKU, e.g. ITEM-001.
        site: Plant code; defaults to the chat's site.
    """
    ctx = runtime.context
    chosen = ctx.site_or_default(site)
    async with ctx.db.session() as session:
        inv = await ingest.get_inventory(session, item=sku.strip(), sites=(chosen,), history=0)
    as_of = max((loc.as_of for loc in inv.locations), default=None)
    data = {
        "sku": inv.sku,
        "name": inv.name,
        "uom": inv.uom,
        "site": chosen,
        "on_hand": inv.on_hand,
        "allocated": inv.allocated,
        "on_order": inv.on_order,
        "available": inv.available,
        "as_of": as_of.date().isoformat() if as_of else None,
        "locations": [
            {
                "location": loc.location,
                "on_hand": loc.on_hand,
                "available": loc.available,
                "as_of": loc.as_of.date().isoformat(),
            }
            for loc in inv.locations
        ],
    }
    return respond("get_inventory", data)


def specs() -> list[ToolSpec]:
    return [
        ToolSpec(tool=find_items, tier="read", status="searching items"),
        ToolSpec(tool=get_item, tier="read", status="looking up the item"),
        ToolSpec(tool=get_inventory, tier="read", status="looking up inventory"),
    ]
