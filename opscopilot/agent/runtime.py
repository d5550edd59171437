"""The AgentRunner every surface uses: one turn (or one approval decision) in, events out.

`build_runner(settings, db)` builds nothing heavy; the checkpointer pool, the model (and
litellm's slow import) and the graph are made on first use or in `start()`. A turn records
its thread and run, takes the thread's lease (one run per thread on any replica), audits
the question and every tool call, streams the graph and turns its output into
`AgentEvent`s; the last event is always `done` or `error`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from langchain_core.messages import HumanMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.errors import GraphRecursionError
from langgraph.types import Command

from opscopilot.access.roles import Principal, Role
from opscopilot.agent import records
from opscopilot.agent.events import AgentEvent, ApprovalDecision, TurnRequest
from opscopilot.agent.graph import build_graph, recursion_limit
from opscopilot.agent.litellm_direct import LiteLLMModel
from opscopilot.agent.llm import ModelChain, build_chain
from opscopilot.agent.streaming import EventMapper
from opscopilot.core.errors import OpsCopilotError
from opscopilot.core.heap import freeze_heap
from opscopilot.core.settings import Settings
from opscopilot.core.telemetry import observe_turn
from opscopilot.prompts import render
from opscopilot.store.engine import Database
from opscopilot.tools.context import ToolContext
from opscopilot.tools.registry import ToolRegistry, build_registry
from opscopilot.tools.scrub import scrub_text

log = logging.getLogger(__name__)


def _error(message: str, code: str) -> AgentEvent:
    return AgentEvent("error", {"message": message, "code": code})


class GraphAgentRunner:
    """Implements `opscopilot.agent.events.AgentRunner` over the LangGraph graph."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        chain: ModelChain | None = None,
        registry: ToolRegistry | None = None,
        checkpointer: BaseCheckpointSaver[Any] | None = None,
        turn_deadline_s: float | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.registry = registry or build_registry()
        self._chain = chain
        self._checkpointer = checkpointer
        self._graph: Any = None
        self._stream_modes = ["messages", "updates", "custom"]
        self._lock = asyncio.Lock()
        self._stack = AsyncExitStack()
        llm = settings.llm
        # A turn may not outlive its lease: every model call has its own deadline too, and
        # the slack covers the tools.
        self.turn_deadline_s = turn_deadline_s or llm.call_deadline_s * (llm.max_steps + 1) + 30.0
        self.lease = timedelta(seconds=self.turn_deadline_s + 30.0)

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        async with self._lock:
            if self._graph is not None:
                return
            if self._checkpointer is None:
                from opscopilot.agent.memory import open_checkpointer

                opened = open_checkpointer(
                    self.db.url,
                    max_size=self.settings.db.checkpoint_pool_size,
                    timeout=self.settings.db.checkpoint_pool_timeout,
                )
                saver = await self._stack.enter_async_context(opened)
                self._checkpointer = saver  # type: ignore[assignment]
            if self._chain is None:
                tools = [s.tool for s in self.registry.model_tools()]
                # litellm takes seconds to import: off the event loop.
                self._chain = await asyncio.to_thread(build_chain, self.settings.llm, tools)
                if not self._chain.offline:
                    await asyncio.to_thread(_warm_litellm)
                    freeze_heap(after="litellm")
            # LangGraph's messages mode streams LangChain chat models (the offline model,
            # scripted ones); models called through litellm stream on the custom mode. With
            # none of the former, the mode would only add a callback on every node.
            if all(isinstance(m, LiteLLMModel) for _, m in self._chain.models):
                self._stream_modes = ["updates", "custom"]
            self._graph = build_graph(
                chain=self._chain,
                registry=self.registry,
                max_steps=self.settings.llm.max_steps,
                token_budget=self.settings.llm.max_tokens_per_turn,
                checkpointer=self._checkpointer,
            )

    async def aclose(self) -> None:
        await self._stack.aclose()
        self._graph = None

    async def __aenter__(self) -> GraphAgentRunner:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def graph(self) -> Any:
        return self._graph

    # -- one turn ------------------------------------------------------------------------

    async def run(self, request: TurnRequest) -> AsyncIterator[AgentEvent]:
        principal, site = request.principal, request.site
        run_id = uuid.UUID(request.run_id) if request.run_id else uuid.uuid4()
        if not request.message.strip():
            yield _error("the message is empty", "validation_error")
            return
        if not principal.sees_site(site):
            yield _error(f"you do not have access to site {site}", "forbidden")
            return
        await self.start()
        try:
            took = request.opened or await records.open_turn(
                self.db,
                thread_id=request.thread_id,
                principal=principal,
                site=site,
                surface=request.surface,
                run_id=run_id,
                question=request.message,
                lease=self.lease,
                # A Slack channel thread is shared by everyone in the channel.
                check_owner=request.surface != "slack",
            )
        except OpsCopilotError as exc:
            yield _error(exc.message, exc.code)
            return
        if not took:
            yield _error("this conversation is still answering; try again shortly", "busy")
            return
        ctx = self._context(principal, site, request.thread_id, run_id)
        graph_input = {"messages": [HumanMessage(content=request.message)]}
        # A question's turn is checkpointed once, when the graph exits (answered, paused
        # at an approval, failed or cancelled): one write instead of one per step, so
        # concurrent turns do not queue for the checkpointer's connections. A process
        # killed mid-turn leaves the thread as the previous turn left it (the run row
        # and the stored events still say what happened). Writes run on resume, durably.
        turn = self._drive(graph_input, ctx, run_id, durability="exit")
        async for event in observe_turn(turn, surface=request.surface, run_id=ctx.run_id):
            yield event

    async def resume(self, decision: ApprovalDecision) -> AsyncIterator[AgentEvent]:
        approver = decision.principal
        try:
            row = await records.get_approval(self.db, decision.approval_id)
        except OpsCopilotError as exc:
            yield _error(exc.message, exc.code)
            return
        if row.site and not approver.sees_site(row.site):
            yield _error("no such approval", "not_found")
            return
        if not approver.can("operator"):
            await records.record_audit(
                self.db,
                actor=approver,
                event_type="approval.refused",
                subject=row.id,
                details={"reason": "role", "tool": row.tool_name},
                site=row.site,
                thread_id=row.thread_id,
            )
            yield _error("approving changes needs the operator role", "forbidden")
            return
        await self.start()
        run_id = uuid.uuid4()
        took = await records.open_turn(
            self.db,
            thread_id=row.thread_id,
            principal=approver,
            site=row.site or self.settings.default_site,
            surface="web",
            run_id=run_id,
            question=None,
            lease=self.lease,
            check_owner=False,
        )
        if not took:
            yield _error("this conversation is busy; try again shortly", "busy")
            return
        decided = await records.decide_approval(
            self.db,
            approval_id=row.id,
            approve=decision.approve,
            principal=approver,
            comment=decision.comment,
        )
        graph_input: Any
        if decided is None:
            # Decided before. Go on only where a crash left the graph behind: still waiting
            # on this approval, or stopped at the write (which then reports, never reruns).
            row = await records.get_approval(self.db, decision.approval_id)
            graph_input = await self._continuation(row)
            if graph_input is None:
                await self._release(row.thread_id, run_id, "error", "already decided")
                yield _error(f"this approval is already {row.status}", "conflict")
                return
        else:
            row = decided
            graph_input = _resume_command(row)
        requester = Principal(
            user_id=None,
            external_id=row.requested_by or "unknown",
            role=_role(row.requested_role),
            sites=(row.site,) if row.site else (),
        )
        site = row.site or self.settings.default_site
        ctx = self._context(requester, site, row.thread_id, run_id)
        async for event in self._drive(graph_input, ctx, run_id, durability="sync"):
            yield event

    # -- internals -----------------------------------------------------------------------

    def _context(
        self, principal: Principal, site: str, thread_id: str, run_id: uuid.UUID
    ) -> ToolContext:
        return ToolContext(
            db=self.db,
            settings=self.settings,
            principal=principal,
            site=site,
            thread_id=thread_id,
            run_id=str(run_id),
            today=datetime.now(UTC).date(),
        )

    def _config(self, thread_id: str) -> dict[str, Any]:
        return {
            "configurable": {"thread_id": thread_id},
            "recursion_limit": recursion_limit(self.settings.llm.max_steps),
        }

    async def _continuation(self, row: records.ApprovalRow) -> Any:
        """What resumes a thread a crash left at this approval, or None if nothing does."""
        state = await self._graph.aget_state(self._config(row.thread_id))
        waiting = any(
            isinstance(i.value, dict) and i.value.get("approval_id") == row.id
            for i in state.interrupts
        )
        if waiting and row.status in ("approved", "rejected"):
            return _resume_command(row)
        if "execute" in state.next and row.status in ("executing", "executed", "failed"):
            return _CONTINUE
        return None

    async def _release(
        self, thread_id: str, run_id: uuid.UUID, status: str, error: str | None
    ) -> None:
        await records.close_turn(
            self.db,
            thread_id=thread_id,
            run_id=run_id,
            status=status,
            answer=None,
            usage={},
            error=error,
        )

    async def _drive(
        self,
        graph_input: Any,
        ctx: ToolContext,
        run_id: uuid.UUID,
        *,
        durability: Literal["sync", "exit"],
    ) -> AsyncIterator[AgentEvent]:
        mapper = EventMapper(self.registry)
        status, error = "done", None
        final: AgentEvent | None = None
        # The turn's deadline covers the graph's own awaits only: a timeout scope held
        # across `yield` would fire inside whoever consumes these events.
        deadline = asyncio.get_running_loop().time() + self.turn_deadline_s
        stream = self._graph.astream(
            None if graph_input is _CONTINUE else graph_input,
            self._config(ctx.thread_id),
            context=ctx,
            stream_mode=self._stream_modes,
            durability=durability,
        )
        try:
            async with contextlib.aclosing(stream):
                while True:
                    try:
                        async with asyncio.timeout_at(deadline):
                            mode, chunk = await anext(stream)
                    except StopAsyncIteration:
                        break
                    for event in mapper.feed(mode, chunk):
                        if event.type == "tool_call":
                            await self._audit_call(ctx, event)
                        yield event
        except GraphRecursionError:
            text = render("messages/step_budget", steps=self.settings.llm.max_steps)
            for event in mapper.extra_answer(text):
                yield event
        except TimeoutError:
            status, error = "error", "the answer took too long and was stopped"
            final = _error(error, "timeout")
        except OpsCopilotError as exc:
            status, error = "error", scrub_text(exc.message)
            final = _error(error, exc.code)
        except (asyncio.CancelledError, GeneratorExit):
            await self._finish(ctx, run_id, mapper, "cancelled", "the run was cancelled")
            raise
        except Exception:  # the last line of defence: a turn always ends with an event
            log.exception("agent run %s failed", run_id)
            status, error = "error", "internal error; see the server log"
            final = _error(error, "internal_error")
        if mapper.approval is not None and status == "done":
            status = "awaiting_approval"
        await self._finish(ctx, run_id, mapper, status, error)
        if final is not None:
            yield final
            return
        yield AgentEvent(
            "done",
            {
                "thread_id": ctx.thread_id,
                "run_id": str(run_id),
                "answer": mapper.answer,
                "usage": mapper.usage,
                **({"awaiting_approval": mapper.approval} if mapper.approval else {}),
            },
        )

    async def _finish(
        self,
        ctx: ToolContext,
        run_id: uuid.UUID,
        mapper: EventMapper,
        status: str,
        error: str | None,
    ) -> None:
        try:
            await records.close_turn(
                self.db,
                thread_id=ctx.thread_id,
                run_id=run_id,
                status=status,
                answer=mapper.answer or None,
                usage=mapper.usage,
                error=error,
            )
        except Exception:  # the answer stands; the lease then simply expires
            log.warning("could not record the end of run %s", run_id, exc_info=True)

    async def _audit_call(self, ctx: ToolContext, event: AgentEvent) -> None:
        spec = self.registry.get(event.data["name"])
        await records.record_audit(
            self.db,
            actor=ctx.principal,
            event_type="tool.call",
            subject=event.data["name"],
            details={
                "arguments": event.data["arguments"],
                "call_id": event.data["call_id"],
                "tier": spec.tier if spec else "unknown",
                "run_id": ctx.run_id,
            },
            site=ctx.site,
            thread_id=ctx.thread_id,
        )


def _warm_litellm() -> None:
    """Load litellm's tokenizer now: it loads on the first streamed answer otherwise,
    blocking the event loop (and every chat on it) for about a second."""
    import litellm

    litellm.token_counter(text="warm-up")


# Input that continues a thread from its last checkpoint (LangGraph's `None` input).
_CONTINUE: Any = object()


def _resume_command(row: records.ApprovalRow) -> Command[Any]:
    return Command(
        resume={"approval_id": row.id, "approve": row.status == "approved", "by": row.decided_by}
    )


def _role(value: str | None) -> Role:
    return value if value in ("viewer", "operator", "admin") else "viewer"  # type: ignore[return-value]


def build_runner(settings: Settings, db: Database) -> GraphAgentRunner:
    """The runner for a process; call `await runner.start()` in a lifespan (or let the
    first turn do it) and `await runner.aclose()` at shutdown."""
    return GraphAgentRunner(settings, db)
