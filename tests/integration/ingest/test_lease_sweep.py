"""The worker's periodic sweep fails batches whose lease ran out, and only those."""

from __future__ import annotations

import uuid

from sqlalchemy import text

from opscopilot.core.settings import Settings
from opscopilot.ingest import batches
from opscopilot.ingest.tasks import EXPIRE_TASK
from opscopilot.jobs.app import build_app
from opscopilot.store.engine import Database
from tests.conftest import make_settings


async def _batch(db: Database, reference: str, *, lease_s: int) -> uuid.UUID:
    """A batch as a worker leaves it while processing, its lease ending in `lease_s`."""
    async with db.transaction() as session:
        batch, created = await batches.create_or_get(
            session, source_type="erp", source_id="sweep", batch_reference=reference,
            site="main", content_hash=reference, payload={"data": {}}, mapping="generic",
            actor="test", lease_s=600,
        )  # fmt: skip
        assert created
        await session.execute(
            text(
                "UPDATE raw_data_batches SET status = 'processing', attempts = 1, "
                "lease_expires_at = now() + make_interval(secs => :lease) WHERE id = :id"
            ),
            {"id": batch.id, "lease": lease_s},
        )
    return batch.id


async def _states(db: Database) -> dict[str, tuple[str, str | None]]:
    async with db.session() as session:
        rows = await session.execute(
            text("SELECT batch_reference, status, error FROM raw_data_batches")
        )
        return {r.batch_reference: (r.status, r.error) for r in rows}


async def test_the_sweep_fails_expired_batches_and_leaves_live_ones(
    clean_db: Database, settings: Settings
) -> None:
    await _batch(clean_db, "died", lease_s=-5)
    await _batch(clean_db, "running", lease_s=600)
    jobs = build_app(clean_db.libpq_url, settings)
    jobs.oc.attach(clean_db)  # type: ignore[attr-defined]
    async with jobs.open_async():
        job_id = await jobs.configure_task(EXPIRE_TASK).defer_async()
        await jobs.run_worker_async(wait=False, install_signal_handlers=False)
        done = await jobs.connector.execute_query_all_async(
            "SELECT status::text AS status FROM procrastinate_jobs WHERE id = %(id)s", id=job_id
        )
    assert [r["status"] for r in done] == ["succeeded"]
    states = await _states(clean_db)
    assert states["died"] == ("failed", batches.LEASE_EXPIRED)
    assert states["running"] == ("processing", None)
    # failed by the sweep means retryable: a new claim takes it with the next attempt
    died = await _batch_id(clean_db, "died")
    assert await batches.claim(clean_db, batch_id=died, lease_s=60) == 2


async def _batch_id(db: Database, reference: str) -> uuid.UUID:
    async with db.session() as session:
        found = await session.scalar(
            text("SELECT id FROM raw_data_batches WHERE batch_reference = :r"), {"r": reference}
        )
    assert isinstance(found, uuid.UUID)
    return found


def test_the_sweep_runs_on_the_configured_schedule() -> None:
    url = "postgresql:///unused?host=/nonexistent"  # nothing connects until the app opens
    app = build_app(url, make_settings(url, ingest={"lease_sweep_cron": "*/2 * * * *"}))
    schedules = {
        p.periodic_id: p.cron
        for p in app.periodic_registry.periodic_tasks.values()
        if p.task.name == EXPIRE_TASK
    }
    assert schedules == {"ingest-expire-leases": "*/2 * * * *"}
