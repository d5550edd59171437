"""POST /api/v1/infer: inline runs, queued jobs, bad input, recorded runs and metrics."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from opscopilot.core.settings import Settings
from opscopilot.store.engine import Database
from opscopilot.store.models.inference import InferenceJob
from tests.integration.inference.conftest import drain_queue

SPIKE_AT = 20


def demand(n: int = 36, spike: int | None = SPIKE_AT) -> list[dict[str, object]]:
    values = [100.0 + (i % 4) * 3 for i in range(n)]
    if spike is not None:
        values[spike] = 400.0
    return [{"period": f"P{i:02d}", "value": v} for i, v in enumerate(values)]


async def test_inline_anomaly_detection_returns_the_result_and_records_the_run(
    client: httpx.AsyncClient, viewer_headers: dict[str, str], clean_db: Database
) -> None:
    body = {"model": "anomaly-detector", "input": {"item": "ITEM-001", "series": demand()}}
    r = await client.post("/api/v1/infer", json=body, headers=viewer_headers)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["status"] == "succeeded" and answer["version"] == "1.0.0"
    anomalies = answer["output"]["anomalies"]
    assert [a["index"] for a in anomalies] == [SPIKE_AT]
    assert anomalies[0]["direction"] == "high" and "expected" in anomalies[0]["reason"]

    async with clean_db.sessions() as session:
        job = await session.get(InferenceJob, uuid.UUID(answer["job_id"]))
    assert job is not None
    assert (job.model_name, job.model_version, job.status) == (
        "anomaly-detector",
        "1.0.0",
        "succeeded",
    )
    assert len(job.input_hash) == 64 and job.latency_ms is not None and job.latency_ms > 0
    assert job.output == answer["output"] and job.actor == "viewer-user" and job.site == "main"

    r = await client.get(f"/api/v1/infer/jobs/{answer['job_id']}", headers=viewer_headers)
    assert r.status_code == 200
    read = r.json()
    assert read["status"] == "succeeded" and read["finished_at"] is not None
    assert read["latency_ms"] == job.latency_ms


async def test_input_that_fails_the_schema_is_422_naming_the_field(
    client: httpx.AsyncClient, viewer_headers: dict[str, str], clean_db: Database
) -> None:
    cases = [
        ({"series": [{"value": 1.0}, {"value": "lots"}]}, "series[1].value"),
        ({"series": [{"value": 1.0}], "threshold": 99}, "threshold"),
        ({"series": [{"value": 1.0, "colour": "red"}]}, "series[0].colour"),
        ({"item": "X"}, "(input)"),  # neither series nor items
    ]
    for input, field in cases:
        body = {"model": "anomaly-detector", "input": input}
        r = await client.post("/api/v1/infer", json=body, headers=viewer_headers)
        assert r.status_code == 422, input
        error = r.json()["error"]
        assert error["code"] == "invalid_model_input" and error["field"] == field, error
    r = await client.post(
        "/api/v1/infer", json={"model": "anomaly-detector"}, headers=viewer_headers
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "input"
    async with clean_db.sessions() as session:
        assert (await session.scalars(select(InferenceJob))).first() is None  # nothing ran


async def test_unknown_model_or_version_is_404(
    client: httpx.AsyncClient, viewer_headers: dict[str, str]
) -> None:
    r = await client.post(
        "/api/v1/infer", json={"model": "nope", "input": {}}, headers=viewer_headers
    )
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    body = {"model": "anomaly-detector", "version": "7.0.0", "input": {"series": demand()}}
    r = await client.post("/api/v1/infer", json=body, headers=viewer_headers)
    assert r.status_code == 404 and r.json()["error"]["field"] == "version"
    r = await client.get(f"/api/v1/infer/jobs/{uuid.uuid4()}", headers=viewer_headers)
    assert r.status_code == 404


async def test_async_and_oversized_requests_are_queued_and_run_by_a_worker(
    app: FastAPI, client: httpx.AsyncClient, viewer_headers: dict[str, str], settings: Settings
) -> None:
    body = {"model": "anomaly-detector", "async": True, "input": {"series": demand()}}
    r = await client.post("/api/v1/infer", json=body, headers=viewer_headers)
    assert r.status_code == 202, r.text
    queued = r.json()
    assert queued["status"] == "queued" and queued["poll"].endswith(queued["job_id"])

    rows = [{"temperature": 180.0 + i, "speed": 40.0} for i in range(51)]  # inline limit 50
    r = await client.post(
        "/api/v1/infer",
        json={"model": "scrap-rate", "input": {"rows": rows}},
        headers=viewer_headers,
    )
    assert r.status_code == 202 and "exceed the inline limit of 50" in r.json()["reason"]
    big = r.json()["job_id"]

    job = (await client.get(queued["poll"], headers=viewer_headers)).json()
    assert job["status"] == "queued" and job["output"] is None

    await drain_queue(app, settings)

    job = (await client.get(queued["poll"], headers=viewer_headers)).json()
    assert job["status"] == "succeeded", job
    assert [a["index"] for a in job["output"]["anomalies"]] == [SPIKE_AT]
    assert job["started_at"] >= job["queued_at"] and job["queue_wait_ms"] >= 0
    big_job = (await client.get(f"/api/v1/infer/jobs/{big}", headers=viewer_headers)).json()
    assert big_job["status"] == "succeeded" and len(big_job["output"]["predictions"]) == 51


async def test_metrics_per_version_in_the_registry_and_on_the_metrics_endpoint(
    client: httpx.AsyncClient, viewer_headers: dict[str, str]
) -> None:
    for spike in (5, 10, None):
        body = {"model": "anomaly-detector", "input": {"series": demand(spike=spike)}}
        assert (await client.post("/api/v1/infer", json=body, headers=viewer_headers)).is_success
    raising = {"model": "raising-model", "input": {}}
    assert (
        await client.post("/api/v1/infer", json=raising, headers=viewer_headers)
    ).status_code == 502

    detail = (await client.get("/api/v1/models/anomaly-detector", headers=viewer_headers)).json()
    usage = detail["versions"][0]["usage"]
    assert usage["calls"] == 3 and usage["errors"] == 0 and usage["error_rate"] == 0
    assert 0 < usage["latency_p50_ms"] <= usage["latency_p95_ms"]
    detail = (await client.get("/api/v1/models/raising-model", headers=viewer_headers)).json()
    assert detail["versions"][0]["usage"]["error_rate"] == 1.0

    text = (await client.get("/metrics", headers=viewer_headers)).text
    calls = "opscopilot_inference_calls_total"
    assert f'{calls}{{model="anomaly-detector",status="succeeded",version="1.0.0"}}' in text
    assert f'{calls}{{model="raising-model",status="failed",version="1.0.0"}}' in text
    assert 'opscopilot_inference_seconds_count{model="anomaly-detector",version="1.0.0"}' in text


async def test_reorder_recommender_runs_inline(
    client: httpx.AsyncClient, viewer_headers: dict[str, str]
) -> None:
    input = {"demand_mean": 100, "demand_std": 20, "lead_time": 2, "service_level": 0.95}
    r = await client.post(
        "/api/v1/infer",
        json={"model": "reorder-recommender", "input": input},
        headers=viewer_headers,
    )
    assert r.status_code == 200, r.text
    out = r.json()["output"]
    assert out["reorder_point"] > 200 and out["formulas"]["safety_stock"].startswith("SS =")


async def test_forecasters_are_listed_but_run_by_the_forecasting_engine(
    client: httpx.AsyncClient, viewer_headers: dict[str, str]
) -> None:
    body = {
        "model": "forecast.autoets",
        "input": {"history": [1, 2], "period": "monthly", "horizon": 3},
    }
    r = await client.post("/api/v1/infer", json=body, headers=viewer_headers)
    assert r.status_code == 409 and r.json()["error"]["code"] == "model_not_runnable"
    assert "/api/v1/forecasts" in r.json()["error"]["message"]


async def test_a_site_limited_key_cannot_run_for_another_site(
    client: httpx.AsyncClient, key_factory: object
) -> None:
    headers = await key_factory("viewer", "north-viewer", ["north"])  # type: ignore[operator]
    body = {"model": "anomaly-detector", "input": {"series": demand()}, "site": "south"}
    assert (await client.post("/api/v1/infer", json=body, headers=headers)).status_code == 403
    body["site"] = "north"
    r = await client.post("/api/v1/infer", json=body, headers=headers)
    assert r.status_code == 200
    other = await key_factory("viewer", "south-viewer", ["south"])  # type: ignore[operator]
    poll = f"/api/v1/infer/jobs/{r.json()['job_id']}"
    assert (await client.get(poll, headers=other)).status_code == 404
    assert (await client.get(poll, headers=headers)).status_code == 200
