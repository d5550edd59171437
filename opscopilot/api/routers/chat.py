"""The web chat over Server-Sent Events: turns, replay by `Last-Event-ID`, threads and
approvals. Each route starts (or finds) a run and only watches it: see `api/chat_runs.py`."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Query
from sse_starlette import EventSourceResponse

from opscopilot.api import chat_store
from opscopilot.api.chat_runs import ChatRuns, LiveRun
from opscopilot.api.chat_runtime import chat_runtime
from opscopilot.api.chat_schemas import (
    SSE_DOC,
    ChatIn,
    DecisionIn,
    ThreadRead,
    ThreadSummary,
)
from opscopilot.api.chat_store import StoredEvent
from opscopilot.api.deps import ChatCaller, Session, State, Viewer, Writer
from opscopilot.core.errors import ValidationFailed
from opscopilot.core.settings import Settings

router = APIRouter(tags=["chat"])


def event_stream(
    runs: ChatRuns, run_id: uuid.UUID, *, after: int, settings: Settings, thread_id: str
) -> EventSourceResponse:
    async def frames() -> AsyncIterator[bytes]:
        # The events that are there together go out in one write.
        async with aclosing(runs.watch_batches(run_id, after=after)) as batches:
            async for batch in batches:
                yield b"".join(_frame(event) for event in batch)

    return EventSourceResponse(
        frames(),
        ping=settings.api.sse_ping_s,
        send_timeout=settings.api.sse_send_timeout_s,
        sep="\n",
        headers={"X-Run-Id": str(run_id), "X-Thread-Id": thread_id},
    )


def _frame(event: StoredEvent) -> bytes:
    ident = f"id: {event.seq}\n" if event.seq else ""
    data = orjson.dumps(event.data, default=str).decode()
    return f"{ident}event: {event.event}\ndata: {data}\n\n".encode()


def _stream_run(runs: ChatRuns, run: LiveRun, settings: Settings) -> EventSourceResponse:
    return event_stream(runs, run.run_id, after=0, settings=settings, thread_id=run.thread_id)


@router.post("/api/v1/chat", responses=SSE_DOC, response_class=EventSourceResponse)
async def chat(body: ChatIn, state: State, principal: ChatCaller) -> EventSourceResponse:
    """Ask the copilot; the answer streams as Server-Sent Events."""
    runs = await chat_runtime(state)
    run = await runs.start(
        principal=principal,
        message=body.message,
        thread_id=body.thread_id,
        site=body.site,
        surface="web",
    )
    return _stream_run(runs, run, state.settings)


@router.get(
    "/api/v1/chat/runs/{run_id}/events", responses=SSE_DOC, response_class=EventSourceResponse
)
async def run_events(
    run_id: str,
    state: State,
    session: Session,
    principal: Viewer,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    after: Annotated[int | None, Query(ge=0, description="Same as Last-Event-ID.")] = None,
) -> EventSourceResponse:
    """Exactly the run's events after `Last-Event-ID` (all without it), then live ones."""
    run = await chat_store.run_for(session, run_id=run_id, principal=principal)
    await session.close()
    cursor = after or 0
    if last_event_id is not None and last_event_id.strip():
        if not last_event_id.strip().isdigit():
            raise ValidationFailed("Last-Event-ID must be an event id", field="Last-Event-ID")
        cursor = int(last_event_id)
    runs = await chat_runtime(state)
    return event_stream(
        runs, run.id, after=cursor, settings=state.settings, thread_id=run.thread_id
    )


@router.get("/api/v1/chat/threads", response_model=list[ThreadSummary])
async def threads(session: Session, principal: Viewer) -> list[ThreadSummary]:
    """The caller's threads, most recent first."""
    rows = await chat_store.list_threads(session, principal=principal)
    return [ThreadSummary.model_validate(r) for r in rows]


@router.get("/api/v1/chat/threads/{thread_id}", response_model=ThreadRead)
async def thread(thread_id: str, session: Session, principal: Viewer) -> ThreadRead:
    """A thread's questions and answers, pending approvals and its last run."""
    found = await chat_store.thread_history(session, thread_id=thread_id, principal=principal)
    return ThreadRead.model_validate(found)


@router.post(
    "/api/v1/approvals/{approval_id}", responses=SSE_DOC, response_class=EventSourceResponse
)
async def decide(
    approval_id: str, body: DecisionIn, state: State, principal: Writer
) -> EventSourceResponse:
    """Approve or reject a write the agent proposed; the resumed run streams like a turn."""
    runs = await chat_runtime(state)
    run = await runs.decide(
        principal=principal,
        approval_id=approval_id,
        approve=body.decision == "approve",
        comment=body.comment,
    )
    return _stream_run(runs, run, state.settings)
