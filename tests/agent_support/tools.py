"""Tools that exist only in tests: a write that records (and can hang) and a failing read."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from langchain_core.tools import StructuredTool
from pydantic import BaseModel

from opscopilot.tools.base import ToolSpec, WriteMeta, write_tool
from opscopilot.tools.context import ToolContext


class Note(BaseModel):
    text: str


@dataclass
class RecordingWrite:
    """A write whose effect is a list entry; `hang` makes it block after it started."""

    name: str = "post_note"
    hang: bool = False
    effects: list[tuple[str, str]] = field(default_factory=list)
    started: asyncio.Event = field(default_factory=asyncio.Event)

    async def execute(self, ctx: ToolContext, args: BaseModel, meta: WriteMeta) -> dict[str, Any]:
        """Post a note on the plant's notice board."""
        assert isinstance(args, Note)
        self.effects.append((args.text, meta.idempotency_key))
        self.started.set()
        if self.hang:
            await asyncio.Event().wait()
        return {"posted": args.text, "by": meta.approved_by.external_id}

    async def describe(self, ctx: ToolContext, args: BaseModel) -> str:
        assert isinstance(args, Note)
        return f"Post the note {args.text!r} on the notice board."

    def spec(self) -> ToolSpec:
        return write_tool(
            name=self.name,
            args_schema=Note,
            describe=self.describe,
            execute=self.execute,
            status="posting a note",
        )


def failing_read(error: Exception) -> ToolSpec:
    async def lookup_orders(sku: str) -> str:
        raise error

    tool = StructuredTool.from_function(
        coroutine=lookup_orders, name="lookup_orders", description="Open orders of an item."
    )
    return ToolSpec(tool=tool, tier="read", status="looking up orders")
