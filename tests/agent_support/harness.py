"""Build a runner for tests and collect the events of a turn."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from langchain_core.language_models import BaseChatModel

from opscopilot.access.roles import Principal
from opscopilot.agent.events import AgentEvent, ApprovalDecision, TurnRequest
from opscopilot.agent.llm import build_chain
from opscopilot.agent.runtime import GraphAgentRunner
from opscopilot.core.settings import Settings
from opscopilot.store.engine import Database
from opscopilot.tools.registry import ToolRegistry, build_registry

OPERATOR = Principal(user_id=None, external_id="olga-operator", role="operator")
VIEWER = Principal(user_id=None, external_id="victor-viewer", role="viewer")
APPROVER = Principal(user_id=None, external_id="anna-approver", role="operator")
ADMIN = Principal(user_id=None, external_id="adam-admin", role="admin")


@asynccontextmanager
async def runner_for(
    settings: Settings,
    db: Database,
    *,
    model: BaseChatModel | None = None,
    fallback: BaseChatModel | None = None,
    registry: ToolRegistry | None = None,
    turn_deadline_s: float | None = None,
) -> AsyncIterator[GraphAgentRunner]:
    registry = registry or build_registry()
    chain = None
    if model is not None or settings.llm.model is None:
        from opscopilot.agent.offline import OfflineChatModel

        primary = model or OfflineChatModel(tool_names=registry.names)
        tools = [s.tool for s in registry.model_tools()]
        chain = build_chain(settings.llm, tools, primary=primary, fallback=fallback)
    runner = GraphAgentRunner(
        settings, db, chain=chain, registry=registry, turn_deadline_s=turn_deadline_s
    )
    async with runner:
        yield runner


def new_thread() -> str:
    return "t-" + uuid.uuid4().hex[:12]


async def turn(
    runner: GraphAgentRunner,
    message: str,
    *,
    thread_id: str,
    principal: Principal = OPERATOR,
    site: str = "main",
) -> list[AgentEvent]:
    request = TurnRequest(
        thread_id=thread_id, message=message, principal=principal, site=site, surface="eval"
    )
    return [e async for e in runner.run(request)]


async def decide(
    runner: GraphAgentRunner, approval_id: str, *, approve: bool, principal: Principal = APPROVER
) -> list[AgentEvent]:
    decision = ApprovalDecision(approval_id=approval_id, approve=approve, principal=principal)
    return [e async for e in runner.resume(decision)]


def of(events: list[AgentEvent], kind: str) -> list[dict[str, Any]]:
    return [e.data for e in events if e.type == kind]


def answer(events: list[AgentEvent]) -> str:
    done = of(events, "done")
    assert done, f"no done event: {events[-1]}"
    return str(done[-1]["answer"])


def tools_called(events: list[AgentEvent]) -> list[str]:
    return [d["name"] for d in of(events, "tool_call")]
