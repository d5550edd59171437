"""The relay: claims due notifications, delivers them, records what happened.

Claiming is one statement: rows that are due (``queued``, ``deferred`` whose time has come,
or ``sending`` whose lease ran out because the relay holding them died) are locked with
``FOR UPDATE SKIP LOCKED``, so any number of relays share the work, and turned into
``sending`` with ``attempts + 1`` and a lease in ``next_attempt_at``. A re-claimed row is
sent again with the same idempotency key (the notification id: webhook-id, Message-ID),
so the receiver recognises the repeat. Outcomes are written in small batches, fenced by
``attempts`` so a relay whose lease was taken over cannot overwrite the newer attempt.

Transient errors retry with exponential backoff and jitter, never sooner than the
provider's Retry-After, until ``notify.max_attempts``; then the row is ``failed`` with the
last error. Permanent errors fail at once. What the provider already accepted on a failed
attempt (a Slack ts) is kept so the next attempt edits instead of posting again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from asyncio import FIRST_COMPLETED
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from opscopilot.core.metrics import NOTIFICATIONS
from opscopilot.core.settings import Settings
from opscopilot.notify.channels.base import (
    DeliveryError,
    DeliveryResult,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from opscopilot.notify.channelset import ChannelSet
from opscopilot.notify.charts import draw_chart
from opscopilot.notify.outbox import WAKE_CHANNEL
from opscopilot.notify.relay_sql import CLAIM, RECORD, RECORD_DIGESTED, RECORD_MANY
from opscopilot.notify.render import ClaimedRow, TemplateCache, build_message
from opscopilot.notify.templates import NotificationTemplate
from opscopilot.store.engine import Database

log = logging.getLogger(__name__)

# A `sending` row is claimed again after this; longer than any one delivery may take.
LEASE_S = 120.0
# Deliveries in flight at once (more helps slow providers).
DEFAULT_CONCURRENCY = 16
DELIVERY_TIMEOUT_S = 60.0
MAX_RETRY_AFTER_S = 3600.0
# Outcomes are written when this many are waiting or the oldest waited this long.
FLUSH_ROWS = 64
FLUSH_S = 0.02


def backoff_delay(
    attempt: int,
    *,
    base: float,
    cap: float,
    retry_after: float | None = None,
    rng: random.Random,
) -> float:
    """Seconds before attempt `attempt + 1`: exponential, jittered in its upper half (so
    retries of many rows spread out but none comes back early), never before Retry-After."""
    ceiling = min(cap, base * 2.0 ** max(attempt - 1, 0))
    delay = ceiling / 2 + rng.uniform(0, ceiling / 2)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER_S))
    return delay


@dataclass(frozen=True, slots=True)
class Outcome:
    row: ClaimedRow
    status: str  # sent | queued (retry later) | failed
    reason: str | None = None
    last_error: str | None = None
    next_attempt_at: datetime | None = None
    result: DeliveryResult | None = None
    sent_at: datetime | None = None

    def params(self, now: datetime) -> dict[str, Any]:
        return {
            "id": self.row.id,
            "attempts": self.row.attempts,
            "status": self.status,
            "reason": self.reason,
            "last_error": self.last_error,
            "next_attempt_at": self.next_attempt_at,
            "sent_at": self.sent_at,
            "now": now,
            "provider_message_id": self.result.provider_message_id if self.result else None,
            "provider_conversation_id": self.result.conversation_id if self.result else None,
        }


class Relay:
    """Delivers due notifications; `deliver_due` drains once, `run_deliveries` never stops."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        channels: ChannelSet | None = None,
        lease_s: float = LEASE_S,
        concurrency: int | None = None,
        seed: int | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.channels = channels or ChannelSet(settings)
        self._owns_channels = channels is None
        self.lease_s = lease_s
        self.concurrency = max(1, concurrency or DEFAULT_CONCURRENCY)
        # Rows claimed at once: a claim is a round trip, so it brings work for a while.
        self.batch = max(self.concurrency, settings.notify.relay_batch)
        self.templates = TemplateCache()
        self.wake = asyncio.Event()
        self._rng = random.Random(seed)

    async def aclose(self) -> None:
        if self._owns_channels:
            await self.channels.aclose()

    async def deliver_due(self, *, now: datetime | None = None) -> int:
        """Deliver what is due at `now` (default: the clock) until nothing is; returns the
        number of delivery attempts made."""
        return await self._pump(now=now, stop=None)

    async def run_deliveries(self, stop: asyncio.Event) -> None:
        """Deliver continuously until `stop` is set, waking on NOTIFY or every poll."""
        async with self._listening():
            while not stop.is_set():
                try:
                    await self._pump(now=None, stop=stop)
                except (SQLAlchemyError, OSError) as exc:
                    # The database went away; rows claimed by this pass come back after
                    # their lease, so waiting and starting over loses nothing.
                    log.warning("relay pass failed", extra={"error": repr(exc)})
                    await self._idle(stop)

    async def _pump(self, *, now: datetime | None, stop: asyncio.Event | None) -> int:
        """Keep `concurrency` deliveries in flight from a local backlog of claimed rows
        (claimed `batch` at a time, `notify.relay_batch`).

        Claiming and recording run as background tasks beside the deliveries, one of each
        at a time, so a slow database round trip never leaves the deliveries idle.
        """
        inflight: set[asyncio.Task[Outcome]] = set()
        backlog: deque[ClaimedRow] = deque()
        waiting: list[Outcome] = []
        claiming: asyncio.Task[list[ClaimedRow]] | None = None
        recording: asyncio.Task[None] | None = None
        oldest = attempts = 0.0
        drained = False
        while True:
            stopping = stop is not None and stop.is_set()
            while backlog and len(inflight) < self.concurrency:
                inflight.add(asyncio.create_task(self._deliver(backlog.popleft(), now)))
            if claiming is None and not (stopping or drained) and len(backlog) < self.batch // 2:
                claiming = asyncio.create_task(self._claim(now or datetime.now(UTC), self.batch))
            settled = not inflight and claiming is None
            if (
                recording is None
                and waiting
                and (settled or len(waiting) >= FLUSH_ROWS or time.monotonic() - oldest >= FLUSH_S)
            ):
                recording = asyncio.create_task(self._flush(waiting))
                waiting = []
            if settled and recording is None and not waiting and not backlog:
                if stop is None or stopping:
                    return int(attempts)
                await self._idle(stop)
                drained = False
                continue
            busy = inflight | {t for t in (claiming, recording) if t is not None}
            done, _ = await asyncio.wait(busy, timeout=FLUSH_S, return_when=FIRST_COMPLETED)
            for task in done:
                if task is claiming:
                    rows, claiming = claiming.result(), None
                    drained = len(rows) < self.batch
                    attempts += len(rows)
                    backlog.extend(rows)
                elif task is recording:
                    recording.result()
                    recording = None
                else:
                    outcome = task.result()
                    assert isinstance(outcome, Outcome)
                    inflight.discard(task)
                    if not waiting:
                        oldest = time.monotonic()
                    waiting.append(outcome)
            if self.wake.is_set():
                self.wake.clear()
                drained = False

    async def _idle(self, stop: asyncio.Event) -> None:
        waits = [asyncio.ensure_future(self.wake.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(
                waits,
                timeout=self.settings.notify.relay_poll_s,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:  # also when the relay itself is cancelled: no waiter outlives it
            for waiter in waits:
                waiter.cancel()
        self.wake.clear()

    async def _claim(self, now: datetime, limit: int) -> list[ClaimedRow]:
        params = {"now": now, "limit": limit, "lease_until": now + timedelta(seconds=self.lease_s)}
        async with self.db.engine.connect() as conn:
            autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
            rows = [ClaimedRow(**dict(r._mapping)) for r in await autocommit.execute(CLAIM, params)]
        stale = {(r.notification_type, r.channel) for r in rows}
        stale = {key for key in stale if self.templates.stale(*key)}
        if stale:
            async with self.db.sessions() as session:
                for key in stale:
                    await self.templates.refresh(session, *key)
        return rows

    async def _template(self, row: ClaimedRow) -> NotificationTemplate:
        cached = self.templates.peek(row.notification_type, row.channel)
        if cached is not None:
            return cached
        async with self.db.sessions() as session:
            return await self.templates.refresh(session, row.notification_type, row.channel)

    async def _deliver(self, row: ClaimedRow, now: datetime | None) -> Outcome:
        max_attempts = self.settings.notify.max_attempts
        if row.attempts > max_attempts:
            # Only a relay that died mid-send, again and again, gets here.
            return _failed(row, f"gave up after {max_attempts} attempts (relay stopped mid-send)")
        try:
            channel = self.channels.get(row.channel)
            template = await self._template(row)
            chart = await self._chart(row)
            message = build_message(row, template, chart_png=chart)
            async with asyncio.timeout(DELIVERY_TIMEOUT_S):  # no extra task, unlike wait_for
                result = await channel.deliver(message)
        except PermanentDeliveryError as exc:
            return _failed(row, exc.message, partial=exc.partial)
        except TransientDeliveryError as exc:
            return self._retry(row, exc.message, exc.retry_after, exc.partial, now)
        except TimeoutError:
            return self._retry(row, f"no answer within {DELIVERY_TIMEOUT_S:.0f} s", None, None, now)
        except DeliveryError as exc:
            return _failed(row, exc.message, partial=exc.partial)
        except Exception as exc:  # a bug must not strand the row: retried, then failed
            log.exception("delivery crashed", extra={"notification_id": str(row.id)})
            return self._retry(row, f"internal error: {exc!r}", None, None, now)
        return Outcome(row=row, status="sent", result=result, sent_at=datetime.now(UTC))

    def _retry(
        self,
        row: ClaimedRow,
        error: str,
        retry_after: float | None,
        partial: DeliveryResult | None,
        now: datetime | None,
    ) -> Outcome:
        notify = self.settings.notify
        if row.attempts >= notify.max_attempts:
            return _failed(row, f"gave up after {row.attempts} attempts: {error}", partial=partial)
        delay = backoff_delay(
            row.attempts,
            base=notify.backoff_base_s,
            cap=notify.backoff_max_s,
            retry_after=retry_after,
            rng=self._rng,
        )
        when = (now or datetime.now(UTC)) + timedelta(seconds=delay)
        return Outcome(
            row=row, status="queued", last_error=error, next_attempt_at=when, result=partial
        )

    async def _chart(self, row: ClaimedRow) -> bytes | None:
        chart_url = row.payload.get("chart_url")
        if row.channel not in ("slack", "email") or not isinstance(chart_url, str):
            return None
        return await draw_chart(self.db, self.settings, chart_url)

    async def _flush(self, outcomes: list[Outcome]) -> None:
        if not outcomes:
            return
        now = datetime.now(UTC)
        rows = {"rows": orjson.dumps([o.params(now) for o in outcomes], default=str).decode()}
        if any(_digest_members(o) for o in outcomes):
            # A digest and the items it bundled change together or not at all.
            async with self.db.sessions() as session, session.begin():
                await session.execute(RECORD, rows)
                await _settle_digested(session, outcomes, now)
        else:
            async with self.db.engine.connect() as conn:
                autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
                await autocommit.execute(RECORD_MANY, rows)
        for o in outcomes:
            if o.status in ("sent", "failed"):
                NOTIFICATIONS.labels(channel=o.row.channel, status=o.status).inc()
            if o.status == "failed":
                log.warning(
                    "notification failed",
                    extra={"notification_id": str(o.row.id), "error": o.last_error},
                )

    @contextlib.asynccontextmanager
    async def _listening(self) -> AsyncIterator[None]:
        """LISTEN for commits that queued something; without it the relay still polls."""

        def wake(*_: object) -> None:
            self.wake.set()

        conn: AsyncConnection | None = None
        raw: Any = None
        try:
            conn = await self.db.engine.connect()
            raw = (await conn.get_raw_connection()).driver_connection
            await raw.add_listener(WAKE_CHANNEL, wake)
        except Exception as exc:  # polling still works; say why deliveries may lag
            log.warning("relay cannot LISTEN; polling only", extra={"error": repr(exc)})
            if conn is not None:
                await conn.close()
            conn = None
        try:
            yield
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    await raw.remove_listener(WAKE_CHANNEL, wake)
                await conn.close()


async def _settle_digested(session: AsyncSession, outcomes: list[Outcome], now: datetime) -> None:
    """Items bundled into a digest take the digest's final status."""
    for o in outcomes:
        members = _digest_members(o)
        if not members:
            continue
        await session.execute(
            RECORD_DIGESTED,
            {
                "ids": [uuid.UUID(m) for m in members],
                "status": o.status,
                "last_error": o.last_error,
                "sent_at": o.sent_at,
                "now": now,
                "provider_message_id": o.result.provider_message_id if o.result else None,
            },
        )


def _digest_members(o: Outcome) -> list[str]:
    members = o.row.payload.get("digest_of")
    return members if o.status in ("sent", "failed") and isinstance(members, list) else []


def _failed(row: ClaimedRow, error: str, *, partial: DeliveryResult | None = None) -> Outcome:
    return Outcome(row=row, status="failed", reason=error[:500], last_error=error, result=partial)
