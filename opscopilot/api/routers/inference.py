"""The AI runtime's API: the model registry, inference (inline or queued), jobs, actuals
and version comparison.

Running a model is viewer-level: models are pure reads of their input (the only write is
the run's own record), like computing a forecast. Recording actuals is operator work;
registering, activating, rolling back, retiring and shadowing versions is admin work.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from opscopilot.access.roles import Principal
from opscopilot.api.deps import Admin, Operator, Session, State, Viewer
from opscopilot.api.state import AppState
from opscopilot.core.errors import PermissionDenied, ValidationFailed
from opscopilot.inference import service
from opscopilot.inference.execution import InferOutcome
from opscopilot.inference.runtime import get_runtime
from opscopilot.inference.schemas import (
    ActualCreate,
    ArtifactCreate,
    CompareRead,
    InferJobRead,
    InferRequest,
    InferResponse,
    ItemInferRequest,
    ModelCreate,
    ModelDetail,
    ModelList,
    ModelVersionRead,
    ShadowUpdate,
)

router = APIRouter(prefix="/api/v1", tags=["models"])


def _site(principal: Principal, site: str | None, state: AppState) -> str:
    if site is not None:
        if not principal.sees_site(site):
            raise PermissionDenied(f"site {site!r} is not among your sites", field="site")
        return site
    return principal.sites[0] if principal.sites else state.settings.default_site


def _parse(model: type[BaseModel], raw: str | bytes) -> Any:
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


@router.get("/models", response_model=ModelList)
async def list_models(session: Session, _: Viewer) -> ModelList:
    return await service.list_models(session)


_REGISTER_DOC: dict[str, Any] = {
    "requestBody": {
        "content": {
            "application/json": {"schema": ModelCreate.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "spec": {"type": "string", "description": "ArtifactCreate as JSON"},
                        "artifact": {"type": "string", "format": "binary"},
                    },
                    "required": ["spec", "artifact"],
                }
            },
        },
        "required": True,
    }
}


@router.post(
    "/models", response_model=ModelVersionRead, status_code=201, openapi_extra=_REGISTER_DOC
)
async def register_model(request: Request, session: Session, principal: Admin) -> ModelVersionRead:
    """Register a version: JSON for a built-in or installed entry-point model, or multipart
    (`spec` JSON + `artifact` file) for an ONNX / skops model. Pickles are refused (422)."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        spec_field, artifact = form.get("spec"), form.get("artifact")
        if not isinstance(spec_field, str):
            raise ValidationFailed("the multipart body needs a `spec` JSON field", field="spec")
        if not isinstance(artifact, UploadFile):
            raise ValidationFailed("the multipart body needs an `artifact` file", field="artifact")
        spec = _parse(ArtifactCreate, spec_field)
        read = await service.register_artifact(
            session,
            spec=spec,
            data=await artifact.read(),
            filename=artifact.filename,
            actor=principal,
        )
    else:
        spec = _parse(ModelCreate, await request.body())
        read = await service.register_model(session, spec=spec, actor=principal)
    await session.commit()
    return read


@router.get("/models/{name}", response_model=ModelDetail)
async def get_model(name: str, session: Session, _: Viewer) -> ModelDetail:
    """Versions (newest first), the active one, and per version: calls, error rate,
    latency p50 / p95, accuracy once actuals arrived, and registered metrics."""
    return await service.get_model(session, name=name)


@router.get("/models/{name}/compare", response_model=CompareRead)
async def compare_versions(
    name: str,
    session: Session,
    _: Viewer,
    versions: Annotated[
        str | None, Query(description="Two versions, `a,b` (default: active vs shadow).")
    ] = None,
) -> CompareRead:
    pair = [v.strip() for v in versions.split(",")] if versions else None
    return await service.compare_versions(session, name=name, versions=pair)


@router.post("/models/{name}/versions/{version}/activate", response_model=ModelVersionRead)
async def activate(name: str, version: str, session: Session, principal: Admin) -> ModelVersionRead:
    read = await service.activate(session, name=name, version=version, actor=principal)
    await session.commit()
    return read


@router.post("/models/{name}/rollback", response_model=ModelVersionRead)
async def rollback(name: str, session: Session, principal: Admin) -> ModelVersionRead:
    """Re-activate the version that was active before the current one."""
    read = await service.rollback(session, name=name, actor=principal)
    await session.commit()
    return read


@router.post("/models/{name}/versions/{version}/retire", response_model=ModelVersionRead)
async def retire(name: str, version: str, session: Session, principal: Admin) -> ModelVersionRead:
    read = await service.retire(session, name=name, version=version, actor=principal)
    await session.commit()
    return read


@router.post("/models/{name}/versions/{version}/shadow", response_model=ModelVersionRead)
async def shadow(
    name: str, version: str, body: ShadowUpdate, session: Session, principal: Admin
) -> ModelVersionRead:
    """Run this version beside the active one on every call to the active one (recorded as
    shadow runs, never returned), or stop."""
    read = await service.set_shadow(
        session, name=name, version=version, enabled=body.enabled, actor=principal
    )
    await session.commit()
    return read


def _answer(
    outcome: InferOutcome,
    background: BackgroundTasks,
    state: AppState,
    site: str | None,
    actor: str,
) -> Response:
    if outcome.shadow_versions:
        # After the response: the caller never waits for, nor sees, a shadow run.
        background.add_task(
            service.run_shadows,
            state.db.sessions,
            runtime=get_runtime(),
            queue=state.jobs,
            model=outcome.model,
            versions=outcome.shadow_versions,
            input=outcome.input,
            primary_job_id=outcome.job_id,
            site=site,
            actor=actor,
        )
    queued = outcome.status == "queued"
    body = {
        "job_id": outcome.job_id,
        "model": outcome.model,
        "version": outcome.version,
        "status": outcome.status,
        "output": outcome.output,
        "latency_ms": outcome.latency_ms,
        "reason": outcome.reason,
        "poll": f"/api/v1/infer/jobs/{outcome.job_id}" if queued else None,
    }
    # Serialised by orjson, not by a second pass through the response model: a batch's
    # output is large, and its shape is the model's output schema, checked already.
    return Response(
        orjson.dumps(body), status_code=202 if queued else 200, media_type="application/json"
    )


async def infer_body(request: Request) -> InferRequest:
    """The request body, parsed by orjson (the standard parser costs twice as much on a
    batch, which is most of what the API adds to a batch run)."""
    try:
        data = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise RequestValidationError(
            [{"loc": ("body",), "msg": "JSON decode error", "type": "json_invalid"}]
        ) from None
    try:
        return InferRequest.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


_INFER_DOC: dict[str, Any] = {
    "requestBody": {
        "content": {"application/json": {"schema": InferRequest.model_json_schema(by_alias=True)}},
        "required": True,
    }
}
_INFER_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"model": InferResponse, "description": "Queued: poll the job."}
}


@router.post(
    "/infer",
    response_model=InferResponse,
    responses=_INFER_RESPONSES,
    openapi_extra=_INFER_DOC,
)
async def infer(
    body: Annotated[InferRequest, Depends(infer_body)],
    background: BackgroundTasks,
    session: Session,
    state: State,
    principal: Viewer,
) -> Response:
    """Run a model on `input` (validated against its schema: 422 names the field). Fast
    requests run inline (200 with the output); slow models, `"async": true` and batches
    above the model's inline size are queued (202 with a job id to poll)."""
    site = _site(principal, body.site, state)
    outcome = await service.infer(
        session,
        runtime=get_runtime(),
        queue=state.jobs,
        model=body.model,
        version=body.version,
        input=body.input,
        run_async=body.run_async,
        site=site,
        actor=principal.external_id,
    )
    return _answer(outcome, background, state, site, principal.external_id)


@router.post("/infer/item", response_model=InferResponse, responses=_INFER_RESPONSES)
async def infer_on_item(
    body: ItemInferRequest,
    background: BackgroundTasks,
    session: Session,
    state: State,
    principal: Viewer,
) -> Response:
    """Run a series model (default: the anomaly detector) on an item's stored demand or
    quality observations (quality = the weighted defect rate per period)."""
    site = _site(principal, body.site, state) if body.site else None
    outcome = await service.run_model_on_item(
        session,
        runtime=get_runtime(),
        queue=state.jobs,
        sku=body.sku,
        model=body.model,
        version=body.version,
        kind=body.kind,
        period=body.period,
        site=site,
        sites=principal.site_filter(),
        actor=principal.external_id,
    )
    return _answer(outcome, background, state, site, principal.external_id)


@router.get("/infer/jobs/{job_id}", response_model=InferJobRead)
async def get_job(job_id: uuid.UUID, session: Session, principal: Viewer) -> InferJobRead:
    """Status, output, scrubbed error and timings (queued, started, finished, latency)."""
    return await service.get_job(session, job_id=job_id, sites=principal.site_filter())


@router.post("/infer/jobs/{job_id}/actual", response_model=InferJobRead)
async def record_actual(
    job_id: uuid.UUID, body: ActualCreate, session: Session, principal: Operator
) -> InferJobRead:
    """What really happened, in the order of the run's predictions: scores the run and its
    shadow runs, feeding each version's accuracy."""
    read = await service.record_actual(
        session,
        job_id=job_id,
        values=body.values,
        actor=principal.external_id,
        sites=principal.site_filter(),
    )
    await session.commit()
    return read
