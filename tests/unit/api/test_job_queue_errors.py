"""A job queue whose database is down answers 503 with Retry-After, never a 500."""

from __future__ import annotations

import httpx
import procrastinate
from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool

from opscopilot.api.errors import install_error_handlers


async def test_a_defer_to_an_unreachable_queue_is_a_503() -> None:
    # A real procrastinate app whose server went away (nothing listens on the port): its
    # own error path, not a fake.
    queue = procrastinate.App(connector=procrastinate.PsycopgConnector())
    pool: AsyncConnectionPool = AsyncConnectionPool(
        "postgresql://postgres@127.0.0.1:1/none?connect_timeout=1",
        min_size=0,
        max_size=1,
        timeout=1,
        open=False,
    )
    await pool.open(wait=False)

    @queue.task(name="probe")
    async def probe() -> None: ...

    api = FastAPI()
    install_error_handlers(api)

    @api.post("/defer")
    async def defer() -> dict[str, int]:
        return {"job": await probe.defer_async()}

    async with queue.open_async(pool):
        transport = httpx.ASGITransport(app=api, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.post("/defer")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["error"]["code"] == "unavailable"
    await pool.close()
