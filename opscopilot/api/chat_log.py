"""The chat event log in Postgres: one writer that stores events in batches, and a reader
that follows a run from the store (how a replica serves a run another one is running).

Storing trails the live stream by design: the writer waits a moment after the first event
so that the tokens of every run go into one INSERT rather than a transaction per token,
and a reader that finds a run still running polls until its last event is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncGenerator, Callable
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from opscopilot.api import chat_store
from opscopilot.api.chat_store import TERMINAL_EVENTS, RunEnd, StoredEvent
from opscopilot.store.engine import Database

log = logging.getLogger(__name__)

QUEUE_SIZE = 4096
MAX_BATCH = 2048
LINGER_S = 0.1
STORE_ATTEMPTS = 3
# How long a reader waits for the last events of a run whose row already says it ended.
SETTLE_S = 5.0

_Queued = tuple[Any, uuid.UUID, StoredEvent, RunEnd | None]


class EventWriter:
    """Stores `(run, event)` pairs in order; `on_end(run)` once a run's last one is stored."""

    def __init__(self, db: Database, *, on_end: Callable[[Any], None]) -> None:
        self.db = db
        self.on_end = on_end
        self._queue: asyncio.Queue[_Queued] = asyncio.Queue(QUEUE_SIZE)
        self._task = asyncio.create_task(self._loop(), name="chat-event-writer")

    async def put(
        self, owner: Any, run_id: uuid.UUID, event: StoredEvent, end: RunEnd | None
    ) -> None:
        try:
            self._queue.put_nowait((owner, run_id, event, end))
        except asyncio.QueueFull:  # the store is behind: slow the agent down, not memory up
            await self._queue.put((owner, run_id, event, end))

    async def close(self, *, timeout: float = 5.0) -> None:
        """Store what is queued (within `timeout`), then stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout=timeout)
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            await asyncio.sleep(LINGER_S)
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write(batch)
            except Exception:
                log.exception("chat events lost")
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _write(self, batch: list[_Queued]) -> None:
        rows = [(run_id, event) for _, run_id, event, _ in batch]
        ends = [end for *_, end in batch if end is not None]
        for attempt in range(1, STORE_ATTEMPTS + 1):
            try:
                async with self.db.engine.begin() as conn:
                    await chat_store.store_events(conn, rows=rows, finished=ends)
                break
            except (SQLAlchemyError, OSError) as exc:
                if attempt == STORE_ATTEMPTS:
                    # The live watchers had them; a replay elsewhere will miss them.
                    log.error("could not store %d chat events: %s", len(rows), exc)
                    break
                await asyncio.sleep(0.2 * attempt)
        for owner, _, _, end in batch:
            if end is not None:
                self.on_end(owner)


async def follow_stored(
    db: Database, run_id: uuid.UUID, *, after: int, poll_s: float, stale_s: float
) -> AsyncGenerator[StoredEvent, None]:
    """The run's stored events after `after`, polling while it runs; close with `aclosing`."""
    cursor, quiet_since = after, time.monotonic()
    while True:
        async with db.sessions() as session:
            status, ended_ago = await chat_store.run_status(session, run_id=run_id)
            events = await chat_store.load_events(session, run_id=run_id, after=cursor)
        for event in events:
            cursor = event.seq
            yield event
        if events:
            if events[-1].event in TERMINAL_EVENTS:
                return
            quiet_since = time.monotonic()
            continue
        if status != "running":
            # The row may say the run ended just before its last events are stored.
            if ended_ago is None or ended_ago > SETTLE_S:
                return
        elif time.monotonic() - quiet_since > stale_s:
            # No id: this is about the stream, not an event of the run.
            yield StoredEvent(
                0, "error", {"code": "stale_run", "message": "the run stopped reporting"}
            )
            return
        await asyncio.sleep(poll_s)
