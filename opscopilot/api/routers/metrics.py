"""`/metrics` in the Prometheus text format; scrapers send a viewer key like any client."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from opscopilot.api.deps import State, Viewer
from opscopilot.core.metrics import DB_POOL, JOB_QUEUE, REGISTRY

router = APIRouter(tags=["operations"])


@router.get("/metrics", response_class=Response, include_in_schema=True)
async def metrics(state: State, _: Viewer) -> Response:
    pool = state.db.engine.pool
    for name in ("checkedout", "checkedin", "overflow", "size"):
        getter = getattr(pool, name, None)
        if callable(getter):
            DB_POOL.labels(state=name).set(getter())
    try:
        async with state.db.engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT status::text, count(*) FROM jobs.procrastinate_jobs GROUP BY status")
            )
            JOB_QUEUE.clear()
            for status, n in rows:
                JOB_QUEUE.labels(status=status).set(n)
    except Exception:  # the scrape still answers with what the process knows
        pass
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
