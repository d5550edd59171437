"""The event store's batch: events in, and the runs it ends closed with their leases freed."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from opscopilot.api.chat_store import StoredEvent, load_events, store_events
from opscopilot.store.engine import Database
from opscopilot.store.models import ChatRun, ChatThread


async def _running(db: Database, *, closed: bool = False) -> tuple[str, uuid.UUID]:
    """A thread whose lease a run holds; `closed`: the runner has ended it already."""
    thread_id, run_id = uuid.uuid4().hex, uuid.uuid4()
    async with db.transaction() as session:
        session.add(
            ChatThread(
                id=thread_id,
                surface="web",
                site="main",
                busy_run_id=None if closed else run_id,
                busy_until=None if closed else datetime.now(UTC) + timedelta(minutes=5),
            )
        )
        await session.flush()
        session.add(
            ChatRun(
                id=run_id,
                thread_id=thread_id,
                status="done" if closed else "running",
                question="q",
                answer="from the runner" if closed else None,
            )
        )
    return thread_id, run_id


async def test_a_batch_stores_events_and_closes_only_the_runs_left_running(
    clean_db: Database,
) -> None:
    left_thread, left = await _running(clean_db)
    _, other_left = await _running(clean_db)
    closed_thread, closed = await _running(clean_db, closed=True)
    async with clean_db.engine.begin() as conn:
        await store_events(
            conn,
            rows=[
                (left, StoredEvent(1, "token", {"text": "hi"})),
                (left, StoredEvent(2, "error", {})),
            ],
            finished=[
                (left, "cancelled", "hi", {}, "the client left"),
                (other_left, "error", None, {}, "boom"),
                (closed, "done", "from the writer", {"total_tokens": 3}, None),
            ],
        )
    async with clean_db.sessions() as session:
        assert [e.seq for e in await load_events(session, run_id=left, after=0)] == [1, 2]
        runs: dict[uuid.UUID, tuple[str, str | None, str | None]] = {}
        for run_id in (left, other_left, closed):
            run = await session.get(ChatRun, run_id)
            assert run is not None
            runs[run_id] = (run.status, run.answer, run.error)
        freed = await session.get(ChatThread, left_thread)
        kept = await session.get(ChatThread, closed_thread)
    assert runs[left] == ("cancelled", "hi", "the client left")
    assert runs[other_left] == ("error", None, "boom")
    assert runs[closed] == ("done", "from the runner", None)  # what the runner recorded stands
    assert freed is not None and freed.busy_run_id is None and freed.busy_until is None
    assert kept is not None and kept.busy_run_id is None
