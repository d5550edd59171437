"""Pools: an exhausted pool sheds load within its wait budget, it does not hang. The API's
SQLAlchemy pool and the job queue's answer 503 in the JSON error shape (a refused defer
leaves nothing half-written); the checkpointer's ends a chat with an `unavailable` error
event. And the pools every process opens add up below `max_connections`."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Any

import httpx
from sqlalchemy import select, text

from opscopilot.core.settings import Settings
from opscopilot.store.engine import Database
from opscopilot.store.models import ForecastRun
from opscopilot.store.models.inference import InferenceJob
from tests.agent_support.factories import add_item
from tests.conftest import _key, make_settings
from tests.integration.chat.conftest import LiveServer, chat_settings
from tests.integration.chat.sse import collect

WAIT_S = 0.5  # every pool's wait budget in these tests
HANG_S = 20  # the guards are hang detectors, not speed asserts


async def test_exhausted_api_pool_answers_503_without_hanging(
    migrated: str, clean_db: Database, admin_headers: dict[str, str]
) -> None:
    from opscopilot.api.app import create_app

    settings = make_settings(
        migrated, db={"url": migrated, "pool_size": 1, "max_overflow": 0, "pool_timeout": 0.5}
    )
    app = create_app(settings)  # its own engine, sized above
    async with app.router.lifespan_context(app):
        engine = app.state.oc.db.engine
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            ok = await client.get("/api/v1/items", headers=admin_headers)
            assert ok.status_code == 200, ok.text
            async with engine.connect() as held:  # the pool's only connection
                await held.execute(text("SELECT 1"))
                # The guard is a hang detector, not a speed assert: pool_timeout is 0.5 s.
                busy = await asyncio.wait_for(
                    client.get("/api/v1/items", headers=admin_headers), timeout=20
                )
            assert busy.status_code == 503, busy.text
            assert busy.headers["Retry-After"] == "1"
            assert busy.json()["error"]["code"] == "unavailable"
            assert set(busy.json()["error"]) >= {"code", "message", "request_id"}
            # Released: the same pool serves again, nothing left checked out.
            again = await client.get("/api/v1/items", headers=admin_headers)
            assert again.status_code == 200, again.text
            assert engine.pool.checkedout() == 0


async def test_busy_job_queue_pool_answers_503_and_leaves_nothing_half_started(
    migrated: str, clean_db: Database, operator_headers: dict[str, str]
) -> None:
    from opscopilot.api.app import create_app

    for sku in ("POOL-1", "POOL-2"):
        await add_item(clean_db, sku, on_hand=10)
    settings = make_settings(migrated, jobs={"pool_size": 1, "pool_timeout_s": WAIT_S})
    app = create_app(settings, database=clean_db)
    series = [{"period": f"P{i:02d}", "value": 100.0 + i % 4} for i in range(24)]
    infer = {"model": "anomaly-detector", "async": True, "input": {"series": series}}
    bulk = {"forecast_type": "inventory", "partition_size": 1}
    async with app.router.lifespan_context(app):
        pool = app.state.oc.jobs.connector.pool
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:

            async def post(path: str, body: dict[str, Any]) -> httpx.Response:
                call = client.post(f"/api/v1{path}", json=body, headers=operator_headers)
                return await asyncio.wait_for(call, HANG_S)

            async with pool.connection():  # the queue's only connection
                busy = [await post("/infer", infer), await post("/forecasts/bulk", bulk)]
            for response in busy:
                assert response.status_code == 503, response.text
                assert set(response.json()["error"]) >= {"code", "message", "request_id"}
            # Released: the queue takes the same requests again.
            job = await post("/infer", infer)
            assert job.status_code == 202, job.text
            async with clean_db.sessions() as session:
                [refused_run] = (await session.scalars(select(ForecastRun))).all()
            resumed = await post(f"/forecasts/runs/{refused_run.id}/resume", {})
            assert resumed.status_code == 202, resumed.text
    async with clean_db.sessions() as session:
        jobs = {j.id: j for j in (await session.scalars(select(InferenceJob))).all()}
        queued = await session.scalar(text("SELECT count(*) FROM jobs.procrastinate_jobs"))
    # The refused requests' rows say so (never "queued" or "running" with no job behind):
    # the model run failed; the bulk run failed whole, and resuming it queued its partitions.
    refused = next(j for i, j in jobs.items() if i != uuid.UUID(job.json()["job_id"]))
    assert (len(jobs), refused.status, refused.error) == (2, "failed", "could not be queued")
    assert refused_run.status == "failed" and "could not be queued" in (refused_run.error or "")
    assert resumed.json()["status"] == "running"
    assert queued == 1 + 2


async def test_busy_checkpointer_pool_ends_the_chat_with_an_unavailable_event(
    migrated: str, clean_db: Database
) -> None:
    from opscopilot.agent.memory import open_checkpointer
    from opscopilot.agent.runtime import GraphAgentRunner
    from opscopilot.store.models import ChatRun

    headers = {"Authorization": f"Bearer {await _key(clean_db, 'viewer', 'pool-viewer')}"}
    server = LiveServer(chat_settings(migrated)).start()
    stack = contextlib.AsyncExitStack()
    held: list[Any] = []
    saver: Any = None
    try:

        async def install() -> None:  # on the server's loop, which owns the pool
            nonlocal saver
            state = server.app.state.oc
            opened = open_checkpointer(state.db.url, max_size=2, timeout=WAIT_S)
            saver = await stack.enter_async_context(opened)
            state.extras["agent_runner"] = GraphAgentRunner(
                state.settings, state.db, checkpointer=saver
            )
            # Both of its connections (min_size = max_size = 2), as busy turns would hold them.
            held.extend([await saver.conn.getconn(), await saver.conn.getconn()])

        await server.call(install)
        async with httpx.AsyncClient(timeout=HANG_S) as http:
            async with http.stream(
                "POST", f"{server.url}/api/v1/chat", json={"message": "hi"}, headers=headers
            ) as response:
                # The run starts before the stream, so the refusal is its last event.
                assert response.status_code == 200
                events = await asyncio.wait_for(collect(response), HANG_S)
        assert events[-1].event == "error", events
        assert events[-1].data["code"] == "unavailable"
        assert "busy" in events[-1].data["message"]

        async def release() -> None:
            for conn in held:
                await saver.conn.putconn(conn)
            held.clear()

        await server.call(release)
        # Released: the next turn on the same pool answers.
        async with httpx.AsyncClient(timeout=HANG_S) as http:
            async with http.stream(
                "POST", f"{server.url}/api/v1/chat", json={"message": "hi"}, headers=headers
            ) as response:
                assert (await collect(response))[-1].event == "done"
        async with clean_db.sessions() as session:
            statuses = (await session.scalars(select(ChatRun.status))).all()
        assert sorted(statuses) == ["done", "error"]
    finally:

        async def close() -> None:
            for conn in held:
                await saver.conn.putconn(conn)
            await stack.aclose()

        await server.call(close)
        server.stop()


def deployment_connections(settings: Settings, *, api_workers: int) -> dict[str, int]:
    """Connections each process of a deployment may open at most, from settings and the
    pool constants the code uses: `serve --workers N`, one `worker`, one `slack`."""
    from opscopilot.agent import memory

    asyncpg_pool = settings.db.pool_size + settings.db.max_overflow
    jobs_pool = settings.jobs.pool_size
    checkpointer = max(memory.POOL_MIN, settings.db.checkpoint_pool_size)
    listener = 1  # a procrastinate worker LISTENs on a connection of its own
    return {
        # api: SQLAlchemy pool (routes, relay), job queue (defer), checkpointer (chat).
        "api": api_workers * (asyncpg_pool + jobs_pool + checkpointer),
        "worker": asyncpg_pool + jobs_pool + listener,
        "slack": asyncpg_pool + jobs_pool + checkpointer,
    }


async def test_pool_sizes_add_up_below_max_connections(db: Database) -> None:
    async with db.engine.connect() as conn:
        max_connections = int((await conn.execute(text("SHOW max_connections"))).scalar_one())
        reserved = int(
            (await conn.execute(text("SHOW superuser_reserved_connections"))).scalar_one()
        )
    assert max_connections == 100  # the embedded server's default
    # The defaults every deployment starts from, with the load test's two api workers.
    per_process = deployment_connections(Settings(_env_file=None), api_workers=2)  # type: ignore[call-arg]
    total = sum(per_process.values())
    # One connection for an operator's psql / migration job on top.
    assert total + 1 <= max_connections - reserved, per_process
