"""A candidate version in shadow beside the active one, actuals, and compare."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select

from opscopilot.store.engine import Database
from opscopilot.store.models.inference import InferenceJob

SCRAP = "/api/v1/models/scrap-rate"
ROWS = [{"temperature": 200.0, "speed": 50.0}, {"temperature": 150.0, "speed": 80.0}]


async def test_shadow_runs_on_the_same_input_and_is_never_returned(
    client: httpx.AsyncClient,
    admin_headers: dict[str, str],
    viewer_headers: dict[str, str],
    operator_headers: dict[str, str],
    clean_db: Database,
) -> None:
    r = await client.post(
        f"{SCRAP}/versions/1.1.0/shadow", json={"enabled": True}, headers=admin_headers
    )
    assert r.status_code == 200 and r.json()["is_shadow"] is True

    r = await client.post(
        "/api/v1/infer",
        json={"model": "scrap-rate", "input": {"rows": ROWS}},
        headers=viewer_headers,
    )
    assert r.status_code == 200
    answer = r.json()
    assert answer["version"] == "1.0.0" and set(answer["output"]) == {"predictions"}
    assert answer["output"]["predictions"] == [2.05, 1.08]
    primary = uuid.UUID(answer["job_id"])

    async with clean_db.sessions() as session:
        runs = (await session.scalars(select(InferenceJob).order_by(InferenceJob.queued_at))).all()
    shadow = next(j for j in runs if j.shadow)
    assert shadow.model_version == "1.1.0" and shadow.primary_job_id == primary
    assert shadow.status == "succeeded" and shadow.input_hash == runs[0].input_hash
    job = (await client.get(f"/api/v1/infer/jobs/{primary}", headers=viewer_headers)).json()
    assert job["shadow_jobs"] == [str(shadow.id)]

    # A call pinned to a version is the caller's choice: no shadow runs beside it.
    pinned = {"model": "scrap-rate", "version": "1.0.0", "input": {"rows": ROWS}}
    assert (await client.post("/api/v1/infer", json=pinned, headers=viewer_headers)).is_success
    async with clean_db.sessions() as session:
        shadows = (await session.scalars(select(InferenceJob).where(InferenceJob.shadow))).all()
    assert len(shadows) == 1

    # Actuals score the run and its shadow; compare then says which version is closer.
    r = await client.post(
        f"/api/v1/infer/jobs/{primary}/actual",
        json={"values": [2.15, 1.12]},
        headers=operator_headers,
    )
    assert r.status_code == 200
    r = await client.get(
        f"{SCRAP}/compare", params={"versions": "1.0.0,1.1.0"}, headers=viewer_headers
    )
    assert r.status_code == 200, r.text
    cmp = r.json()
    assert cmp["a"]["version"] == "1.0.0" and cmp["b"]["is_shadow"] is True
    assert cmp["shared_inputs"] == 1
    assert cmp["a"]["usage"]["calls"] == 2 and cmp["b"]["usage"]["shadow_calls"] == 1
    # 1.0.0 predicts [2.05, 1.08], 1.1.0 [2.14, 1.114]: MAE 0.07 against 0.008.
    assert abs(cmp["metrics"]["mae"]["a"] - 0.07) < 1e-9
    assert abs(cmp["metrics"]["mae"]["b"] - 0.008) < 1e-9
    assert cmp["metrics"]["mae"]["better"] == "b" and "1.1.0 is better on" in cmp["verdict"]

    # The default pair is the active version against its shadow.
    default = (await client.get(f"{SCRAP}/compare", headers=viewer_headers)).json()
    assert (default["a"]["version"], default["b"]["version"]) == ("1.0.0", "1.1.0")


async def test_shadow_and_compare_refuse_what_makes_no_sense(
    client: httpx.AsyncClient, admin_headers: dict[str, str], viewer_headers: dict[str, str]
) -> None:
    r = await client.post(
        f"{SCRAP}/versions/1.0.0/shadow", json={"enabled": True}, headers=admin_headers
    )
    assert r.status_code == 409  # the active version already serves
    r = await client.post(
        "/api/v1/models/forecast.ets/versions/0.1.0/shadow",
        json={"enabled": True},
        headers=admin_headers,
    )
    assert r.status_code == 404
    r = await client.post(
        f"{SCRAP}/versions/1.1.0/shadow", json={"enabled": True}, headers=viewer_headers
    )
    assert r.status_code == 403
    for versions in ("1.0.0", "1.0.0,1.0.0", "1.0.0,1.1.0,2.0.0"):
        r = await client.get(
            f"{SCRAP}/compare", params={"versions": versions}, headers=viewer_headers
        )
        assert r.status_code == 422 and r.json()["error"]["field"] == "versions"
    r = await client.get(
        f"{SCRAP}/compare", params={"versions": "1.0.0,3.0.0"}, headers=viewer_headers
    )
    assert r.status_code == 404
    r = await client.get("/api/v1/models/anomaly-detector/compare", headers=viewer_headers)
    assert r.status_code == 409  # a single version
