"""Plugin models through a real entry point, in killable processes: a model that raises
fails its job with a scrubbed error, one that hangs is killed at its timeout, and the
worker goes on with the next job."""

from __future__ import annotations

import time
import uuid

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from opscopilot.core.settings import Settings
from opscopilot.inference.runtime import get_runtime
from opscopilot.store.engine import Database
from opscopilot.store.models.inference import InferenceJob
from tests.integration.inference.conftest import drain_queue

SECRETS = ("hunter2", "mes-db.plant.internal", "/srv/acme", "postgresql://")
ROWS = [{"temperature": 200.0, "speed": 50.0}, {"temperature": 150.0, "speed": 80.0}]


def expected(
    rows: list[dict[str, float]], a: float = 0.02, b: float = 0.001, c: float = -2.0
) -> list[float]:
    return [a * r["temperature"] + b * r["speed"] + c for r in rows]


async def _infer(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    model: str,
    input: dict[str, object],
    **extra: object,
) -> httpx.Response:
    return await client.post(
        "/api/v1/infer", json={"model": model, "input": input, **extra}, headers=headers
    )


async def test_entry_point_model_runs_in_a_worker_process(
    client: httpx.AsyncClient, viewer_headers: dict[str, str]
) -> None:
    r = await _infer(client, viewer_headers, "scrap-rate", {"rows": ROWS})
    assert r.status_code == 200, r.text
    assert r.json()["output"]["predictions"] == expected(ROWS)
    assert r.json()["version"] == "1.0.0"
    r = await _infer(client, viewer_headers, "scrap-rate", {"rows": ROWS}, version="1.1.0")
    assert r.json()["output"]["predictions"] == expected(ROWS, 0.021, 0.0008, -2.1)
    r = await _infer(client, viewer_headers, "scrap-rate", {"rows": [{"temperature": 1}]})
    assert r.status_code == 422 and r.json()["error"]["field"] == "rows[0].speed"


async def test_a_raising_model_fails_with_a_scrubbed_error_and_the_worker_goes_on(
    app: FastAPI,
    client: httpx.AsyncClient,
    viewer_headers: dict[str, str],
    settings: Settings,
    clean_db: Database,
) -> None:
    r = await _infer(client, viewer_headers, "raising-model", {})
    assert r.status_code == 502
    error = r.json()["error"]
    assert error["code"] == "model_failed" and error["message"].startswith("ConnectionError")
    assert not any(s in error["message"] for s in SECRETS), error["message"]
    inline_job = error["details"]["job_id"]

    failing = (await _infer(client, viewer_headers, "raising-model", {}, **{"async": True})).json()
    healthy = (
        await _infer(client, viewer_headers, "scrap-rate", {"rows": ROWS}, **{"async": True})
    ).json()
    await drain_queue(app, settings)

    for job_id in (inline_job, failing["job_id"]):
        job = (await client.get(f"/api/v1/infer/jobs/{job_id}", headers=viewer_headers)).json()
        assert job["status"] == "failed" and job["error"].startswith("ConnectionError")
        assert not any(s in job["error"] for s in SECRETS), job["error"]
    job = (
        await client.get(f"/api/v1/infer/jobs/{healthy['job_id']}", headers=viewer_headers)
    ).json()
    assert job["status"] == "succeeded" and job["output"]["predictions"] == expected(ROWS)

    # procrastinate saw every task succeed: the failure is the job's, not the worker's.
    rows = await app.state.oc.jobs.connector.execute_query_all_async(
        "SELECT status::text AS status FROM procrastinate_jobs WHERE task_name = 'inference.run'"
    )
    assert {row["status"] for row in rows} == {"succeeded"}


async def test_a_hanging_model_is_killed_at_its_timeout(
    app: FastAPI,
    client: httpx.AsyncClient,
    viewer_headers: dict[str, str],
    settings: Settings,
    clean_db: Database,
) -> None:
    runtime = get_runtime()
    killed_before = runtime.runner.killed_processes
    started = time.monotonic()
    r = await _infer(client, viewer_headers, "hanging-model", {})
    assert r.status_code == 504 and r.json()["error"]["code"] == "model_timeout"
    assert "killed" in r.json()["error"]["message"]
    assert time.monotonic() - started < 15

    hung = (await _infer(client, viewer_headers, "hanging-model", {}, **{"async": True})).json()
    after = (
        await _infer(client, viewer_headers, "scrap-rate", {"rows": ROWS}, **{"async": True})
    ).json()
    await drain_queue(app, settings)
    assert runtime.runner.killed_processes == killed_before + 2

    async with clean_db.sessions() as session:
        jobs = {j.id: j for j in (await session.scalars(select(InferenceJob))).all()}
    job = jobs[uuid.UUID(hung["job_id"])]
    assert job.status == "timed_out" and "1 s" in (job.error or "")
    assert jobs[uuid.UUID(after["job_id"])].status == "succeeded"
    # Runs are recorded with the model's own timeout, not the worker's.
    assert job.finished_at is not None and job.started_at is not None
    assert (job.finished_at - job.started_at).total_seconds() < 10
