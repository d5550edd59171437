"""Running a model for a caller: resolve, validate, plan, run or queue, record.

Inline runs hold no database connection while the model works: the registry read ends
before the run and the job row is written after it. Queued runs are written first, then
deferred to the worker's `inference.run` task (commit before defer, so the worker always
finds the row). Shadow versions run after the caller has its answer, on the same input,
and are recorded with `shadow = true` and a pointer to the caller's run.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from sqlalchemy import or_, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from opscopilot.core.errors import OpsCopilotError
from opscopilot.core.metrics import INFERENCE_CALLS, INFERENCE_LATENCY
from opscopilot.inference import registry
from opscopilot.inference.errors import (
    ModelRunFailed,
    ModelTimedOut,
    QueueUnavailable,
)
from opscopilot.inference.protocol import ExecutionHints
from opscopilot.inference.records import (
    Canonical,
    autocommit_connection,
    canonical,
    finished_values,
    record,
)
from opscopilot.inference.runner import RunResult, plan_execution
from opscopilot.inference.runtime import Executable, InferenceRuntime, get_runtime
from opscopilot.inference.validation import (
    CompiledSchema,
    Schema,
    compile_schema,
    output_errors,
    schema_errors,
    validate_input,
)
from opscopilot.store.models.inference import AIModel, InferenceJob

log = logging.getLogger(__name__)

RUN_TASK = "inference.run"
INFERENCE_QUEUE = "inference"
FINISHED = frozenset({"succeeded", "failed", "timed_out"})
# Inline runs of at most this many batch items check out their record's connection early.
PREFETCH_MAX_ITEMS = 10


class JobQueue(Protocol):
    """The part of the procrastinate app that queues a run (kept narrow for the tools)."""

    def configure_task(self, name: str, **kwargs: Any) -> Any: ...


SessionFactory = Callable[[], Any]  # async_sessionmaker: `async with factory() as session`


@dataclass(frozen=True)
class Target:
    """A resolved version, copied out of the ORM row so no session needs to stay open."""

    id: uuid.UUID
    name: str
    version: str
    kind: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    hints: ExecutionHints
    executable: Executable
    # Compiled once per resolution, not looked up per call.
    input_check: CompiledSchema
    output_check: CompiledSchema


@dataclass
class InferOutcome:
    job_id: uuid.UUID
    model: str
    version: str
    status: str
    output: dict[str, Any] | None = None
    latency_ms: float | None = None
    reason: str | None = None
    shadow_versions: list[str] = field(default_factory=list)
    # The input the run used (built from the store for item runs): shadows reuse it.
    input: dict[str, Any] = field(default_factory=dict, repr=False)


async def _target(session: AsyncSession, runtime: InferenceRuntime, row: AIModel) -> Target:
    exe = await runtime.executable(session, row)
    return Target(
        row.id,
        row.name,
        row.version,
        row.kind,
        row.input_schema,
        row.output_schema,
        exe.hints,
        exe,
        compile_schema(row.input_schema),
        compile_schema(row.output_schema),
    )


async def resolve(
    session: AsyncSession, runtime: InferenceRuntime, *, model: str, version: str | None
) -> tuple[Target, list[str]]:
    """The version to run and, for calls to the active version, its shadow versions.
    Remembered for RESOLVE_TTL_S (see runtime.py); registry changes here forget it."""
    remembered = runtime.recall((model, version))
    if remembered is not None:
        target, shadows = cast(tuple[Target, list[str]], remembered)
        path = getattr(target.executable.loader, "path", None)
        if path is None or os.path.exists(path):  # an artifact copy may have been removed
            return target, shadows
    if version is not None:
        row = await registry.get_version(session, name=model, version=version)
        resolved: tuple[Target, list[str]] = (await _target(session, runtime, row), [])
    else:
        # One query for the active version and its shadows.
        stmt = registry.light_query().where(
            AIModel.name == model, or_(AIModel.is_active, AIModel.is_shadow)
        )
        rows = list((await session.scalars(stmt)).all())
        active = next((r for r in rows if r.is_active), None)
        if active is None:
            active = await registry.get_version(session, name=model)  # the right 404
        shadows = [r.version for r in rows if r.is_shadow and r.status != "retired"]
        resolved = (await _target(session, runtime, active), shadows)
    runtime.remember((model, version), resolved)
    return resolved


def checked(result: RunResult, output_schema: Schema) -> RunResult:
    """A successful run whose output breaks the output schema is a failed run."""
    if result.status != "succeeded":
        return result
    errors = output_errors(output_schema, result.output)
    if not errors:
        return result
    first = errors[0]
    error = f"the model's output does not match its schema: {first['field']}: {first['reason']}"
    return RunResult("failed", None, error, result.latency_ms, result.isolated)


def observe(name: str, version: str, result: RunResult) -> None:
    INFERENCE_CALLS.labels(model=name, version=version, status=result.status).inc()
    if result.status == "succeeded":
        INFERENCE_LATENCY.labels(model=name, version=version).observe(result.latency_ms / 1000)


def _raise_for(result: RunResult, job_id: uuid.UUID) -> None:
    details = {"job_id": str(job_id)}
    if result.status == "timed_out":
        raise ModelTimedOut(result.error or "the model timed out", details=details)
    if result.status != "succeeded":
        raise ModelRunFailed(result.error or "the model failed", details=details)


async def enqueue(
    session: AsyncSession,
    queue: JobQueue | None,
    *,
    target: Target,
    input: Canonical,
    site: str | None,
    actor: str | None,
    shadow: bool = False,
    primary_job_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Write the queued row, commit, then defer the worker task."""
    if queue is None:
        raise QueueUnavailable("this process has no job queue to run the model on")
    job_id = await record(
        session,
        target=(target.name, target.version),
        input=input,
        status="queued",
        shadow=shadow,
        primary_job_id=primary_job_id,
        site=site,
        actor=actor,
    )
    await session.commit()
    try:
        await queue.configure_task(RUN_TASK).defer_async(job_id=str(job_id))
    except Exception as exc:  # the queue's own errors vary by connector; record, then 503
        await session.execute(
            update(InferenceJob)
            .where(InferenceJob.id == job_id)
            .values(status="failed", error="could not be queued", finished_at=datetime.now(UTC))
        )
        await session.commit()
        raise QueueUnavailable("the job queue is unavailable; try again") from exc
    return job_id


async def infer(
    session: AsyncSession,
    *,
    model: str,
    version: str | None = None,
    input: dict[str, Any],
    run_async: bool = False,
    site: str | None = None,
    actor: str | None = None,
    queue: JobQueue | None = None,
    runtime: InferenceRuntime | None = None,
) -> InferOutcome:
    """Run or queue one request; commits its job row. A failed inline run raises
    ModelRunFailed (502) / ModelTimedOut (504) carrying the job id. `queue` (the
    procrastinate app) is needed only to queue; `runtime` defaults to this process's."""
    runtime = runtime or get_runtime()
    target, shadows = await resolve(session, runtime, model=model, version=version)
    validate_input(target.input_check, input)
    plan = plan_execution(target.hints, input, force_async=run_async)
    stored = canonical(input)
    if plan.queue:
        job_id = await enqueue(session, queue, target=target, input=stored, site=site, actor=actor)
        return InferOutcome(
            job_id,
            target.name,
            target.version,
            "queued",
            reason=plan.reason,
            shadow_versions=shadows,
            input=input,
        )
    await session.close()  # no session held while the model runs
    ready = _prefetch_connection(session, target.hints, input)
    try:
        result = checked(await runtime.run(target.executable, input), target.output_check)
    except BaseException:  # cancelled (the client left): give the connection back
        unused = await _connection_or_none(ready)
        if unused is not None:
            await unused.close()
        raise
    connection = await _connection_or_none(ready)
    job_id = await record(
        session,
        target=(target.name, target.version),
        input=stored,
        site=site,
        actor=actor,
        durable=False,
        connection=connection,
        **finished_values(result),
    )
    observe(target.name, target.version, result)
    _raise_for(result, job_id)
    return InferOutcome(
        job_id,
        target.name,
        target.version,
        "succeeded",
        result.output,
        result.latency_ms,
        shadow_versions=shadows,
        input=input,
    )


def _prefetch_connection(
    session: AsyncSession, hints: ExecutionHints, input: dict[str, Any]
) -> asyncio.Task[AsyncConnection] | None:
    """For a quick inline run (a few items, in a thread): check out the connection that
    records it while the model works, so the pool's liveness ping is off the critical
    path. Long runs do not hold a pooled connection this way."""
    engine = session.bind
    items = input.get(hints.batch_field) if hints.batch_field else None
    if hints.isolate or not isinstance(engine, AsyncEngine):
        return None
    if isinstance(items, list) and len(items) > PREFETCH_MAX_ITEMS:
        return None
    return asyncio.create_task(autocommit_connection(engine))


async def _connection_or_none(
    ready: asyncio.Task[AsyncConnection] | None,
) -> AsyncConnection | None:
    if ready is None:
        return None
    try:
        return await ready
    except (SQLAlchemyError, OSError):
        return None  # the record checks out afresh and reports what is wrong


async def run_shadows(
    sessions: SessionFactory,
    *,
    runtime: InferenceRuntime,
    queue: JobQueue | None,
    model: str,
    versions: list[str],
    input: dict[str, Any],
    primary_job_id: uuid.UUID,
    site: str | None = None,
    actor: str | None = None,
) -> list[uuid.UUID]:
    """Run each shadow version on the caller's input; nothing reaches the caller. A version
    that refuses the input or cannot run is recorded as a failed shadow run, which is what
    a comparison needs to know."""
    stored = canonical(input)
    job_ids: list[uuid.UUID] = []
    for version in versions:
        common: dict[str, Any] = {
            "target": (model, version),
            "input": stored,
            "shadow": True,
            "primary_job_id": primary_job_id,
            "site": site,
            "actor": actor,
            "durable": False,
        }
        async with sessions() as session:
            try:
                target, _ = await resolve(session, runtime, model=model, version=version)
            except OpsCopilotError as exc:
                failed = RunResult("failed", None, exc.message, 0.0, False)
                job_ids.append(await record(session, **common, **finished_values(failed)))
                continue
            errors = schema_errors(target.input_check, input)
            plan = plan_execution(target.hints, input)
            if not errors and plan.queue:
                job_ids.append(
                    await enqueue(
                        session,
                        queue,
                        target=target,
                        input=stored,
                        site=site,
                        actor=actor,
                        shadow=True,
                        primary_job_id=primary_job_id,
                    )
                )
                continue
            await session.close()
            if errors:
                first = errors[0]
                reason = f"input refused by this version: {first['field']}: {first['reason']}"
                result = RunResult("failed", None, reason, 0.0, False)
            else:
                result = checked(await runtime.run(target.executable, input), target.output_check)
            job_ids.append(await record(session, **common, **finished_values(result)))
            observe(model, version, result)
    return job_ids


async def run_queued(
    sessions: SessionFactory, *, runtime: InferenceRuntime, job_id: uuid.UUID
) -> str:
    """The worker side of a queued run. Idempotent: a finished job is left alone, and a
    job left `running` by a killed worker runs again when procrastinate retries it."""
    async with sessions() as session:
        job = await session.get(InferenceJob, job_id, with_for_update=True)
        if job is None:
            log.warning("inference job vanished", extra={"job_id": str(job_id)})
            return "missing"
        if job.status in FINISHED:
            return str(job.status)
        name, version, input = job.model_name, job.model_version, job.input
        try:
            target, _ = await resolve(session, runtime, model=name, version=version)
        except OpsCopilotError as exc:
            # Retired or deleted between queueing and running: the job fails, not the worker.
            job.status, job.error, job.finished_at = "failed", exc.message, datetime.now(UTC)
            await session.commit()
            return "failed"
        job.status, job.started_at = "running", datetime.now(UTC)
        await session.commit()
    result = checked(await runtime.run(target.executable, input), target.output_check)
    async with sessions() as session:
        await session.execute(
            update(InferenceJob)
            .where(InferenceJob.id == job_id)
            .values(
                status=result.status,
                output=result.output,
                error=result.error,
                latency_ms=result.latency_ms,
                finished_at=datetime.now(UTC),
            )
        )
        await session.commit()
    observe(name, version, result)
    return str(result.status)
