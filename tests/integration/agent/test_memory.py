"""The checkpointer under concurrent turns: its pool is used in parallel, and a question's
turn writes one checkpoint (at exit), not one per step."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from sqlalchemy import text

from opscopilot.agent.memory import SETUP_LOCK_KEY, open_checkpointer
from opscopilot.core.settings import Settings
from opscopilot.store.engine import Database
from tests.agent_support.harness import answer, new_thread, runner_for, turn
from tests.agent_support.scripted import ScriptedChatModel, say


def _config(thread_id: str, checkpoint_id: str | None = None) -> Any:
    configurable = {"thread_id": thread_id, "checkpoint_ns": ""}
    if checkpoint_id:
        configurable["checkpoint_id"] = checkpoint_id
    return {"configurable": configurable}


async def test_one_blocked_checkpoint_write_does_not_hold_up_other_threads(
    agent_settings: Settings, clean_db: Database
) -> None:
    async with open_checkpointer(clean_db.url, max_size=4) as saver:
        blocker = await psycopg.AsyncConnection.connect(clean_db.libpq_url)
        try:
            # Another session holds the writes table: thread A's write waits on Postgres.
            await blocker.execute("LOCK TABLE checkpoint_writes IN SHARE MODE")
            write = asyncio.create_task(
                saver.aput_writes(  # type: ignore[attr-defined]
                    _config("thread-a", "1ef0"), [("messages", "hi")], "task-1"
                )
            )
            await asyncio.sleep(0.3)
            assert not write.done()
            # Thread B's read has a connection of its own: it does not queue behind A.
            found = await asyncio.wait_for(
                saver.aget_tuple(_config("thread-b")),  # type: ignore[attr-defined]
                5,
            )
            assert found is None
            assert not write.done()
        finally:
            await blocker.rollback()
            await blocker.close()
        await asyncio.wait_for(write, 5)


async def test_a_question_turn_writes_one_checkpoint_and_the_next_turn_remembers(
    agent_settings: Settings, clean_db: Database
) -> None:
    thread = new_thread()
    model = ScriptedChatModel(responses=[say("First answer."), say("Second answer.")])
    async with runner_for(agent_settings, clean_db, model=model) as runner:
        first = await turn(runner, "first question", thread_id=thread)
        async with clean_db.session() as session:
            count = await session.scalar(
                text("SELECT count(*) FROM checkpoints WHERE thread_id = :t"), {"t": thread}
            )
        assert count == 1
        second = await turn(runner, "second question", thread_id=thread)
    assert answer(first) == "First answer."
    assert answer(second) == "Second answer."
    # The second call saw the whole first exchange, restored from that one checkpoint.
    seen = [str(m.content) for m in model.seen[-1]]
    assert "first question" in seen and "First answer." in seen and "second question" in seen


async def test_setup_waits_for_another_process_without_blocking_in_postgres(
    agent_settings: Settings, clean_db: Database
) -> None:
    # Another process holds the setup lock. A blocking pg_advisory_lock call here would
    # leave an open transaction that the holder's CREATE INDEX CONCURRENTLY waits for.
    holder = await psycopg.AsyncConnection.connect(clean_db.libpq_url, autocommit=True)
    try:
        await holder.execute("SELECT pg_advisory_lock(%s)", (SETUP_LOCK_KEY,))
        opening = asyncio.create_task(_open_and_close(clean_db.url))
        await asyncio.sleep(1.0)
        assert not opening.done()
        cur = await holder.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'"
        )
        assert (await cur.fetchone()) == (0,)
        await holder.execute("SELECT pg_advisory_unlock(%s)", (SETUP_LOCK_KEY,))
        await asyncio.wait_for(opening, 30)
    finally:
        await holder.close()


async def _open_and_close(url: str) -> None:
    async with open_checkpointer(url, max_size=2):
        pass


async def test_checkpointer_connections_prepare_no_statements(
    agent_settings: Settings, clean_db: Database
) -> None:
    """A transaction pooler (PgBouncer) hands each statement any server connection: a
    statement prepared on one is missing on the next, so the saver must prepare none."""
    async with open_checkpointer(clean_db.url, max_size=2) as saver:
        for n in range(3):  # psycopg prepares on the first use at threshold 0, else later
            await saver.aput_writes(  # type: ignore[attr-defined]
                _config("thread-p", f"1ef{n}"), [("messages", "hi")], f"task-{n}"
            )
            await saver.aget_tuple(_config("thread-p"))  # type: ignore[attr-defined]
        pool = saver.conn  # type: ignore[attr-defined]
        prepared = []
        # both of the pool's connections at once: whichever ran the saver's statements
        async with pool.connection() as first, pool.connection() as second:
            for conn in (first, second):
                cur = await conn.execute("SELECT count(*) AS n FROM pg_prepared_statements")
                row = await cur.fetchone()
                prepared.append(row["n"])
    assert prepared == [0, 0]
