"""The retention job covers every copy of a transcript: the thread, its runs (question and
answer), its stored SSE events, its LangGraph checkpoints, the question text in the audit
log and feedback comments; fresh threads are left alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text, update

from opscopilot.core.settings import Settings
from opscopilot.jobs.retention import purge_expired
from opscopilot.store.engine import Database
from opscopilot.store.models import AuditEvent, ChatEvent, ChatFeedback, ChatRun, ChatThread
from tests.agent_support.harness import answer, new_thread, runner_for, turn
from tests.conftest import make_settings

QUESTION = "what is the stock of the secret prototype SKU-X9?"


async def _count(db: Database, sql: str, thread_id: str) -> int:
    async with db.sessions() as session:
        return int((await session.execute(text(sql), {"t": thread_id})).scalar_one())


async def test_an_old_transcript_is_gone_everywhere(settings: Settings, clean_db: Database) -> None:
    old, fresh = new_thread(), new_thread()
    async with runner_for(settings, clean_db) as runner:
        for thread_id in (old, fresh):
            assert answer(await turn(runner, QUESTION, thread_id=thread_id))
    async with clean_db.transaction() as session:
        for thread_id in (old, fresh):
            run = await session.scalar(select(ChatRun).where(ChatRun.thread_id == thread_id))
            assert run is not None and run.question == QUESTION
            session.add(ChatEvent(run_id=run.id, seq=1, event="token", data={"text": "SKU-X9"}))
            session.add(ChatFeedback(thread_id=thread_id, score=1, comment="about SKU-X9"))
        await session.execute(
            update(ChatThread)
            .where(ChatThread.id == old)
            .values(updated_at=datetime.now(UTC) - timedelta(days=400))
        )
    checkpoints = "SELECT count(*) FROM checkpoints WHERE thread_id = :t"
    assert await _count(clean_db, checkpoints, old) > 0

    short = make_settings(clean_db.url, retention={"transcript_days": 365})
    async with clean_db.sessions() as session:
        purged = await purge_expired(session, settings=short, now=datetime.now(UTC))
    assert purged["threads"] == 1 and purged["checkpoint_rows"] > 0

    async with clean_db.sessions() as session:
        for thread_id, kept in ((old, 0), (fresh, 1)):
            runs = await session.scalar(
                select(func.count()).select_from(ChatRun).where(ChatRun.thread_id == thread_id)
            )
            events = await session.scalar(
                select(func.count())
                .select_from(ChatEvent)
                .join(ChatRun, ChatRun.id == ChatEvent.run_id)
                .where(ChatRun.thread_id == thread_id)
            )
            assert (runs, events) == (kept, kept)
        asked = (
            await session.scalars(
                select(AuditEvent).where(
                    AuditEvent.event_type == "chat.question", AuditEvent.thread_id == old
                )
            )
        ).all()
        assert asked and all(a.subject is None for a in asked)  # who asked stays, not what
        rows = await session.execute(select(ChatFeedback.thread_id, ChatFeedback.comment))
        comments = {thread_id: comment for thread_id, comment in rows}
    assert comments == {old: None, fresh: "about SKU-X9"}
    assert await _count(clean_db, checkpoints, old) == 0
    assert await _count(clean_db, checkpoints, fresh) > 0
