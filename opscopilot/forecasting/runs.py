"""Bulk forecasts: every item of a type at a site, as one run split into partitions.

Each partition is its own job on the `forecast` queue, so several workers share a run. A
partition is claimed (status running, attempts + 1), its items are read and forecast (CPU in a
thread), then everything it produced (forecasts, alerts, events, the partition's status and the
run's progress) is written in ONE transaction that first re-checks the partition under a row
lock. Hence, after a crash:

- a partition whose worker died wrote nothing; its job, stalled, is retried
  (maint.retry_stalled_jobs) or re-deferred (`resume_run`), and runs again from scratch;
- a finished partition is never redone, even if its job is delivered twice;
- alerts are not duplicated: one open alert per item and type, an event only when new or worse.

An attempt that raises is retried up to `settings.forecast.partition_attempts` in all (a
worker that died mid-partition also used an attempt); then the partition is marked failed and
the run, once every partition is done or failed, finishes as "partial" (some done) or "failed"
(none done), its `error` naming the failed partitions. The other partitions' forecasts stay.
Resuming such a run gives its failed partitions fresh attempts.

The scheduled run (jobs/schedules.py) is the only scheduled path: `start_scheduled_runs` starts
one run per forecast type with items at a site.

The run's horizon is each item's default horizon (shortened for short histories, as on the
API path); items that cannot be forecast are counted as skipped. Registry metrics are
recorded after the partition commits, one short transaction per forecast.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.access.roles import Principal
from opscopilot.access.service import audit
from opscopilot.core.errors import NotFoundError, ServiceUnavailable, ValidationFailed
from opscopilot.core.metrics import FORECAST_SECONDS
from opscopilot.core.settings import Settings
from opscopilot.forecasting import ENGINE_VERSION, queries
from opscopilot.forecasting.assemble import Ask, Outcome, Prepared, compute, prepare
from opscopilot.forecasting.errors import ForecastInputError
from opscopilot.forecasting.frames import FORECAST_TYPES
from opscopilot.forecasting.pipeline import EngineOptions
from opscopilot.forecasting.schemas import BulkCreate, PartitionRead, RunRead
from opscopilot.forecasting.service import (
    engine_options,
    record_metrics,
    resolve_site,
    store_outcome,
)
from opscopilot.store.models import AuditEvent, Forecast, ForecastRun, ForecastRunPartition

FORECAST_QUEUE = "forecast"
PARTITION_TASK = "forecast.partition"
# Scheduled runs forecast by week: lead times are days to weeks, so weekly periods place a
# stockout within them; monthly buckets would blur it.
SCHEDULED_PERIOD = "weekly"
FINISHED = ("done", "failed")
# Characters of an exception kept in the run's error.
ERROR_CHARS = 300
SessionFactory = Callable[[], Any]  # async_sessionmaker: `async with factory() as session`


class JobQueue(Protocol):
    """The part of the procrastinate app that defers a job."""

    def configure_task(self, name: str, **kwargs: Any) -> Any: ...


async def start_bulk_run(
    sessions: SessionFactory,
    *,
    queue: JobQueue | None,
    request: BulkCreate,
    principal: Principal,
    settings: Settings,
    trigger: str,
) -> RunRead:
    """Create the run and its partitions, commit, then defer one job per partition (unless
    `queue` is None: the caller runs the partitions itself, as the CLI does)."""
    site = resolve_site(request.site, principal, settings)
    async with sessions() as session:
        ids = await queries.items_to_forecast(
            session, forecast_type=request.forecast_type, site=site
        )
        chunks = [ids[i : i + request.partition_size] for i in
                  range(0, len(ids), request.partition_size)]  # fmt: skip
        run = ForecastRun(
            id=uuid.uuid4(),
            site=site,
            forecast_type=request.forecast_type,
            period=request.period,
            horizon=request.horizon or settings.forecast.default_horizon,
            status="running" if chunks else "succeeded",
            partitions_total=len(chunks),
            partitions_done=0,
            items_total=len(ids),
            items_done=0,
            trigger=trigger,
            finished_at=None if chunks else datetime.now(UTC),
        )
        session.add(run)
        session.add_all(
            ForecastRunPartition(run_id=run.id, partition_no=no, item_ids=chunk, status="pending",
                                 attempts=0)
            for no, chunk in enumerate(chunks)
        )  # fmt: skip
        await audit(
            session,
            actor=principal,
            event_type="forecast.bulk_started",
            subject=str(run.id),
            details={"forecast_type": run.forecast_type, "period": run.period,
                     "items": len(ids), "partitions": len(chunks), "trigger": trigger,
                     "engine_version": ENGINE_VERSION},
            site=site,
        )  # fmt: skip
        await session.commit()
    if queue is not None:
        for no in range(len(chunks)):
            try:
                await defer_partitions(queue, run_id=run.id, partitions=[no])
            except ServiceUnavailable:
                await _refused(sessions, run_id=run.id, partitions=range(no, len(chunks)))
                raise
    async with sessions() as session:
        return await get_run(session, run_id=run.id, principal=principal)


async def _refused(sessions: SessionFactory, *, run_id: uuid.UUID, partitions: Any) -> None:
    """The queue refused these partitions (its pool stayed busy: the caller gets a 503).
    They fail now, so the run ends instead of waiting on jobs that do not exist; resuming
    it queues them again."""
    async with sessions() as session:
        for no in partitions:
            part = await _partition(session, run_id, no)
            if part is not None and part.status == "pending":
                await _close_partition(session, run_id, part, error="could not be queued")
        await session.commit()


async def defer_partitions(
    queue: JobQueue, *, run_id: uuid.UUID, partitions: Any, delay_s: int = 0
) -> int:
    """One job per partition; a partition already waiting in the queue is not queued twice."""
    deferred = 0
    later = {"schedule_in": {"seconds": delay_s}} if delay_s > 0 else {}
    for no in partitions:
        task = queue.configure_task(
            PARTITION_TASK, queueing_lock=f"forecast:{run_id}:{no}", **later
        )
        try:
            await task.defer_async(run_id=str(run_id), partition_no=int(no))
            deferred += 1
        except AlreadyEnqueued:
            continue
    return deferred


async def resume_run(
    sessions: SessionFactory, *, queue: JobQueue | None, run_id: uuid.UUID, principal: Principal
) -> RunRead:
    """Re-defer the partitions of a run that are not done (after a crash lost their jobs);
    failed partitions get fresh attempts and the run is running again. With `queue` None
    nothing is deferred: the caller runs the partitions itself."""
    async with sessions() as session:
        await get_run(session, run_id=run_id, principal=principal)
        # Partitions, then the run: the order in which a finishing partition locks them.
        parts = (
            await session.scalars(
                select(ForecastRunPartition)
                .where(ForecastRunPartition.run_id == run_id, ForecastRunPartition.status != "done")
                .order_by(ForecastRunPartition.partition_no)
                .with_for_update()
            )
        ).all()
        run = await _locked_run(session, run_id)
        numbers = [p.partition_no for p in parts]
        if any(p.status == "failed" for p in parts):
            for part in parts:
                if part.status == "failed":
                    part.status, part.attempts, part.finished_at = "pending", 0, None
            run.status, run.error, run.finished_at = "running", None, None
        await session.commit()
    if queue is not None:
        await defer_partitions(queue, run_id=run_id, partitions=numbers)
    async with sessions() as session:
        return await get_run(session, run_id=run_id, principal=principal)


async def get_run(session: AsyncSession, *, run_id: uuid.UUID, principal: Principal) -> RunRead:
    run = await session.get(ForecastRun, run_id, populate_existing=True)
    if run is None or not principal.sees_site(run.site):
        raise NotFoundError(f"no forecast run {run_id}", field="run_id")
    parts = (
        await session.scalars(
            select(ForecastRunPartition)
            .where(ForecastRunPartition.run_id == run_id)
            .order_by(ForecastRunPartition.partition_no)
            .execution_options(populate_existing=True)
        )
    ).all()
    stored = await session.scalar(select(func.count()).where(Forecast.run_id == run_id)) or 0
    finished = sum(p.status in FINISHED for p in parts)
    started = await session.scalar(
        select(AuditEvent.details).where(
            AuditEvent.event_type == "forecast.bulk_started", AuditEvent.subject == str(run_id)
        )
    )
    return RunRead(
        id=run.id,
        site=run.site,
        forecast_type=run.forecast_type,
        period=run.period,
        horizon=run.horizon,
        status=run.status,
        trigger=run.trigger,
        partitions_total=run.partitions_total,
        partitions_done=run.partitions_done,
        items_total=run.items_total,
        items_done=run.items_done,
        forecasts=stored,
        skipped=max(0, run.items_done - stored),
        progress=finished / run.partitions_total if run.partitions_total else 1.0,
        failed_partitions=[p.partition_no for p in parts if p.status == "failed"],
        engine_version=(started or {}).get("engine_version"),
        partitions=[
            PartitionRead(
                partition_no=p.partition_no,
                items=len(p.item_ids),
                status=p.status,
                attempts=p.attempts,
                finished_at=p.finished_at,
            )
            for p in parts
        ],  # fmt: skip
        error=run.error,
        created_at=run.created_at,
        finished_at=run.finished_at,
    )


async def _partition(
    session: AsyncSession, run_id: uuid.UUID, partition_no: int
) -> ForecastRunPartition | None:
    return await session.scalar(
        select(ForecastRunPartition)
        .where(
            ForecastRunPartition.run_id == run_id,
            ForecastRunPartition.partition_no == partition_no,
        )
        .with_for_update()
    )


async def run_partition(
    sessions: SessionFactory, *, run_id: uuid.UUID, partition_no: int, settings: Settings
) -> str:
    """Forecast one partition's items and commit them with the run's progress (module doc)."""
    async with sessions() as session:
        part = await _partition(session, run_id, partition_no)
        run = await session.get(ForecastRun, run_id)
        if part is None or run is None:
            return "no such partition"
        if part.status in FINISHED:
            return f"already {part.status}"
        if part.attempts >= settings.forecast.partition_attempts:
            # Every earlier attempt died with its worker (a crash, say out of memory, each time).
            error = f"no attempt finished in {part.attempts}; the workers died"
            await _close_partition(session, run_id, part, error=error)
            await session.commit()
            return "failed"
        part.status, part.attempts = "running", part.attempts + 1
        item_ids, site = list(part.item_ids), run.site
        ask = Ask(forecast_type=run.forecast_type, period=run.period)  # type: ignore[arg-type]
        options = replace(engine_options(settings, bulk=True), default_horizon=run.horizon)
        await session.commit()

    today = datetime.now(UTC).date()
    prepared: list[Prepared] = []
    async with sessions() as session:
        for item_id in item_ids:
            try:
                item = await queries.item_facts(session, entity_id=item_id, site=site)
                prepared.append(await prepare(session, item=item, ask=ask, as_of=today))
            except (NotFoundError, ValidationFailed):
                continue  # deleted since, or nothing to project from: counted as skipped
    started = time.perf_counter()
    outcomes = await asyncio.to_thread(_compute_all, prepared, options)
    FORECAST_SECONDS.labels(mode="bulk").observe(time.perf_counter() - started)

    async with sessions() as session:
        part = await _partition(session, run_id, partition_no)
        if part is None or part.status in FINISHED:
            return "done by another worker"
        for outcome in outcomes:
            await store_outcome(session, outcome, official=True, run_id=run_id)
        await _close_partition(session, run_id, part)
        await session.commit()
    for outcome in outcomes:
        async with sessions() as session:
            await record_metrics(session, outcome)
            await session.commit()
    return f"{len(outcomes)} of {len(item_ids)} items forecast"


async def run_partition_here(
    sessions: SessionFactory, *, run_id: uuid.UUID, partition_no: int, settings: Settings
) -> str:
    """`run_partition` in this process with a worker's attempts and waits (the CLI's path)."""
    while True:
        try:
            return await run_partition(
                sessions, run_id=run_id, partition_no=partition_no, settings=settings
            )
        except Exception as exc:
            retry = await partition_failed(
                sessions, run_id=run_id, partition_no=partition_no, error=exc, settings=settings
            )
            if not retry:
                return f"failed: {type(exc).__name__}: {exc}"[:ERROR_CHARS]
            await asyncio.sleep(settings.forecast.partition_retry_wait_s)


async def partition_failed(
    sessions: SessionFactory,
    *,
    run_id: uuid.UUID,
    partition_no: int,
    error: BaseException,
    settings: Settings,
) -> bool:
    """Record an attempt that raised; True when the partition has attempts left (the caller
    defers it again), False when it is now failed (or was finished meanwhile)."""
    async with sessions() as session:
        part = await _partition(session, run_id, partition_no)
        if part is None or part.status in FINISHED:
            return False
        if part.attempts < settings.forecast.partition_attempts:
            part.status = "pending"
            await session.commit()
            return True
        reason = f"{type(error).__name__}: {error}"[:ERROR_CHARS]
        await _close_partition(
            session, run_id, part, error=f"failed {part.attempts} attempts, last: {reason}"
        )
        await session.commit()
    return False


async def _locked_run(session: AsyncSession, run_id: uuid.UUID) -> ForecastRun:
    # FOR NO KEY UPDATE: finishing partitions queue behind each other, yet it does not wait
    # for the KEY SHARE locks that the other partitions' forecast inserts (run_id foreign
    # key) hold; FOR UPDATE would, and two finishing partitions would deadlock.
    run = await session.scalar(
        select(ForecastRun)
        .where(ForecastRun.id == run_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    if run is None:
        raise NotFoundError(f"no forecast run {run_id}", field="run_id")
    return run


async def _close_partition(
    session: AsyncSession,
    run_id: uuid.UUID,
    part: ForecastRunPartition,
    *,
    error: str | None = None,
) -> None:
    """Mark the (locked) partition done, or failed with `error`, and update its run.

    The run row is locked before the partitions are counted, so of two partitions finishing
    at once the second counts the first: the last one to finish always closes the run.
    """
    now = datetime.now(UTC)
    part.status, part.finished_at = ("done" if error is None else "failed"), now
    run = await _locked_run(session, run_id)
    await session.flush()
    counts: dict[str, int] = {
        status: int(n)
        for status, n in (
            await session.execute(
                select(ForecastRunPartition.status, func.count())
                .where(ForecastRunPartition.run_id == run_id)
                .group_by(ForecastRunPartition.status)
            )
        ).all()
    }
    done, failed = counts.get("done", 0), counts.get("failed", 0)
    run.partitions_done = done
    if error is None:
        run.items_done += len(part.item_ids)
    else:
        line = f"partition {part.partition_no} ({len(part.item_ids)} items) {error}"
        run.error = f"{run.error}; {line}" if run.error else line
    if done + failed >= run.partitions_total:
        run.status = "succeeded" if not failed else ("partial" if done else "failed")
        run.finished_at = now


def _compute_all(prepared: list[Prepared], options: EngineOptions) -> list[Outcome]:
    outcomes = []
    for one in prepared:
        try:
            outcomes.append(compute(one, options=options))
        except ForecastInputError:
            continue  # too little history and the like: counted as skipped
    return outcomes


async def start_scheduled_runs(
    sessions: SessionFactory,
    *,
    queue: JobQueue,
    site: str,
    principal: Principal,
    settings: Settings,
) -> list[uuid.UUID]:
    """The scheduled bulk forecast of one site: a weekly run per forecast type with items
    there, as `principal` (the site's service user). The only scheduled forecasting path."""
    async with sessions() as session:
        types = [
            t for t in FORECAST_TYPES
            if await queries.items_to_forecast(session, forecast_type=t, site=site)
        ]  # fmt: skip
    run_ids = []
    for forecast_type in types:
        run = await start_bulk_run(
            sessions,
            queue=queue,
            request=BulkCreate(forecast_type=forecast_type, period=SCHEDULED_PERIOD, site=site),
            principal=principal,
            settings=settings,
            trigger="schedule",
        )
        run_ids.append(run.id)
    return run_ids
