"""Bulk forecasts: one run split into partitions that real procrastinate workers take, with
progress; a worker killed mid-partition (SIGKILL) leaves nothing behind, its partition is
retried, finished partitions are never redone and alerts are not duplicated."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import procrastinate
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

import opscopilot
from opscopilot.access.roles import SYSTEM
from opscopilot.core.settings import Settings
from opscopilot.forecasting import ENGINE_VERSION, runs
from opscopilot.forecasting.schemas import BulkCreate, RunRead
from opscopilot.jobs import schedules
from opscopilot.store.engine import Database
from opscopilot.store.models import (
    AuditEvent,
    Forecast,
    ForecastAlert,
    ForecastRun,
    ForecastRunPartition,
    ManufacturingItem,
)
from tests.conftest import make_settings
from tests.integration.forecasting.conftest import count, events, ingest, item, recent_weeks, sales

# A worker in its own process, on the forecast queue only, one job at a time.
WORKER_SCRIPT = """
import asyncio, os
from opscopilot.core.settings import get_settings
from opscopilot.jobs.app import build_app, worker_options

async def main():
    settings = get_settings()
    app = build_app(os.environ["WORKER_DSN"], settings)
    options = worker_options(settings) | {"queues": ["forecast"], "concurrency": 1,
                                          "fetch_job_polling_interval": 0.2}
    async with app.open_async():
        await app.run_worker_async(**options)

asyncio.run(main())
"""


@pytest.fixture
def bulk_settings(migrated: str) -> Settings:
    # The tests' queue settings, with the scheduled run moved out of the tests' way; a
    # partition that raises gets two attempts, the second one at once.
    return make_settings(
        migrated,
        jobs={"in_process_worker": False, "stalled_after_s": 2, "heartbeat_s": 0.5,
              "retry_stalled_cron": "* * * * * */2", "shutdown_timeout_s": 2},
        schedule={"summary_cron": "0 0 1 1 *"},
        forecast={"partition_attempts": 2, "partition_retry_wait_s": 0},
    )  # fmt: skip


@pytest.fixture
async def bulk_app(bulk_settings: Settings, clean_db: Database) -> AsyncIterator[FastAPI]:
    from opscopilot.api.app import create_app

    application = create_app(bulk_settings, database=clean_db)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def bulk_client(bulk_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=bulk_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def drain(app: FastAPI, settings: Settings, queues: tuple[str, ...] = ("forecast",)) -> None:
    """A real procrastinate worker on `queues`, in-process, until they are empty."""
    from opscopilot.jobs.app import worker_options

    options = worker_options(settings, in_process=True)
    options.update(queues=list(queues), wait=False, fetch_job_polling_interval=0.1)
    await asyncio.wait_for(app.state.oc.jobs.run_worker_async(**options), 120)


async def wait_for(check: Callable[[], Awaitable[bool]], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def seed(db: Database, settings: Settings, skus: list[str], *, stock: bool = False) -> None:
    for i, sku in enumerate(skus):
        await item(db, settings, sku, lead_time_days=21, safety_stock=100)
        await ingest(db, settings, sales=sales(sku, recent_weeks(30), [50.0 + 10 * i] * 30))
        if stock:
            await ingest(db, settings, inventory=[{"sku": sku, "on_hand": 120}])


async def test_a_bulk_run_is_shared_out_in_partitions_and_reports_progress(
    bulk_client: httpx.AsyncClient, bulk_app: FastAPI, clean_db: Database,
    bulk_settings: Settings, operator_headers: dict[str, str], viewer_headers: dict[str, str],
) -> None:  # fmt: skip
    client, app, settings = bulk_client, bulk_app, bulk_settings
    await seed(clean_db, settings, ["BLK-1", "BLK-2", "BLK-3", "BLK-4"])
    await item(clean_db, settings, "BLK-NEW")  # three weeks of sales: too little history
    await ingest(clean_db, settings, sales=sales("BLK-NEW", recent_weeks(3), [1.0] * 3))
    body = {"forecast_type": "demand", "period": "weekly", "horizon": 4, "partition_size": 2}

    refused = await client.post("/api/v1/forecasts/bulk", json=body, headers=viewer_headers)
    assert refused.status_code == 403
    r = await client.post("/api/v1/forecasts/bulk", json=body, headers=operator_headers)
    assert r.status_code == 202, r.text
    run = r.json()
    assert (run["status"], run["partitions_total"], run["items_total"]) == ("running", 3, 5)
    assert run["progress"] == 0.0

    await drain(app, settings)

    done = (await client.get(f"/api/v1/forecasts/runs/{run['id']}", headers=viewer_headers)).json()
    assert (done["status"], done["progress"], done["partitions_done"]) == ("succeeded", 1.0, 3)
    assert (done["items_done"], done["forecasts"], done["skipped"]) == (5, 4, 1)
    assert [p["attempts"] for p in done["partitions"]] == [1, 1, 1]
    assert done["finished_at"] is not None
    assert await count(clean_db, Forecast, Forecast.run_id == uuid.UUID(run["id"])) == 4
    latest = await client.get("/api/v1/forecasts/BLK-2/demand", headers=viewer_headers)
    assert latest.json()["run_id"] == run["id"] and len(latest.json()["points"]) == 4
    assert await count(clean_db, AuditEvent, AuditEvent.event_type == "forecast.bulk_started") == 1

    # The same partition delivered again is not redone.
    await runs.defer_partitions(app.state.oc.jobs, run_id=uuid.UUID(run["id"]), partitions=[0])
    await drain(app, settings)
    again = (await client.get(f"/api/v1/forecasts/runs/{run['id']}", headers=viewer_headers)).json()
    assert again["forecasts"] == 4 and [p["attempts"] for p in again["partitions"]] == [1, 1, 1]


class RowLock:
    """The run's row lock, held from a separate transaction: a worker's final write blocks on
    it, which gives a deterministic moment to kill the worker mid-partition."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.conn: AsyncConnection | None = None

    async def take(self, run_id: uuid.UUID) -> None:
        self.conn = await self.db.engine.connect()
        await self.conn.begin()
        await self.conn.execute(
            text("SELECT 1 FROM forecast_runs WHERE id = :id FOR UPDATE"), {"id": run_id}
        )

    async def release(self) -> None:
        if self.conn is not None:
            await self.conn.rollback()
            await self.conn.close()
            self.conn = None


@pytest.fixture
async def row_lock(clean_db: Database) -> AsyncIterator[RowLock]:
    lock = RowLock(clean_db)
    yield lock
    await lock.release()


async def workers_connected(db: Database, *, waiting: bool = False) -> int:
    where = " AND wait_event_type = 'Lock'" if waiting else ""
    async with db.sessions() as s:
        found = await s.scalar(
            text(f"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'worker'{where}")
        )
    return int(found or 0)


async def test_a_partition_whose_worker_died_is_retried_and_nothing_is_doubled(
    bulk_app: FastAPI, clean_db: Database, bulk_settings: Settings, row_lock: RowLock
) -> None:
    app, settings = bulk_app, bulk_settings
    await seed(clean_db, settings, ["CRS-1", "CRS-2"], stock=True)
    jobs: procrastinate.App = app.state.oc.jobs
    request = BulkCreate(forecast_type="inventory", period="weekly", horizon=6, partition_size=1)
    run = await runs.start_bulk_run(
        clean_db.sessions, queue=None, request=request, principal=SYSTEM, settings=settings,
        trigger="test",
    )  # fmt: skip
    await row_lock.take(run.id)  # before any worker starts: partition 0 waits at its last step
    await runs.defer_partitions(jobs, run_id=run.id, partitions=[0, 1])

    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPSCOPILOT_", "DB_"))} | {
        "OPSCOPILOT_DB__URL": clean_db.url,
        "OPSCOPILOT_DB__AUTO_UPGRADE": "false",
        "OPSCOPILOT_ENVIRONMENT": "test",
        "OPSCOPILOT_LOG_JSON": "false",
        "OPSCOPILOT_JOBS__HEARTBEAT_S": "0.5",
        "OPSCOPILOT_SCHEDULE__SUMMARY_CRON": "0 0 1 1 *",
        "WORKER_DSN": clean_db.libpq_url,
        "PYTHONPATH": str(Path(opscopilot.__file__).parents[1]),  # this tree, not an install
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER_SCRIPT], env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:

        async def blocked_in_final_write() -> bool:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            return await workers_connected(clean_db, waiting=True) > 0

        await wait_for(blocked_in_final_write, timeout=90)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the worker dies with its write in flight
        proc.wait(10)
    await row_lock.release()

    async def gone() -> bool:
        return await workers_connected(clean_db) == 0

    await wait_for(gone, timeout=30)
    async with clean_db.sessions() as session:
        parts = (await session.scalars(
            select(ForecastRunPartition).where(ForecastRunPartition.run_id == run.id)
            .order_by(ForecastRunPartition.partition_no)
        )).all()  # fmt: skip
    assert [(p.status, p.attempts) for p in parts] == [("running", 1), ("pending", 0)]
    assert await count(clean_db, Forecast) == 0 and await count(clean_db, ForecastAlert) == 0
    assert await events(clean_db) == []

    # Its job stalls (no more heartbeats) and is retried, as maint.retry_stalled_jobs does.
    async def stalled() -> bool:
        found = list(await jobs.job_manager.get_stalled_jobs(seconds_since_heartbeat=2))
        for job in found:
            await jobs.job_manager.retry_job(job)
        return bool(found)

    await wait_for(stalled, timeout=30)
    await drain(app, settings)

    async with clean_db.sessions() as session:
        done = await runs.get_run(session, run_id=run.id, principal=SYSTEM)
    assert (done.status, done.partitions_done, done.forecasts) == ("succeeded", 2, 2)
    assert [p.attempts for p in done.partitions] == [2, 1]
    async with clean_db.sessions() as session:
        alerts = (await session.scalars(select(ForecastAlert))).all()
    keys = [(a.sku, a.alert_type) for a in alerts]
    assert ("CRS-1", "stockout_risk") in keys and len(keys) == len(set(keys))
    assert len(await events(clean_db)) == len(alerts)  # each announced exactly once

    # Delivered again, or resumed: finished partitions are not redone, alerts not repeated.
    await runs.defer_partitions(jobs, run_id=run.id, partitions=[0, 1])
    resumed = await runs.resume_run(clean_db.sessions, queue=jobs, run_id=run.id, principal=SYSTEM)
    assert resumed.status == "succeeded"
    await drain(app, settings)
    assert await count(clean_db, Forecast) == 2 and await count(clean_db, ForecastAlert) == len(
        alerts
    )
    assert len(await events(clean_db)) == len(alerts)


async def test_the_scheduled_run_is_the_one_path_forecasting_every_item_once(
    bulk_app: FastAPI, clean_db: Database, bulk_settings: Settings
) -> None:
    jobs: procrastinate.App = bulk_app.state.oc.jobs
    periodic = {p.task.name: p for p in jobs.periodic_registry.periodic_tasks.values()}
    assert not [name for name in periodic if name.startswith("forecast.")]  # no second schedule
    assert periodic[schedules.RUN_TASK].cron == bulk_settings.schedule.summary_cron
    await seed(clean_db, bulk_settings, ["NGT-1"], stock=True)
    await item(clean_db, bulk_settings, "NGT-2", site="north")
    north = sales("NGT-2", recent_weeks(30), [20.0] * 30, prefix="N")
    await ingest(clean_db, bulk_settings, site="north", sales=north)

    await jobs.configure_task(schedules.RUN_TASK).defer_async(timestamp=int(time.time()))
    await drain(bulk_app, bulk_settings, queues=("default",))  # the run defers the partitions
    await drain(bulk_app, bulk_settings)  # the partitions

    async with clean_db.sessions() as session:
        forecasts = (await session.scalars(select(Forecast).order_by(Forecast.sku))).all()
        triggers = (await session.scalars(select(ForecastRun.trigger))).all()
    assert sorted((f.site, f.sku, f.forecast_type) for f in forecasts) == [
        ("main", "NGT-1", "demand"), ("main", "NGT-1", "inventory"), ("north", "NGT-2", "demand"),
    ]  # fmt: skip
    assert {f.period for f in forecasts} == {"weekly"} and all(f.run_id for f in forecasts)
    assert set(triggers) == {"schedule"} and len(triggers) == 3
    assert {f.components["engine_version"] for f in forecasts} == {ENGINE_VERSION}


POISON = (
    """CREATE FUNCTION test_poison_forecast() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.sku LIKE 'PSN-%' THEN RAISE EXCEPTION 'poisoned row for %', NEW.sku; END IF;
      RETURN NEW;
    END $$""",
    """CREATE TRIGGER test_poison BEFORE INSERT ON forecasts
    FOR EACH ROW EXECUTE FUNCTION test_poison_forecast()""",
)


@pytest.fixture
async def poison(clean_db: Database) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """A real database failure: storing a forecast of a PSN-* item raises, every attempt."""

    async def cure() -> None:
        async with clean_db.engine.begin() as conn:
            await conn.execute(text("DROP TRIGGER IF EXISTS test_poison ON forecasts"))
            await conn.execute(text("DROP FUNCTION IF EXISTS test_poison_forecast()"))

    await cure()
    async with clean_db.engine.begin() as conn:
        for statement in POISON:
            await conn.execute(text(statement))
    yield cure
    await cure()


async def test_a_partition_out_of_attempts_fails_and_the_run_says_which(
    bulk_app: FastAPI, clean_db: Database, bulk_settings: Settings,
    poison: Callable[[], Awaitable[None]],
) -> None:  # fmt: skip
    app, settings = bulk_app, bulk_settings
    await seed(clean_db, settings, ["OK-1", "PSN-1", "OK-2"])
    await ingest(clean_db, settings, inventory=[{"sku": "PSN-1", "on_hand": 500}])
    jobs: procrastinate.App = app.state.oc.jobs

    async def bulk(forecast_type: str) -> uuid.UUID:
        request = BulkCreate(forecast_type=forecast_type, period="weekly", horizon=4,
                             partition_size=1)  # fmt: skip
        run = await runs.start_bulk_run(
            clean_db.sessions, queue=jobs, request=request, principal=SYSTEM, settings=settings,
            trigger="test",
        )  # fmt: skip
        return run.id

    async def read(run_id: uuid.UUID) -> RunRead:
        async with clean_db.sessions() as session:
            return await runs.get_run(session, run_id=run_id, principal=SYSTEM)

    async def finish(run_id: uuid.UUID) -> RunRead:
        # A retry is deferred as its attempt fails: a worker told not to wait may stop first.
        for _ in range(5):
            await drain(app, settings)
            if (run := await read(run_id)).status != "running":
                return run
        raise AssertionError(f"run {run_id} still running")

    demand = await bulk("demand")
    run = await finish(demand)
    async with clean_db.sessions() as session:
        part = await session.scalar(
            select(ForecastRunPartition).where(
                ForecastRunPartition.run_id == demand,
                ForecastRunPartition.item_ids.contains([await _item_id(session, "PSN-1")]),
            )
        )
    assert part is not None
    assert (run.status, run.progress, run.failed_partitions) == (
        "partial",
        1.0,
        [part.partition_no],
    )
    assert run.finished_at is not None and run.partitions_done == 2 and run.forecasts == 2
    assert run.error is not None and f"partition {part.partition_no} " in run.error
    assert "2 attempts" in run.error and "poisoned row for PSN-1" in run.error
    by_no = {p.partition_no: p for p in run.partitions}
    assert (by_no[part.partition_no].status, by_no[part.partition_no].attempts) == ("failed", 2)
    assert [p.status for n, p in sorted(by_no.items()) if n != part.partition_no] == ["done"] * 2
    async with clean_db.sessions() as session:
        kept = (await session.scalars(select(Forecast.sku).where(Forecast.run_id == demand))).all()
    assert sorted(kept) == ["OK-1", "OK-2"]

    # A run whose only partition fails is failed, not running forever.
    only = await finish(await bulk("inventory"))
    assert (only.status, only.failed_partitions, only.forecasts) == ("failed", [0], 0)

    # Cured, a resumed run gives the failed partition fresh attempts and succeeds.
    await poison()
    resumed = await runs.resume_run(clean_db.sessions, queue=jobs, run_id=demand,
                                    principal=SYSTEM)  # fmt: skip
    assert (resumed.status, resumed.failed_partitions, resumed.error) == ("running", [], None)
    healed = await finish(demand)
    assert (healed.status, healed.forecasts, healed.partitions_done) == ("succeeded", 3, 3)
    assert healed.engine_version == ENGINE_VERSION


async def _item_id(session: AsyncSession, sku: str) -> str:
    found = await session.scalar(select(ManufacturingItem.id).where(ManufacturingItem.sku == sku))
    return str(found)


async def test_a_partition_run_in_process_gets_the_same_attempts(
    clean_db: Database, bulk_settings: Settings, poison: Callable[[], Awaitable[None]]
) -> None:
    # The CLI's path without a queue: no worker retries, yet the run still finishes.
    await seed(clean_db, bulk_settings, ["OK-9", "PSN-9"])
    request = BulkCreate(forecast_type="demand", period="weekly", horizon=4, partition_size=1)
    run = await runs.start_bulk_run(
        clean_db.sessions, queue=None, request=request, principal=SYSTEM,
        settings=bulk_settings, trigger="cli",
    )  # fmt: skip
    said = [
        await runs.run_partition_here(
            clean_db.sessions, run_id=run.id, partition_no=p.partition_no, settings=bulk_settings
        )
        for p in run.partitions
    ]
    assert sorted(s.split(":")[0] for s in said) == ["1 of 1 items forecast", "failed"]
    async with clean_db.sessions() as session:
        done = await runs.get_run(session, run_id=run.id, principal=SYSTEM)
    assert (done.status, done.forecasts, len(done.failed_partitions)) == ("partial", 1, 1)
    assert [p.attempts for p in done.partitions if p.status == "failed"] == [2]
