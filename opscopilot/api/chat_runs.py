"""Agent runs decoupled from the HTTP responses that watch them.

A run is a task that numbers the runner's events, hands them to the run's watchers at once
and, through one bounded queue, to the writer that stores them (`chat_log.py`). Storing is
off the path to the client: a token is not held back by a database round trip, and a
replica that reads a little behind simply waits for the rest. A response
is only a watcher. When the last one leaves, the run goes on for a grace period (two pings)
so the client can come back with `Last-Event-ID`; a read-only run is then cancelled, while
a run carrying an approved write finishes. Runs of other replicas are followed by polling
their stored events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from opscopilot.access.roles import Principal
from opscopilot.agent import records
from opscopilot.agent.events import AgentEvent, AgentRunner, ApprovalDecision, TurnRequest
from opscopilot.api import chat_store
from opscopilot.api.chat_log import EventWriter, follow_stored
from opscopilot.api.chat_store import TERMINAL_EVENTS, RunEnd, StoredEvent
from opscopilot.core.errors import (
    ConflictError,
    NotFoundError,
    OpsCopilotError,
    PermissionDenied,
    ServiceUnavailable,
)
from opscopilot.store.engine import Database

log = logging.getLogger(__name__)


@dataclass(eq=False)
class LiveRun:
    run_id: uuid.UUID
    thread_id: str
    # An approved write is in flight: it finishes even when nobody watches.
    protected: bool = False
    events: list[StoredEvent] = field(default_factory=list)
    finished: bool = False
    watchers: int = 0
    task: asyncio.Task[None] | None = None
    grace: asyncio.TimerHandle | None = None
    cancel_reason: str = "the run was cancelled"
    answer_parts: list[str] = field(default_factory=list)
    awaiting_approval: bool = False
    next_seq: int = 1
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def publish(self, events: list[StoredEvent]) -> None:
        self.events.extend(events)
        # Wakes every current waiter; later ones look at `events` before waiting.
        self.changed.set()
        self.changed.clear()


class ChatRuns:
    """The live runs of this process and the one writer that stores their events."""

    def __init__(
        self,
        *,
        db: Database,
        runner: AgentRunner,
        grace_s: float,
        shutdown_timeout_s: float,
        default_site: str,
        poll_s: float = 0.25,
        stale_s: float = 300.0,
    ) -> None:
        self.db = db
        self.runner = runner
        self.grace_s = grace_s
        self.shutdown_timeout_s = shutdown_timeout_s
        self.default_site = default_site
        self.poll_s = poll_s
        self.stale_s = stale_s
        self.live: dict[uuid.UUID, LiveRun] = {}
        self._resuming: set[asyncio.Task[None]] = set()
        self.open_streams = 0
        self._writer = EventWriter(db, on_end=self._stored_end)

    # -- starting runs ---------------------------------------------------------------

    async def start(
        self,
        *,
        principal: Principal,
        message: str,
        thread_id: str | None,
        site: str | None,
        surface: str,
    ) -> LiveRun:
        # The thread and the run exist before the first event (events point at the run).
        # With a runner that says how long its lease is, the turn is opened here too (the
        # lease taken, the question audited) in the same transaction: one commit per turn
        # before the model is called, and the runner does not open it again.
        lease = getattr(self.runner, "lease", None)
        run_id = uuid.uuid4()
        async with self.db.sessions() as session:
            thread = await chat_store.open_thread(
                session,
                principal=principal,
                thread_id=thread_id,
                site=site,
                surface=surface,
                title=message,
                default_site=self.default_site,
            )
            turn_site = thread.site or self.default_site
            opened = isinstance(lease, timedelta)
            if isinstance(lease, timedelta):
                # open_thread checked the lease under the same row lock: this takes it.
                await records.take_turn(
                    session,
                    thread_id=thread.id,
                    principal=principal,
                    site=turn_site,
                    surface=surface,
                    run_id=run_id,
                    question=message,
                    lease=lease,
                    check_owner=surface != "slack",
                    thread=thread,
                    # No thread named: open_thread has just made one (the run id is new too).
                    fresh=thread_id is None,
                )
            else:
                await chat_store.relax_durability(session)
                await session.flush()  # a new thread's row before its run's
                await chat_store.create_run(
                    session, thread_id=thread.id, question=message, run_id=run_id
                )
            await session.commit()
        run = LiveRun(run_id=run_id, thread_id=thread.id)
        request = TurnRequest(
            thread_id=thread.id,
            message=message,
            principal=principal,
            site=turn_site,
            surface=surface,  # type: ignore[arg-type]
            run_id=str(run_id),
            opened=opened,
        )
        self._launch(run, self.runner.run(request))
        return run

    async def decide(
        self, *, principal: Principal, approval_id: str, approve: bool, comment: str | None
    ) -> LiveRun:
        """Resume the paused thread; the run is known from the runner's first event.

        The runner names the resumed run itself, so the response waits for that first
        event; a refusal (already decided, busy, not allowed) is then an HTTP error.
        """
        async with self.db.sessions() as session:
            approval = await chat_store.decidable_approval(
                session, approval_id=approval_id, principal=principal
            )
        decision = ApprovalDecision(
            approval_id=str(approval.id), approve=approve, principal=principal, comment=comment
        )
        ready: asyncio.Future[LiveRun] = asyncio.get_running_loop().create_future()
        # Retrieved even when the client has gone, so a refusal is not logged as lost.
        ready.add_done_callback(lambda f: f.cancelled() or f.exception())
        task = asyncio.create_task(
            self._resume(self.runner.resume(decision), ready, approval.thread_id, approve),
            name=f"chat-resume-{approval.id}",
        )
        self._resuming.add(task)
        task.add_done_callback(self._resuming.discard)
        # Shielded: the decision stands even if this client leaves before the first event.
        return await asyncio.shield(ready)

    async def _resume(
        self,
        stream: AsyncIterator[AgentEvent],
        ready: asyncio.Future[LiveRun],
        thread_id: str,
        protected: bool,
    ) -> None:
        try:
            first = await anext(stream)
            run_id: uuid.UUID | None = None
            if first.type == "done":
                run_id = uuid.UUID(str(first.data["run_id"]))
            elif first.type != "error":
                async with self.db.sessions() as session:
                    run_id = await chat_store.busy_run(session, thread_id=thread_id)
        except asyncio.CancelledError:
            ready.set_exception(ServiceUnavailable("the server is shutting down"))
            raise
        except Exception as exc:
            if not isinstance(exc, StopAsyncIteration):
                log.exception("resuming thread %s failed", thread_id)
            ready.set_exception(ServiceUnavailable("the agent could not resume the thread"))
            return
        if run_id is None:
            ready.set_exception(_refusal(first.data))
            await _aclose(stream)
            return
        run = LiveRun(run_id=run_id, thread_id=thread_id, protected=protected)
        run.task = asyncio.current_task()
        self.live[run_id] = run
        self._start_grace(run)
        ready.set_result(run)
        await self._drive(run, _prepend(first, stream))

    def _launch(self, run: LiveRun, stream: AsyncIterator[AgentEvent]) -> None:
        self.live[run.run_id] = run
        run.task = asyncio.create_task(self._drive(run, stream), name=f"chat-run-{run.run_id}")
        # Counts as left until a response attaches, so a client gone before then is covered.
        self._start_grace(run)

    async def _drive(self, run: LiveRun, stream: AsyncIterator[AgentEvent]) -> None:
        ended = False
        try:
            async for event in stream:
                event = self._complete(run, event)
                if event.type == "tool_call" and self._gated(event.data.get("name")):
                    run.protected = True
                await self._emit(run, event)
                if event.type in TERMINAL_EVENTS:
                    ended = True
                    break
            if not ended:
                await self._emit(run, _error("incomplete", "the agent stopped without an answer"))
        except asyncio.CancelledError:
            await self._emit(run, _error("cancelled", run.cancel_reason))
            raise
        except Exception:
            log.exception("chat run %s failed", run.run_id)
            await self._emit(run, _error("internal_error", "internal error; see the server log"))
        finally:
            await _aclose(stream)

    async def _emit(self, run: LiveRun, event: AgentEvent) -> None:
        """Number the event, show it to the watchers, queue it for the store."""
        if run.finished:
            return
        stored = StoredEvent(run.next_seq, event.type, dict(event.data))
        run.next_seq += 1
        end = self._note(run, stored)
        if end is not None:
            run.finished = True
            if run.grace is not None:
                run.grace.cancel()
                run.grace = None
        run.publish([stored])
        await self._writer.put(run, run.run_id, stored, end)

    def _gated(self, tool: object) -> bool:
        """A write tool (one that needs approval): once it runs, the run must finish."""
        registry = getattr(self.runner, "registry", None)
        gated = getattr(registry, "gated", None)
        return bool(gated(tool)) if callable(gated) and isinstance(tool, str) else False

    def _complete(self, run: LiveRun, event: AgentEvent) -> AgentEvent:
        if event.type == "done":
            data = {**event.data, "thread_id": run.thread_id, "run_id": str(run.run_id)}
            return AgentEvent("done", data)
        if event.type == "approval_required":
            approval_id = event.data.get("approval_id")
            how = {
                "method": "POST",
                "url": f"/api/v1/approvals/{approval_id}",
                "body": {"decision": "approve | reject"},
                "role": "operator",
            }
            return AgentEvent("approval_required", {**event.data, "how_to_approve": how})
        return event

    # -- watchers and the grace period -------------------------------------------------

    def _start_grace(self, run: LiveRun) -> None:
        if run.grace is None and not run.finished:
            loop = asyncio.get_running_loop()
            run.grace = loop.call_later(self.grace_s, self._grace_over, run)

    def _grace_over(self, run: LiveRun) -> None:
        run.grace = None
        if run.watchers or run.finished or run.protected or run.task is None:
            return
        log.info("chat run %s cancelled: its client left", run.run_id)
        run.cancel_reason = "the client left and did not come back within the grace period"
        run.task.cancel()

    def _attach(self, run: LiveRun) -> None:
        run.watchers += 1
        if run.grace is not None:
            run.grace.cancel()
            run.grace = None

    def _detach(self, run: LiveRun) -> None:
        run.watchers -= 1
        if run.watchers == 0:
            self._start_grace(run)

    def watch(self, run_id: uuid.UUID, *, after: int) -> AsyncGenerator[StoredEvent, None]:
        """The run's events after `after`, live until it ends. Close it with `aclosing`."""
        return _flatten(self.watch_batches(run_id, after=after))

    def watch_batches(
        self, run_id: uuid.UUID, *, after: int
    ) -> AsyncGenerator[list[StoredEvent], None]:
        """`watch`, in lists of the events that are there together: a stream that fell
        behind catches up in one write instead of one per event."""
        run = self.live.get(run_id)
        if run is not None:
            return self._watch_live(run, after)
        return self._watch_stored(run_id, after)

    async def _watch_live(
        self, run: LiveRun, after: int
    ) -> AsyncGenerator[list[StoredEvent], None]:
        self._attach(run)
        self.open_streams += 1
        try:
            cursor = max(after, 0)  # events[i] has seq i + 1
            while True:
                if cursor < len(run.events):
                    batch = run.events[cursor:]
                    cursor += len(batch)
                    yield batch
                elif run.finished:
                    return
                else:
                    await run.changed.wait()
        finally:
            self.open_streams -= 1
            self._detach(run)

    async def _watch_stored(
        self, run_id: uuid.UUID, after: int
    ) -> AsyncGenerator[list[StoredEvent], None]:
        self.open_streams += 1
        try:
            stored = follow_stored(
                self.db, run_id, after=after, poll_s=self.poll_s, stale_s=self.stale_s
            )
            async with contextlib.aclosing(stored) as events:
                async for event in events:
                    yield [event]
        finally:
            self.open_streams -= 1

    def _stored_end(self, run: LiveRun) -> None:
        # Served from memory until its end is stored, then from the store.
        if self.live.get(run.run_id) is run:
            del self.live[run.run_id]

    @staticmethod
    def _note(run: LiveRun, event: StoredEvent) -> RunEnd | None:
        """Track what the run row needs; for a terminal event, the row's final values."""
        if event.event == "token":
            run.answer_parts.append(str(event.data.get("text", "")))
        elif event.event == "approval_required":
            run.awaiting_approval = True
        elif event.event == "done":
            answer = event.data.get("answer") or "".join(run.answer_parts)
            status = "awaiting_approval" if run.awaiting_approval else "done"
            usage = event.data.get("usage") or {}
            return run.run_id, status, str(answer), dict(usage), None
        elif event.event == "error":
            status = "cancelled" if event.data.get("code") == "cancelled" else "error"
            partial = "".join(run.answer_parts) or None
            return run.run_id, status, partial, {}, str(event.data.get("message", ""))
        return None

    # -- shutdown ------------------------------------------------------------------------

    async def close(self) -> None:
        """Cancel read-only runs, let approved writes finish (bounded), store the ends."""
        runs = list(self.live.values())
        for run in runs:
            if run.grace is not None:
                run.grace.cancel()
                run.grace = None
            if not run.protected and run.task is not None:
                run.cancel_reason = "the server is shutting down"
                run.task.cancel()
        tasks = [r.task for r in runs if r.task is not None]
        tasks += [t for t in self._resuming if t not in tasks]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=self.shutdown_timeout_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        await self._writer.close()
        aclose = getattr(self.runner, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()


def _error(code: str, message: str) -> AgentEvent:
    return AgentEvent("error", {"code": code, "message": message})


def _refusal(data: dict[str, Any]) -> OpsCopilotError:
    message = str(data.get("message", "the agent refused"))
    code = data.get("code")
    if code == "not_found":
        return NotFoundError(message, field="approval_id")
    if code == "forbidden":
        return PermissionDenied(message)
    if code in ("conflict", "busy"):
        return ConflictError(message, field="approval_id")
    return ServiceUnavailable(message)


async def _flatten(
    batches: AsyncGenerator[list[StoredEvent], None],
) -> AsyncGenerator[StoredEvent, None]:
    async with contextlib.aclosing(batches):
        async for batch in batches:
            for event in batch:
                yield event


async def _prepend(first: AgentEvent, rest: AsyncIterator[AgentEvent]) -> AsyncIterator[AgentEvent]:
    try:
        yield first
        async for event in rest:
            yield event
    finally:
        await _aclose(rest)


async def _aclose(stream: AsyncIterator[AgentEvent]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()
