"""`/metrics` in the Prometheus text format; scrapers send a viewer key like any client."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from opscopilot.api.deps import State, Viewer
from opscopilot.core.metrics import exposition, observe_db_pool, refresh_job_queue

router = APIRouter(tags=["operations"])


@router.get("/metrics", response_class=Response, include_in_schema=True)
async def metrics(state: State, _: Viewer) -> Response:
    observe_db_pool(state.db.engine.pool)
    config = state.settings.metrics
    await refresh_job_queue(
        state.db.engine, cache_s=config.queue_depth_cache_s, timeout_s=config.queue_depth_timeout_s
    )
    return Response(exposition(), media_type=CONTENT_TYPE_LATEST)
