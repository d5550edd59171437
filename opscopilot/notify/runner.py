"""Everything notify does in the background, as one loop: deliveries and the chores.

Deliveries run continuously (the relay). Beside them, every ``notify.relay_poll_s``: turn
pending alert events into notifications and bundle due digests; every
``ESCALATION_EVERY_S``: escalate unacknowledged critical alerts. Each chore is its own short
transaction, and every step is safe with several loops running on several machines.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError

from opscopilot.core.settings import Settings
from opscopilot.notify.channelset import ChannelSet
from opscopilot.notify.digest import collect_digests
from opscopilot.notify.escalation import escalate_due
from opscopilot.notify.events import process_alert_events
from opscopilot.notify.relay import Relay
from opscopilot.store.engine import Database

log = logging.getLogger(__name__)

ESCALATION_EVERY_S = 15.0


async def route_and_bundle(db: Database, settings: Settings, *, now: datetime) -> int:
    """One pass of the chores that create notifications; returns how many things moved."""
    moved = 0
    while True:
        async with db.sessions() as session, session.begin():
            handled = await process_alert_events(session, settings=settings, now=now)
        moved += handled
        if handled == 0:
            break
    async with db.sessions() as session, session.begin():
        moved += len(await collect_digests(session, now=now))
    return moved


async def escalate(db: Database, settings: Settings, *, now: datetime) -> int:
    async with db.sessions() as session, session.begin():
        return len(await escalate_due(session, settings=settings, now=now))


class NotifyLoop:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        channels: ChannelSet | None = None,
        concurrency: int | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.relay = Relay(db, settings, channels=channels, concurrency=concurrency)

    async def run(self, stop: asyncio.Event) -> None:
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self.relay.run_deliveries(stop))
                group.create_task(self._chores(stop))
        finally:
            await self.relay.aclose()

    async def _chores(self, stop: asyncio.Event) -> None:
        last_escalation = 0.0
        while not stop.is_set():
            now = datetime.now(UTC)
            try:
                if await route_and_bundle(self.db, self.settings, now=now):
                    self.relay.wake.set()
                if time.monotonic() - last_escalation >= ESCALATION_EVERY_S:
                    last_escalation = time.monotonic()
                    if await escalate(self.db, self.settings, now=now):
                        self.relay.wake.set()
            except (SQLAlchemyError, OSError) as exc:  # the database went away: next round
                log.warning("notify chores failed", extra={"error": repr(exc)})
            try:
                await asyncio.wait_for(stop.wait(), timeout=self.settings.notify.relay_poll_s)
            except TimeoutError:
                pass
