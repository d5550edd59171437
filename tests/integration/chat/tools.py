"""Tools that exist only in these tests: a slow read (to have a run in flight) and a slow
write (an approved change still running when its client leaves). Thread-safe flags: the
tools run on the live server's loop, the tests watch from theirs."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

from langchain_core.tools import StructuredTool
from pydantic import BaseModel

from opscopilot.tools.base import ToolSpec, WriteMeta, write_tool
from opscopilot.tools.context import ToolContext


@dataclass
class SlowRead:
    seconds: float
    started: threading.Event = field(default_factory=threading.Event)
    cancelled: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    # When given, the tool also ends as soon as the test sets it (and at the latest after
    # `seconds`): a test that must act while the run is live holds it open this way.
    gate: threading.Event | None = None

    def spec(self) -> ToolSpec:
        async def wait() -> None:
            if self.gate is None:
                await asyncio.sleep(self.seconds)
                return
            loop = asyncio.get_running_loop()
            until = loop.time() + self.seconds
            while not self.gate.is_set() and loop.time() < until:
                await asyncio.sleep(0.01)

        async def slow_lookup(sku: str) -> str:
            self.started.set()
            try:
                await wait()
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
            self.finished.set()
            return f"{sku}: 42 on hand"

        tool = StructuredTool.from_function(
            coroutine=slow_lookup, name="slow_lookup", description="Stock of an item, slowly."
        )
        return ToolSpec(tool=tool, tier="read", status="looking it up")


class Note(BaseModel):
    text: str


@dataclass
class SlowWrite:
    seconds: float
    effects: list[str] = field(default_factory=list)
    started: threading.Event = field(default_factory=threading.Event)

    async def execute(self, ctx: ToolContext, args: BaseModel, meta: WriteMeta) -> dict[str, Any]:
        """Post a note on the plant's notice board."""
        assert isinstance(args, Note)
        self.started.set()
        await asyncio.sleep(self.seconds)
        self.effects.append(args.text)
        return {"posted": args.text}

    async def describe(self, ctx: ToolContext, args: BaseModel) -> str:
        assert isinstance(args, Note)
        return f"Post the note {args.text!r} on the notice board."

    def spec(self) -> ToolSpec:
        return write_tool(
            name="slow_note",
            args_schema=Note,
            describe=self.describe,
            execute=self.execute,
            status="posting a note",
        )
