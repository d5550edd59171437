"""The API's pool under a burst and after a restart: requests queue in order while
connections come back (beyond `db.pool_timeout`, which only bounds a stall), and a
connection the server closed is replaced before use, without a ping per checkout."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from opscopilot.store.admission import AdmittingQueuePool
from opscopilot.store.engine import make_engine
from tests.conftest import make_settings


async def test_a_burst_queues_past_the_pool_timeout_while_the_line_moves(migrated: str) -> None:
    settings = make_settings(
        migrated, db={"url": migrated, "pool_size": 1, "max_overflow": 0, "pool_timeout": 0.3}
    )
    engine = make_engine(migrated, settings, application_name="tests-admission")
    order: list[int] = []

    async def request(n: int) -> None:
        async with engine.connect() as conn:
            order.append(n)
            await conn.execute(text("SELECT pg_sleep(0.06)"))

    try:
        # 12 x 60 ms on one connection: the last waits ~0.7 s, over twice the pool timeout.
        tasks = []
        for n in range(12):
            tasks.append(asyncio.create_task(request(n)))
            await asyncio.sleep(0)  # arrive in this order
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=30)  # a hang guard only
        assert order == list(range(12))  # first come, first served
        pool = engine.sync_engine.pool
        assert isinstance(pool, AdmittingQueuePool)
        assert pool.checkedout() == 0 and pool.line.free == 1
    finally:
        await engine.dispose()


async def test_a_connection_the_server_closed_is_replaced_before_use(migrated: str) -> None:
    settings = make_settings(migrated, db={"url": migrated, "pool_size": 1, "max_overflow": 0})
    engine = make_engine(migrated, settings, application_name="tests-admission")
    killer = make_engine(migrated, settings, application_name="tests-killer")
    try:
        async with engine.connect() as conn:
            before = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with killer.connect() as conn:
            await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": before})
        await asyncio.sleep(0.2)  # the server's close reaches the pooled socket
        async with engine.connect() as conn:  # the pool's only connection was the dead one
            after = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert after != before
    finally:
        await engine.dispose()
        await killer.dispose()
