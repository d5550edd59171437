"""The AI runtime's service functions: what REST routes, worker jobs and agent tools call.

Registry: list_models, get_model, register_model, register_artifact, activate, rollback,
retire, set_shadow. Running: infer, run_shadows, run_model_on_item, get_job. Quality:
record_actual, compare_versions, record_forecaster_metrics (called by forecasting).
Registry changes and actuals run in the caller's transaction (the caller commits); `infer`
commits its own job row, since a failed run must be recorded even though it raises.
"""

from __future__ import annotations

import asyncio
import importlib
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.core.errors import ConflictError, ValidationFailed
from opscopilot.inference import actuals, registry, stats
from opscopilot.inference.artifacts import ArtifactFormat, load_artifact, sha256_of
from opscopilot.inference.errors import InvalidModelSpec, JobNotFound
from opscopilot.inference.execution import (
    InferOutcome,
    JobQueue,
    infer,
    run_shadows,
)
from opscopilot.inference.forecasters import record_forecaster_metrics
from opscopilot.inference.item_input import ItemMetric, SeriesPeriod, anomaly_input
from opscopilot.inference.metrics import compare
from opscopilot.inference.plugins import ENTRY_POINT_GROUP, discover_models
from opscopilot.inference.protocol import UNTRUSTED_CODE_HINTS, ModelSpec, spec_of
from opscopilot.inference.registry import Actor
from opscopilot.inference.runtime import SERVED_BY_KEY, InferenceRuntime, get_runtime
from opscopilot.inference.schemas import (
    ArtifactCreate,
    CompareRead,
    InferJobRead,
    MetricComparison,
    ModelCreate,
    ModelDetail,
    ModelList,
    ModelSummary,
    ModelVersionRead,
    VersionMetrics,
    VersionUsage,
)
from opscopilot.store.models.inference import AIModel, InferenceJob

__all__ = [
    "InferOutcome",
    "activate",
    "compare_versions",
    "get_job",
    "get_model",
    "infer",
    "list_models",
    "record_actual",
    "record_forecaster_metrics",
    "register_artifact",
    "register_model",
    "retire",
    "rollback",
    "run_model_on_item",
    "run_shadows",
    "set_shadow",
]


def _runnable(row: AIModel) -> bool:
    if row.status == "retired" or (row.params or {}).get(SERVED_BY_KEY):
        return False
    return row.format != "builtin" or get_runtime().builtin(row.name, row.version) is not None


def version_read(row: AIModel, usage: VersionUsage | None = None) -> ModelVersionRead:
    return ModelVersionRead(
        name=row.name,
        version=row.version,
        kind=row.kind,
        format=row.format,
        origin=row.origin,
        description=row.description,
        status=row.status,  # type: ignore[arg-type]
        is_active=row.is_active,
        is_shadow=row.is_shadow,
        runnable=_runnable(row),
        created_at=row.created_at,
        activated_at=row.activated_at,
        input_schema=row.input_schema,
        output_schema=row.output_schema,
        params=row.params,
        training_meta=row.training_meta,
        metrics=row.metrics,
        execution=row.execution,
        artifact_sha256=row.artifact_sha256,
        usage=usage or VersionUsage(),
    )


def changed(row: AIModel) -> ModelVersionRead:
    """After a registry change: this process resolves afresh (others within seconds)."""
    get_runtime().forget()
    return version_read(row)


async def list_models(session: AsyncSession) -> ModelList:
    by_name: dict[str, list[AIModel]] = {}
    for row in await registry.all_versions(session):
        by_name.setdefault(row.name, []).append(row)
    return ModelList(
        models=[
            ModelSummary(
                name=name,
                kind=rows[0].kind,
                description=next((r.description for r in rows if r.is_active), rows[0].description),
                active_version=next((r.version for r in rows if r.is_active), None),
                latest_version=rows[0].version,
                versions=[r.version for r in rows],
                shadow_versions=[r.version for r in rows if r.is_shadow],
            )
            for name, rows in by_name.items()
        ]
    )


async def get_model(session: AsyncSession, *, name: str) -> ModelDetail:
    """Every version, newest first, with its measured usage and registered metrics."""
    rows = await registry.versions_of(session, name=name)
    usage = await stats.usage_by_version(session, name=name)
    return ModelDetail(
        name=name,
        kind=rows[0].kind,
        active_version=next((r.version for r in rows if r.is_active), None),
        versions=[version_read(r, usage.get(r.version)) for r in rows],
    )


def _installed_spec(name: str, version: str, entrypoint: str | None) -> ModelSpec | None:
    """The spec of an installed entry-point model, discovered afresh: a package installed
    since start can be registered without a restart."""
    importlib.invalidate_caches()
    for plugin in discover_models().models:
        spec = plugin.spec
        if (spec.name, spec.version) == (name, version) and entrypoint in (None, spec.entrypoint):
            return spec
    return None


def _code_spec_for(spec: ModelCreate) -> ModelSpec | None:
    if spec.format == "builtin":
        model = get_runtime().builtin(spec.name, spec.version)
        return None if model is None else spec_of(model)
    return _installed_spec(spec.name, spec.version, spec.entrypoint)


async def register_model(
    session: AsyncSession, *, spec: ModelCreate, actor: Actor
) -> ModelVersionRead:
    """Register a version described in JSON, with its training metadata and metrics. Its
    code must already be here: a built-in this release ships, or a model of an installed
    `opscopilot.models` entry point (an API call never names arbitrary code to import).
    Kind, schemas and execution come from the code. Artifacts: `register_artifact`."""
    await registry.ensure_new(session, name=spec.name, version=spec.version)
    code = await asyncio.to_thread(_code_spec_for, spec)
    if code is None:
        where = "built-in" if spec.format == "builtin" else f"{ENTRY_POINT_GROUP} entry point"
        raise InvalidModelSpec(
            f"no installed {where} provides {spec.name} {spec.version}",
            field="entrypoint" if spec.entrypoint else "name",
        )
    for field in ("kind", "input_schema", "output_schema"):
        given = getattr(spec, field)
        if given is not None and given != getattr(code, field):
            raise InvalidModelSpec(f"{field} differs from the installed model's", field=field)
    base = code.model_copy(
        update={
            "description": spec.description or code.description,
            "params": code.params if spec.params is None else spec.params,
            "training_meta": spec.training_meta,
            "metrics": spec.metrics,
        }
    )
    origin = "builtin" if base.format == "builtin" else f"entry point {base.entrypoint}"
    row = await registry.register(
        session, spec=base, origin=origin, actor=actor, activate=spec.activate
    )
    return changed(row)


def artifact_format(spec: ArtifactCreate, filename: str | None) -> ArtifactFormat:
    if spec.format:
        return spec.format
    suffix = (filename or "").rsplit(".", 1)[-1].lower()
    if suffix == "onnx":
        return "onnx"
    if suffix == "skops":
        return "skops"
    raise InvalidModelSpec(
        "say which format the artifact is (format: onnx or skops, or a .onnx / .skops file)",
        field="format",
    )


async def register_artifact(
    session: AsyncSession,
    *,
    spec: ArtifactCreate,
    data: bytes,
    filename: str | None,
    actor: Actor,
) -> ModelVersionRead:
    """Check and register an uploaded ONNX / skops model; InvalidArtifact (422) for a
    pickle, a compressed file, an invalid graph or untrusted skops types. The schemas come
    from the artifact; it always runs in a killable worker process."""
    fmt = artifact_format(spec, filename)
    await registry.ensure_new(session, name=spec.name, version=spec.version)
    model = await asyncio.to_thread(
        load_artifact,
        data,
        format=fmt,
        name=spec.name,
        version=spec.version,
        kind=spec.kind,
        extra_trusted=spec.trusted_types,
    )
    params = dict(spec.params)
    if spec.trusted_types:
        params["trusted_types"] = list(spec.trusted_types)
    base = ModelSpec(
        name=spec.name,
        version=spec.version,
        kind=spec.kind,
        format=fmt,
        description=spec.description,
        input_schema=model.input_schema,
        output_schema=model.output_schema,
        params=params,
        training_meta=spec.training_meta,
        metrics=spec.metrics,
        hints=UNTRUSTED_CODE_HINTS.model_copy(update={"timeout_s": spec.timeout_s}),
    )
    row = await registry.register(
        session,
        spec=base,
        origin="upload",
        actor=actor,
        artifact=data,
        artifact_sha256=sha256_of(data),
        activate=spec.activate,
    )
    return changed(row)


async def activate(
    session: AsyncSession, *, name: str, version: str, actor: Actor
) -> ModelVersionRead:
    return changed(
        await registry.activate_version(session, name=name, version=version, actor=actor)
    )


async def rollback(session: AsyncSession, *, name: str, actor: Actor) -> ModelVersionRead:
    return changed(await registry.rollback(session, name=name, actor=actor))


async def retire(
    session: AsyncSession, *, name: str, version: str, actor: Actor
) -> ModelVersionRead:
    return changed(await registry.retire(session, name=name, version=version, actor=actor))


async def set_shadow(
    session: AsyncSession, *, name: str, version: str, enabled: bool, actor: Actor
) -> ModelVersionRead:
    row = await registry.get_version(session, name=name, version=version)
    if enabled and not _runnable(row):
        raise ConflictError(f"{name} {version} cannot run here, so it cannot run in shadow")
    return changed(
        await registry.set_shadow(session, name=name, version=version, enabled=enabled, actor=actor)
    )


async def run_model_on_item(
    session: AsyncSession,
    *,
    sku: str,
    model: str = "anomaly-detector",
    version: str | None = None,
    kind: ItemMetric = "demand",
    period: SeriesPeriod = "monthly",
    site: str | None = None,
    sites: tuple[str, ...] | None = None,
    actor: str | None = None,
    queue: JobQueue | None = None,
    runtime: InferenceRuntime | None = None,
) -> InferOutcome:
    """Run a series model (the anomaly detector by default) on one item's demand or
    quality observations; `site` narrows to one plant, `sites` are the caller's visible
    plants. The run is recorded like any other."""
    scope = (site,) if site else sites
    input = await anomaly_input(session, sku=sku, kind=kind, period=period, sites=scope)
    return await infer(
        session,
        runtime=runtime,
        queue=queue,
        model=model,
        version=version,
        input=input,
        site=site,
        actor=actor,
    )


async def get_job(
    session: AsyncSession, *, job_id: uuid.UUID, sites: tuple[str, ...] | None = None
) -> InferJobRead:
    job = await session.get(InferenceJob, job_id)
    if job is None or not actuals.visible(job, sites):
        raise JobNotFound(f"no inference job {job_id}", field="job_id")
    shadow_ids = (
        await session.scalars(select(InferenceJob.id).where(InferenceJob.primary_job_id == job_id))
    ).all()
    wait = None
    if job.started_at is not None:
        wait = max(0.0, (job.started_at - job.queued_at).total_seconds() * 1000)
    return InferJobRead(
        id=job.id,
        model=job.model_name,
        version=job.model_version,
        status=job.status,  # type: ignore[arg-type]
        shadow=job.shadow,
        primary_job_id=job.primary_job_id,
        input_hash=job.input_hash,
        output=job.output,
        error=job.error,
        latency_ms=job.latency_ms,
        queue_wait_ms=wait,
        queued_at=job.queued_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        site=job.site,
        actor=job.actor,
        actual=job.actual,
        scores=job.scores,
        shadow_jobs=list(shadow_ids),
    )


async def record_actual(
    session: AsyncSession,
    *,
    job_id: uuid.UUID,
    values: list[Any],
    actor: str | None = None,
    sites: tuple[str, ...] | None = None,
) -> InferJobRead:
    """Score a succeeded run (and its shadow runs) against what really happened; the
    per-version accuracy in `get_model` and `compare_versions` follows."""
    await actuals.record_actual(session, job_id=job_id, values=values, actor=actor, sites=sites)
    return await get_job(session, job_id=job_id, sites=sites)


async def compare_versions(
    session: AsyncSession, *, name: str, versions: list[str] | None = None
) -> CompareRead:
    """Two versions' metrics side by side, with which one is better on each and a verdict.
    Default pair: the active version against the newest shadow (else the newest other)."""
    rows = await registry.versions_of(session, name=name)
    if versions is None:
        active = next((r for r in rows if r.is_active), rows[0])
        other = next((r for r in rows if r.is_shadow), None) or next(
            (r for r in rows if r is not active), None
        )
        if other is None:
            raise ConflictError(
                f"{name} has a single version: nothing to compare", field="versions"
            )
        versions = [active.version, other.version]
    if len(versions) != 2 or versions[0] == versions[1]:
        raise ValidationFailed("give two different versions: versions=a,b", field="versions")
    by_version = {r.version: r for r in rows}
    for version in versions:
        if version not in by_version:
            await registry.get_version(session, name=name, version=version)  # 404
    usage = await stats.usage_by_version(session, name=name, versions=versions)
    a, b = (by_version[v] for v in versions)
    reads = [
        VersionMetrics(
            version=r.version,
            status=r.status,
            is_active=r.is_active,
            is_shadow=r.is_shadow,
            usage=usage.get(r.version) or VersionUsage(),
            registered=r.metrics or {},
        )
        for r in (a, b)
    ]
    table = compare(
        stats.comparable(reads[0].usage, reads[0].registered),
        stats.comparable(reads[1].usage, reads[1].registered),
    )
    shared = await stats.shared_inputs(session, name=name, a=a.version, b=b.version)
    return CompareRead(
        name=name,
        a=reads[0],
        b=reads[1],
        metrics={k: MetricComparison(**v) for k, v in table.items()},
        shared_inputs=shared,
        verdict=stats.verdict(a.version, b.version, table, shared),
    )
