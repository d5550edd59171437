"""The shape every tool shares: a tier, a LangChain tool for the model, and for writes the
exact description a person approves and the function that runs after approval.

Results go back to the model as JSON inside `<tool-data>` markers: whatever an item
description or a document says stays data, and the system prompt says so. A `<` inside the
data is escaped, so data cannot close the marker and pose as instructions.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel

from opscopilot.access.roles import Principal
from opscopilot.core.errors import PermissionDenied
from opscopilot.tools.context import ToolContext
from opscopilot.tools.observe import observed_write

Tier = Literal["read", "draft", "write"]
DATA_OPEN = "<tool-data"
DATA_CLOSE = "</tool-data>"


@dataclass(frozen=True)
class WriteMeta:
    """What the approval adds to a write: who approved it and the key that makes it once."""

    idempotency_key: str
    approved_by: Principal
    approval_id: str


WriteFn = Callable[[ToolContext, BaseModel, WriteMeta], Awaitable[dict[str, Any]]]
# Reads what it needs (a user's address, a request's lines) to say exactly what will happen.
DescribeFn = Callable[[ToolContext, BaseModel], Awaitable[str]]


@dataclass(frozen=True)
class ToolSpec:
    tool: BaseTool
    tier: Tier
    # What surfaces show while it runs ("looking up inventory").
    status: str
    # Writes only: validated arguments, the sentence the approver reads, the runner.
    args_schema: type[BaseModel] | None = None
    describe: DescribeFn | None = None
    execute: WriteFn | None = None

    @property
    def name(self) -> str:
        return self.tool.name

    @property
    def gated(self) -> bool:
        return self.tier == "write"


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def to_jsonable(data: Any) -> Any:
    return json.loads(json.dumps(data, default=_default))


def wrap_data(tool: str, data: dict[str, Any]) -> str:
    body = json.dumps(data, default=_default, ensure_ascii=False, separators=(",", ":"))
    body = body.replace("<", "\\u003c")
    return f'{DATA_OPEN} tool="{tool}">\n{body}\n{DATA_CLOSE}'


def unwrap_data(content: str) -> dict[str, Any] | None:
    """The JSON inside a `<tool-data>` block, or None (an error text, a foreign message)."""
    start = content.find(DATA_OPEN)
    end = content.rfind(DATA_CLOSE)
    if start < 0 or end < 0:
        return None
    body = content[content.find(">", start) + 1 : end].strip()
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def respond(tool: str, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The (content, artifact) pair of a `content_and_artifact` tool."""
    clean = to_jsonable(data)
    return wrap_data(tool, clean), clean


def write_tool(
    *,
    name: str,
    args_schema: type[BaseModel],
    describe: DescribeFn,
    execute: WriteFn,
    status: str,
) -> ToolSpec:
    """A write: the model sees its schema and `execute`'s docstring; it runs only from the
    approval path, never from the tool node (calling the tool object itself refuses)."""

    async def _refuse(**_: Any) -> str:
        raise PermissionDenied("this change runs only after a person approves it")

    tool = StructuredTool.from_function(
        coroutine=_refuse,
        name=name,
        description=(execute.__doc__ or name).strip(),
        args_schema=args_schema,
    )
    return ToolSpec(
        tool=tool,
        tier="write",
        status=status,
        args_schema=args_schema,
        describe=describe,
        execute=observed_write(name, execute),
    )
