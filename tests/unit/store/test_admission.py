"""The admission line in front of the pool: first come, first served; waiters wait while the
line moves and give up fast when it stalls."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import exc

from opscopilot.store.admission import AdmissionLine


async def test_slots_go_to_waiters_in_arrival_order_never_to_a_newcomer() -> None:
    line = AdmissionLine(1, wait_s=10, stall_s=10, max_waiting=10)
    await line.enter()
    served: list[int] = []

    async def waiter(n: int) -> None:
        await line.enter()
        served.append(n)

    tasks = [asyncio.create_task(waiter(n)) for n in range(3)]
    await asyncio.sleep(0.01)  # all three queued, in order
    line.leave()
    # A newcomer arriving as the slot comes back does not take it.
    assert not line.try_enter()
    for n in range(3):
        await asyncio.sleep(0.01)
        assert served == list(range(n + 1))
        line.leave()
    await asyncio.gather(*tasks)
    assert line.free == 1 and line.waiting == 0


async def test_a_moving_line_is_waited_for_beyond_the_stall_limit() -> None:
    # Each holder keeps the one slot 0.1 s, longer in all than the 0.25 s stall limit.
    line = AdmissionLine(1, wait_s=10, stall_s=0.25, max_waiting=20)

    async def use() -> None:
        await line.enter()
        try:
            await asyncio.sleep(0.1)
        finally:
            line.leave()

    await asyncio.gather(*(use() for _ in range(8)))
    assert line.free == 1 and line.waiting == 0


async def test_a_stalled_line_fails_after_the_stall_limit() -> None:
    line = AdmissionLine(1, wait_s=30, stall_s=0.2, max_waiting=10)
    await line.enter()  # held and never given back: a hung database
    started = time.monotonic()
    with pytest.raises(exc.TimeoutError, match="stalled"):
        await asyncio.wait_for(line.enter(), timeout=10)  # the guard catches a hang only
    assert time.monotonic() - started >= 0.2
    assert line.waiting == 0


async def test_the_wait_budget_and_the_depth_bound_the_line() -> None:
    line = AdmissionLine(1, wait_s=0.3, stall_s=10, max_waiting=1)
    await line.enter()
    first = asyncio.create_task(line.enter())
    await asyncio.sleep(0.01)
    with pytest.raises(exc.TimeoutError, match="already wait"):
        await line.enter()  # beyond max_waiting: refused at once
    with pytest.raises(exc.TimeoutError, match="wait budget"):
        await asyncio.wait_for(first, timeout=10)
    assert line.waiting == 0


async def test_a_cancelled_waiter_passes_its_slot_on() -> None:
    line = AdmissionLine(1, wait_s=10, stall_s=10, max_waiting=10)
    await line.enter()
    gone = asyncio.create_task(line.enter())
    stays = asyncio.create_task(line.enter())
    await asyncio.sleep(0.01)
    line.leave()  # handed to `gone` ...
    gone.cancel()  # ... which is cancelled before it runs
    await asyncio.gather(gone, return_exceptions=True)
    await asyncio.wait_for(stays, timeout=5)
    line.leave()
    assert line.free == 1 and line.waiting == 0
