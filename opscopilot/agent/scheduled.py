"""Scheduled agent runs: the agent writes a run's summary or a shift briefing.

The scheduled job hands a `ScheduledTask` to `ScheduledWriter.write`, acting as the site's
service user. The agent runs the task's prompt with read-only tools (no write or draft tool
is offered, nor a read that stores a result), gathers the facts by calling them, and its
model writes the text:

- the built-in offline model calls the task's tools and words their results with the
  task's template (deterministic);
- a real model's text is posted only when it called the tools that give the task's facts
  and every number, SKU and date in it appears in that run's tool results (or the task's
  own parameters). Otherwise (invented facts, a missing call, a model error or timeout:
  the deadlines are the settings' `llm.*`) the template words the same tool results, and
  the log says why. When the model's run lacks results, the offline model gathers them.

Every run is a chat run of its own (surface "schedule"): the question, each tool call and
the answer are recorded and audited as any other.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.messages import AIMessage, ToolMessage
from langgraph.checkpoint.memory import InMemorySaver

from opscopilot.access.roles import Principal
from opscopilot.agent.events import TurnRequest
from opscopilot.agent.llm import build_chain
from opscopilot.agent.runtime import GraphAgentRunner
from opscopilot.agent.scheduled_tasks import (
    ScheduledTask,
    answers,
    required_calls,
    template_text,
    unsupported,
)
from opscopilot.core.errors import ServiceUnavailable
from opscopilot.core.settings import Settings
from opscopilot.store.engine import Database
from opscopilot.tools.registry import ToolRegistry, build_registry

log = logging.getLogger(__name__)

# Read tier, yet each stores a result: a forecast (which may raise alerts) or an inference
# job. A digest reports what is there; it computes nothing new.
STORING_READS = frozenset({"run_forecast", "run_model"})


class ScheduledTextFailed(ServiceUnavailable):
    """Not even the offline model could gather the facts (a tool failed): the job retries."""

    code = "scheduled_text_failed"


@functools.cache
def _shared_registry() -> ToolRegistry:
    return read_only_registry()


def read_only_registry(base: ToolRegistry | None = None) -> ToolRegistry:
    """The tools a scheduled run may use: reads that store nothing."""
    base = base or build_registry()
    registry = ToolRegistry()
    registry.add(s for s in base.specs.values() if s.tier == "read" and s.name not in STORING_READS)
    return registry


@dataclass(frozen=True)
class Written:
    text: str
    source: Literal["model", "template"]
    # Why the model's own text was not used (None when it was).
    reason: str | None
    # The facts: the data of each task call, by tool name.
    results: dict[str, dict[str, Any]]


@dataclass
class _Outcome:
    answer: str = ""
    error: str | None = None
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    # The turn ran out of model steps or tokens: its text is the runner's notice.
    budget_spent: bool = False


def _returned(messages: list[Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(tool, arguments, data) of each successful tool call in `messages`, in order."""
    calls = {
        c["id"]: (c["name"], c["args"])
        for m in messages
        if isinstance(m, AIMessage)
        for c in m.tool_calls
    }
    return [
        (*calls.get(m.tool_call_id, (m.name or "", {})), m.artifact)
        for m in messages
        if isinstance(m, ToolMessage) and m.status != "error" and isinstance(m.artifact, dict)
    ]


class ScheduledWriter:
    """One per job: builds its runners (the configured model's, and the offline one for
    the fallback) on first use, with an in-memory checkpointer (a task is one turn)."""

    def __init__(
        self, settings: Settings, db: Database, *, registry: ToolRegistry | None = None
    ) -> None:
        self.settings = settings
        self.db = db
        # Built once per process (it imports and inspects every tool module).
        self.registry = registry or _shared_registry()
        self._runners: dict[bool, GraphAgentRunner] = {}

    @property
    def offline(self) -> bool:
        return not self.settings.llm.model

    async def write(self, task: ScheduledTask, *, principal: Principal) -> Written:
        outcome = await self._turn(task, principal, offline=self.offline)
        problem = self._problem(outcome, task)
        if problem is None:
            return Written(outcome.answer, "model", None, outcome.results)
        if self.offline:
            raise ScheduledTextFailed(f"the scheduled {task.kind} at {task.site}: {problem}")
        if outcome.missing:
            outcome = await self._turn(task, principal, offline=True)
            if outcome.missing or outcome.error:
                raise ScheduledTextFailed(
                    f"the scheduled {task.kind} at {task.site}: {problem}; and the offline "
                    f"model: {outcome.error or 'no ' + ', '.join(outcome.missing)}"
                )
        log.warning(
            "scheduled %s at %s: posting the template text, not the model's: %s",
            task.kind,
            task.site,
            problem,
            extra={"task": task.kind, "site": task.site, "reason": problem},
        )
        return Written(template_text(task, outcome.results), "template", problem, outcome.results)

    def _problem(self, outcome: _Outcome, task: ScheduledTask) -> str | None:
        if outcome.error:
            return f"the model failed ({outcome.error})"
        if outcome.missing:
            return f"the model did not call {', '.join(outcome.missing)}"
        if outcome.budget_spent:
            return "the model used up its steps or tokens"
        if not outcome.answer:
            return "the model wrote nothing"
        if self.offline:
            return None  # its text is the template's: nothing to check it against
        invented = unsupported(outcome.answer, task, outcome.results)
        if invented:
            return f"the text names facts no tool returned: {', '.join(invented[:10])}"
        return None

    async def _turn(self, task: ScheduledTask, principal: Principal, *, offline: bool) -> _Outcome:
        runner = await self._runner(offline)
        request = TurnRequest(
            thread_id=f"schedule-{task.kind}-{uuid.uuid4().hex}",
            message=task.prompt(),
            principal=principal,
            site=task.site,
            surface="schedule",
        )
        outcome = _Outcome()
        async for event in runner.run(request):
            if event.type == "done":
                outcome.answer = str(event.data.get("answer") or "").strip()
            elif event.type == "error":
                outcome.error = f"{event.data.get('code')}: {event.data.get('message')}"
        # The results from the thread itself: events leave out large tool data.
        state = await runner.graph.aget_state({"configurable": {"thread_id": request.thread_id}})
        returned = _returned(state.values.get("messages", []))
        llm = self.settings.llm
        outcome.budget_spent = (
            state.values.get("turn_model_calls", 0) >= llm.max_steps
            or state.values.get("turn_tokens", 0) >= llm.max_tokens_per_turn
        )
        for required in required_calls(task):
            found = [d for name, args, d in returned if answers(required, name, args)]
            if found:
                outcome.results[required.name] = found[-1]
            else:
                outcome.missing.append(required.name)
        return outcome

    async def _runner(self, offline: bool) -> GraphAgentRunner:
        runner = self._runners.get(offline)
        if runner is None:
            llm = self.settings.llm
            if offline:
                llm = llm.model_copy(update={"model": None, "fallback_model": None})
            tools = [s.tool for s in self.registry.model_tools()]
            # A configured model means litellm, which takes seconds to import.
            chain = await asyncio.to_thread(build_chain, llm, tools)
            runner = GraphAgentRunner(
                self.settings,
                self.db,
                chain=chain,
                registry=self.registry,
                checkpointer=InMemorySaver(),
            )
            await runner.start()
            self._runners[offline] = runner
        return runner

    async def aclose(self) -> None:
        for runner in self._runners.values():
            await runner.aclose()
        self._runners.clear()

    async def __aenter__(self) -> ScheduledWriter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
