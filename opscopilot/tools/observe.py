"""Counts and traces every tool call at its two dispatch points: the tool node (reads and
drafts, through ToolNode's `awrap_tool_call`) and an approved write's runner."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from langchain_core.messages import ToolMessage
from langgraph.errors import GraphBubbleUp
from langgraph.prebuilt.tool_node import ToolCallRequest
from langgraph.types import Command

from opscopilot.core.metrics import TOOL_CALLS
from opscopilot.core.telemetry import mark_error, span


def _attributes(name: str, call_id: str | None) -> dict[str, Any]:
    attributes: dict[str, Any] = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name}
    if call_id:
        attributes["gen_ai.tool.call.id"] = call_id
    return attributes


async def observe_tool_call(
    request: ToolCallRequest,
    execute: Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]],
) -> ToolMessage | Command[Any]:
    """ToolNode's wrapper. A failing tool comes back as an error ToolMessage (the node's
    `handle_tool_errors` runs inside `execute`), so the outcome is read from the result."""
    name = request.tool_call["name"]
    outcome = "error"
    try:
        with span(f"execute_tool {name}", _attributes(name, request.tool_call.get("id"))) as s:
            result = await execute(request)
            if isinstance(result, ToolMessage) and result.status == "error":
                mark_error(s, "the tool answered with an error")
            else:
                outcome = "ok"
        return result
    except GraphBubbleUp:  # an interrupt is the graph's control flow, not a failure
        outcome = "interrupted"
        raise
    finally:
        TOOL_CALLS.labels(tool=name, outcome=outcome).inc()


F = Callable[..., Awaitable[dict[str, Any]]]


def observed_write(name: str, execute: F) -> F:
    """An approved write's runner, counted and traced like the tool node's calls."""

    @wraps(execute)
    async def run(*args: Any, **kwargs: Any) -> dict[str, Any]:
        outcome = "error"
        try:
            with span(f"execute_tool {name}", _attributes(name, None)):
                result = await execute(*args, **kwargs)
            outcome = "ok"
            return result
        finally:
            TOOL_CALLS.labels(tool=name, outcome=outcome).inc()

    return run
