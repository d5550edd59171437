"""The contract between the agent and every surface (web SSE, OpenAI endpoint, Slack, CLI).

A turn is an async stream of `AgentEvent`s. Surfaces render them; they never look inside
the graph. `AgentRunner` is implemented in `agent/runtime.py`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from opscopilot.access.roles import Principal

EventType = Literal[
    "token",  # {"text": str}
    "tool_call",  # {"name": str, "arguments": dict, "call_id": str}
    "tool_result",  # {"name": str, "call_id": str, "summary": str, "ok": bool, "data"?: dict}
    "approval_required",  # {"approval_id": str, "tool": str, "description": str, "arguments": dict}
    "status",  # {"text": str} e.g. "looking up inventory" (Slack assistant status)
    "done",  # {"thread_id": str, "run_id": str, "answer": str, "usage": dict}
    "error",  # {"message": str, "code": str}
]


@dataclass(frozen=True)
class AgentEvent:
    type: EventType
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TurnRequest:
    thread_id: str
    message: str
    principal: Principal
    site: str
    surface: Literal["web", "openai", "slack", "cli", "schedule", "eval"] = "web"
    run_id: str | None = None
    # The surface opened the turn itself (thread, run, lease and audit, with
    # `records.take_turn` in its own transaction): the runner does not open it again.
    opened: bool = False


@dataclass(frozen=True)
class ApprovalDecision:
    approval_id: str
    approve: bool
    principal: Principal
    comment: str | None = None


class AgentRunner(Protocol):
    def run(self, request: TurnRequest) -> AsyncIterator[AgentEvent]:
        """Run one turn; the last event is `done` or `error`."""
        ...

    def resume(self, decision: ApprovalDecision) -> AsyncIterator[AgentEvent]:
        """Continue a thread paused on an approval; runs the approved write at most once."""
        ...
