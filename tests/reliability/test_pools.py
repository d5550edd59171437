"""Pools: an exhausted API pool answers 503 in the JSON error shape within `db.pool_timeout`
(it does not hang), and the pools every process opens add up below `max_connections`."""

from __future__ import annotations

import asyncio
import inspect

import httpx
from sqlalchemy import text

from opscopilot.core.settings import Settings
from opscopilot.store.engine import Database
from tests.conftest import make_settings


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


def deployment_connections(settings: Settings, *, api_workers: int) -> dict[str, int]:
    """Connections each process of a deployment may open at most, from settings and the
    pool constants the code uses: `serve --workers N`, one `worker`, one `slack`."""
    from opscopilot.agent import memory
    from opscopilot.jobs.app import build_app

    asyncpg_pool = settings.db.pool_size + settings.db.max_overflow
    jobs_pool = int(inspect.signature(build_app).parameters["pool_max"].default)
    checkpointer = memory.POOL_MAX
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
