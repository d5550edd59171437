"""The approval node and the execute node: the only path by which a write runs.

The approval node takes the first unanswered write call of the model's last message,
refuses it for a viewer, validates it, records an `approvals` row and pauses the graph
with `interrupt()`. On resume it re-runs from the top (LangGraph's rule), which finds the
same row, and reads the decision. The execute node runs the write once: it claims the
approval (approved -> executing) before calling the service, so a resumed, retried or
concurrent run that reaches it again reports the recorded outcome instead of repeating
the write. A person's role is checked at proposal and again at execution.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, ToolCall, ToolMessage
from langgraph.runtime import Runtime
from langgraph.types import interrupt
from pydantic import ValidationError

from opscopilot.access.roles import Principal, Role
from opscopilot.agent import records
from opscopilot.agent.state import AgentState
from opscopilot.core.errors import OpsCopilotError
from opscopilot.prompts import render
from opscopilot.tools.base import WriteMeta, respond, to_jsonable
from opscopilot.tools.context import ToolContext
from opscopilot.tools.registry import ToolRegistry
from opscopilot.tools.scrub import describe_error, scrub_text

log = logging.getLogger(__name__)

WRITE_ROLE: Role = "operator"


def last_ai(messages: list[AnyMessage]) -> AIMessage | None:
    return next((m for m in reversed(messages) if isinstance(m, AIMessage)), None)


def unanswered(messages: list[AnyMessage]) -> list[ToolCall]:
    ai = last_ai(messages)
    if ai is None:
        return []
    answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
    return [c for c in ai.tool_calls if c["id"] not in answered]


def next_gated(messages: list[AnyMessage], registry: ToolRegistry) -> ToolCall | None:
    return next((c for c in unanswered(messages) if registry.gated(c["name"])), None)


# Phrases by which text in data tries to steer an assistant ("ignore your instructions").
_STEERING = re.compile(
    r"(?i)\b(?:ignore|disregard|forget|override)\b[^.]{0,40}\b(?:instructions|rules|prompt)\b"
    r"|\byou are now\b|\bsystem (?:prompt|note|message)\b"
)


def planted_instructions(messages: list[AnyMessage]) -> bool:
    """Whether data read in this turn talks to the assistant: the approver is warned, since
    the proposal may come from that text rather than from the person."""
    last_human = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=-1)
    return any(
        isinstance(m, ToolMessage) and _STEERING.search(str(m.content))
        for m in messages[last_human + 1 :]
    )


def _refusal(call: ToolCall, text: str, outcome: str) -> dict[str, Any]:
    message = ToolMessage(
        text,
        tool_call_id=call["id"],
        name=call["name"],
        status="error",
        artifact={"outcome": outcome},
    )
    return {"messages": [message], "approved": None}


def make_approval_node(registry: ToolRegistry) -> Any:
    async def approval(state: AgentState, runtime: Runtime[ToolContext]) -> dict[str, Any]:
        ctx = runtime.context
        call = next_gated(state["messages"], registry)
        if call is None:
            return {"approved": None}
        spec = registry.get(call["name"])
        assert spec is not None and spec.args_schema is not None and spec.describe is not None
        if not ctx.principal.can(WRITE_ROLE):
            await records.record_audit(
                ctx.db,
                actor=ctx.principal,
                event_type="tool.refused",
                subject=call["name"],
                details={"arguments": call["args"], "reason": "role", "stage": "proposal"},
                site=ctx.site,
                thread_id=ctx.thread_id,
            )
            text = render("messages/write_refused", role=ctx.principal.role, tool=call["name"])
            return _refusal(call, text, "refused")
        try:
            args = spec.args_schema.model_validate(call["args"])
            description = await spec.describe(ctx, args)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            return _refusal(call, f"Error: invalid arguments: {where}: {first['msg']}", "invalid")
        except OpsCopilotError as exc:
            return _refusal(call, f"Error: {scrub_text(exc.message)}", "invalid")
        except Exception as exc:  # a lookup for the description failed: nothing to approve
            log.warning("describing %s failed", call["name"], exc_info=True)
            return _refusal(call, f"Error: {describe_error(exc)}", "invalid")
        arguments = to_jsonable(args.model_dump(mode="json"))
        if planted_instructions(state["messages"]):
            description += "\n" + render("messages/planted_instructions")
        row = await records.ensure_approval(
            ctx.db,
            principal=ctx.principal,
            thread_id=ctx.thread_id,
            run_id=ctx.run_id,
            site=ctx.site,
            tool_name=call["name"],
            tool_call_id=call["id"] or "",
            arguments=arguments,
            description=description,
        )
        decision = interrupt(
            {
                "approval_id": row.id,
                "tool": call["name"],
                "description": description,
                "arguments": arguments,
            }
        )
        if isinstance(decision, dict) and decision.get("approval_id") == row.id:
            if decision.get("approve"):
                return {"approved": {"call_id": call["id"], "approval_id": row.id}}
            who = str(decision.get("by") or "the approver")
            return _refusal(call, render("messages/write_rejected", by=who), "rejected")
        return _refusal(call, render("messages/write_rejected", by="nobody"), "rejected")

    return approval


def _approver(row: records.ApprovalRow) -> Principal:
    # The decider passed the operator check when deciding; the write is scoped to the site.
    return Principal(
        user_id=None,
        external_id=row.decided_by or "unknown",
        role=WRITE_ROLE,
        sites=(row.site,) if row.site else (),
    )


def make_execute_node(registry: ToolRegistry) -> Any:
    async def execute(state: AgentState, runtime: Runtime[ToolContext]) -> dict[str, Any]:
        ctx = runtime.context
        approved = state.get("approved") or {}
        call = next(
            (c for c in unanswered(state["messages"]) if c["id"] == approved.get("call_id")), None
        )
        if call is None:
            return {"approved": None}
        spec = registry.get(call["name"])
        if spec is None or spec.execute is None or spec.args_schema is None:
            return _refusal(call, f"Error: {call['name']} is not available", "invalid")
        if not ctx.principal.can(WRITE_ROLE):
            await records.record_audit(
                ctx.db,
                actor=ctx.principal,
                event_type="tool.refused",
                subject=call["name"],
                details={"reason": "role", "stage": "execution"},
                site=ctx.site,
                thread_id=ctx.thread_id,
            )
            text = render("messages/write_refused", role=ctx.principal.role, tool=call["name"])
            return _refusal(call, text, "refused")
        claimed, row = await records.claim_execution(ctx.db, approval_id=approved["approval_id"])
        if not claimed:
            return _recorded_outcome(call, row)
        args = spec.args_schema.model_validate(row.arguments)
        meta = WriteMeta(
            idempotency_key=row.idempotency_key, approved_by=_approver(row), approval_id=row.id
        )
        try:
            result = await spec.execute(ctx, args, meta)
        except Exception as exc:  # the write failed: recorded, reported, the graph goes on
            log.warning("approved write %s failed", call["name"], exc_info=True)
            error = describe_error(exc)
            await records.finish_execution(
                ctx.db,
                approval=row,
                ok=False,
                result={"error": error},
                actor=meta.approved_by.external_id,
            )
            return _refusal(call, f"Error: {error}", "failed")
        result = {"outcome": "done", **to_jsonable(result)}
        await records.finish_execution(
            ctx.db, approval=row, ok=True, result=result, actor=meta.approved_by.external_id
        )
        content, artifact = respond(call["name"], result)
        message = ToolMessage(
            content, tool_call_id=call["id"], name=call["name"], artifact=artifact
        )
        return {"messages": [message], "approved": None}

    return execute


def _recorded_outcome(call: ToolCall, row: records.ApprovalRow) -> dict[str, Any]:
    """The write was claimed before: report what is known, never run it again."""
    if row.status == "executed" and row.result is not None:
        content, artifact = respond(call["name"], row.result)
        message = ToolMessage(
            content, tool_call_id=call["id"], name=call["name"], artifact=artifact
        )
        return {"messages": [message], "approved": None}
    if row.status == "executing":
        return _refusal(call, render("messages/write_interrupted", tool=call["name"]), "unknown")
    error = (row.result or {}).get("error") or f"the approval is {row.status}"
    return _refusal(call, f"Error: {error}", row.status)
