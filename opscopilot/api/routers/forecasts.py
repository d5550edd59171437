"""Forecasts: compute one (a read: viewers may), read the latest, its chart, what-ifs, and
bulk runs (operators). Every route is a thin adapter over forecasting's services."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from opscopilot.api.deps import ReadSession, Session, SettingsDep, State, Viewer, Writer
from opscopilot.forecasting import runs, service
from opscopilot.forecasting.schemas import (
    BulkCreate,
    ForecastCreate,
    ForecastRead,
    RunRead,
    WhatIfCreate,
    WhatIfRead,
)

router = APIRouter(prefix="/api/v1", tags=["forecasts"])

PeriodQuery = Annotated[
    str | None, Query(description="daily, weekly, monthly or quarterly (default: any)")
]
SiteQuery = Annotated[str | None, Query(min_length=1, max_length=64)]


@router.post("/forecasts", response_model=ForecastRead, status_code=201)
async def create_forecast(
    body: ForecastCreate, session: Session, settings: SettingsDep, principal: Viewer
) -> ForecastRead:
    """Compute, explain and store the forecast of one item; raise its alerts.

    422 names the valid types and periods, or says how much history is needed
    (`allow_naive: true` returns a naive forecast, flagged, instead)."""
    forecast = await service.create_forecast(
        session, request=body, principal=principal, settings=settings
    )
    await session.commit()
    return forecast


@router.post("/forecasts/what-if", response_model=WhatIfRead)
async def what_if(
    body: WhatIfCreate, session: Session, settings: SettingsDep, principal: Viewer
) -> WhatIfRead:
    """Re-project inventory with suppliers late or demand scaled; never the official forecast."""
    result = await service.what_if(session, request=body, principal=principal, settings=settings)
    await session.commit()
    return result


@router.post("/forecasts/bulk", response_model=RunRead, status_code=202)
async def start_bulk(
    body: BulkCreate, state: State, settings: SettingsDep, principal: Writer
) -> RunRead:
    """Forecast every item of a type at a site, in partitions that workers share."""
    return await runs.start_bulk_run(
        state.db.sessions,
        queue=state.jobs,
        request=body,
        principal=principal,
        settings=settings,
        trigger=f"api:{principal.external_id}",
    )


@router.get("/forecasts/runs/{run_id}", response_model=RunRead)
async def get_run(run_id: uuid.UUID, session: Session, principal: Viewer) -> RunRead:
    """A bulk run's progress, partition by partition."""
    return await runs.get_run(session, run_id=run_id, principal=principal)


@router.post("/forecasts/runs/{run_id}/resume", response_model=RunRead, status_code=202)
async def resume_run(run_id: uuid.UUID, state: State, principal: Writer) -> RunRead:
    """Queue again the partitions of a run that are not done."""
    return await runs.resume_run(
        state.db.sessions, queue=state.jobs, run_id=run_id, principal=principal
    )


@router.get("/forecasts/{entity_id}/{forecast_type}", response_model=ForecastRead)
async def get_forecast(
    entity_id: str,
    forecast_type: str,
    session: ReadSession,
    settings: SettingsDep,
    principal: Viewer,
    period: PeriodQuery = None,
    site: SiteQuery = None,
) -> ForecastRead:
    """The latest official forecast: points with bounds, model, accuracy and explanation."""
    return await service.get_latest_forecast(
        session, entity_id=entity_id, forecast_type=forecast_type, principal=principal,
        settings=settings, period=period, site=site,
    )  # fmt: skip


@router.get(
    "/forecasts/{entity_id}/{forecast_type}/chart.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "The chart as PNG."}},
)
async def get_chart(
    entity_id: str,
    forecast_type: str,
    session: Session,
    settings: SettingsDep,
    principal: Viewer,
    period: PeriodQuery = None,
    site: SiteQuery = None,
) -> Response:
    """History, forecast line and interval bands of the latest forecast."""
    png = await service.forecast_chart(
        session, entity_id=entity_id, forecast_type=forecast_type, principal=principal,
        settings=settings, period=period, site=site,
    )  # fmt: skip
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})
