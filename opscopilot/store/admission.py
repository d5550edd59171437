"""Admission control in front of the SQLAlchemy pool: a burst of requests queues in order for
a connection instead of timing out in the pool, while a database that gives no connection
back (down, or hung) still answers fast.

SQLAlchemy's asyncio queue lets a newcomer take a connection that was just returned to a
waiter, and the waiter goes back to the end of the line: under a burst some requests lose
every race until `pool_timeout` and fail with a 503 while the pool is busy but healthy.
`AdmissionLine` is a strict FIFO whose waiters give up on either of two clocks: the wait
budget (`db.queue_wait_s`, long: the line moves, only slowly) or the stall (`pool_timeout`,
short: no connection came back at all for that long, so the database is not answering).
"""

from __future__ import annotations

import asyncio
import collections
import sys
import time
from typing import Any

from sqlalchemy import exc
from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry
from sqlalchemy.util import await_


class AdmissionLine:
    """`capacity` slots handed out first come, first served.

    `enter` waits while slots come back, up to `wait_s`; it raises `sqlalchemy.exc.
    TimeoutError` (a 503 at the API) when none came back for `stall_s`, when the budget is
    spent, or at once when `max_waiting` requests already wait."""

    def __init__(self, capacity: int, *, wait_s: float, stall_s: float, max_waiting: int):
        self.capacity = capacity
        self.wait_s = wait_s
        self.stall_s = stall_s
        self.max_waiting = max_waiting
        self.free = capacity
        self.moved_at = time.monotonic()
        # Only pending turns: `leave` pops the one it serves, a waiter giving up removes its own.
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def try_enter(self) -> bool:
        if self.free > 0 and not self._waiting:
            self.free -= 1
            return True
        return False

    async def enter(self) -> None:
        if self.try_enter():
            return
        if len(self._waiting) >= self.max_waiting:
            raise exc.TimeoutError(
                f"{len(self._waiting)} requests already wait for a database connection"
            )
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(turn)
        started = time.monotonic()
        try:
            while not turn.done():
                now = time.monotonic()
                stalled = now - max(started, self.moved_at)
                left = min(self.stall_s - stalled, self.wait_s - (now - started))
                if left <= 0:
                    why = "spent its wait budget" if stalled < self.stall_s else "stalled"
                    raise exc.TimeoutError(
                        f"the line for a database connection {why} after "
                        f"{now - started:.1f} s ({self.capacity} connections, all busy)"
                    )
                await asyncio.wait({turn}, timeout=left)
        except BaseException:
            if turn.done():
                self.leave()  # handed a slot while giving up (cancelled): pass it on
            else:
                self._waiting.remove(turn)
                turn.cancel()
            raise

    def leave(self) -> None:
        self.moved_at = time.monotonic()
        if self._waiting:
            # The slot goes to the head of the line, never to a newcomer.
            self._waiting.popleft().set_result(None)
        else:
            self.free += 1


class AdmittingQueuePool(AsyncAdaptedQueuePool):
    """The asyncio queue pool with an `AdmissionLine` of its full size in front: a checkout
    first waits its turn, then finds a connection free (or room to open one). The pool's
    `timeout` is the line's stall limit; `configured` sets the wait budget and depth."""

    queue_wait_s: float = 30.0
    queue_max: int = 1000

    @classmethod
    def configured(cls, *, queue_wait_s: float, queue_max: int) -> type[AdmittingQueuePool]:
        # A subclass rather than constructor arguments: create_engine passes only the pool
        # arguments it knows, and `recreate` (engine.dispose) rebuilds from the class.
        attrs = {"queue_wait_s": queue_wait_s, "queue_max": queue_max}
        return type(cls.__name__, (cls,), attrs)

    def __init__(
        self,
        creator: Any,
        pool_size: int = 5,
        max_overflow: int = 10,
        timeout: float = 30.0,
        **kw: Any,
    ) -> None:
        super().__init__(creator, pool_size, max_overflow, timeout, **kw)
        unbounded = pool_size == 0 or max_overflow < 0
        self.line = AdmissionLine(
            sys.maxsize if unbounded else pool_size + max_overflow,
            wait_s=self.queue_wait_s,
            stall_s=timeout,
            max_waiting=self.queue_max,
        )

    def _do_get(self) -> ConnectionPoolEntry:
        if not self.line.try_enter():
            await_(self.line.enter())
        try:
            return super()._do_get()
        except BaseException:
            self.line.leave()
            raise

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        try:
            super()._do_return_conn(record)
        finally:
            self.line.leave()
