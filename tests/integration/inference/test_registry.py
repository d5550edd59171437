"""The registry: code-defined models registered at start, versions, lifecycle, roles."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from opscopilot.inference.startup import sync_registry
from opscopilot.store.engine import Database
from opscopilot.store.models.inference import AIModel
from opscopilot.store.models.people import AuditEvent

SCRAP = "/api/v1/models/scrap-rate"
LATE_SITE = Path(__file__).parent / "plugin_site_late"


async def test_builtins_plugins_and_forecasters_are_registered_at_start(
    client: httpx.AsyncClient, viewer_headers: dict[str, str]
) -> None:
    r = await client.get("/api/v1/models", headers=viewer_headers)
    assert r.status_code == 200
    models = {m["name"]: m for m in r.json()["models"]}
    assert models["anomaly-detector"]["active_version"] == "1.0.0"
    assert models["anomaly-detector"]["kind"] == "anomaly_detector"
    assert models["reorder-recommender"]["kind"] == "recommender"
    assert models["scrap-rate"]["versions"] == ["1.1.0", "1.0.0"]
    assert models["scrap-rate"]["active_version"] == "1.0.0"  # the first one registered
    for name in ("forecast.auto", "forecast.autoets", "forecast.adida", "forecast.prophet"):
        assert models[name]["kind"] == "forecaster"

    detail = (await client.get(SCRAP, headers=viewer_headers)).json()
    v1 = next(v for v in detail["versions"] if v["version"] == "1.0.0")
    assert v1["format"] == "entrypoint"
    assert v1["origin"].startswith("entry point tests.integration.inference.plugin_models")
    assert "acme-plant-models 1.0.0" in v1["origin"]
    assert v1["execution"]["isolate"] is True  # plugin code always runs in a process
    assert v1["input_schema"]["required"] == ["rows"]


async def test_start_up_registration_is_idempotent(clean_db: Database) -> None:
    async with clean_db.sessions() as session:
        first = await sync_registry(session)
        await session.commit()
    async with clean_db.sessions() as session:
        second = await sync_registry(session)
        await session.commit()
        count = await session.scalar(select(func.count()).select_from(AIModel))
        active = await session.scalar(
            select(func.count()).select_from(AIModel).where(AIModel.is_active)
        )
    assert "anomaly-detector@1.0.0" in first.inserted
    assert second.inserted == [] and second.updated == []
    assert second.unchanged == count
    assert active == len({n for n in await _names(clean_db)})


async def _names(db: Database) -> list[str]:
    async with db.sessions() as session:
        return list((await session.scalars(select(AIModel.name).distinct())).all())


async def test_activate_rollback_and_retire(
    client: httpx.AsyncClient, admin_headers: dict[str, str], clean_db: Database
) -> None:
    r = await client.post(f"{SCRAP}/versions/1.1.0/activate", headers=admin_headers)
    assert r.status_code == 200 and r.json()["is_active"] is True
    detail = (await client.get(SCRAP, headers=admin_headers)).json()
    assert detail["active_version"] == "1.1.0"
    assert {v["version"]: v["status"] for v in detail["versions"]} == {
        "1.1.0": "active",
        "1.0.0": "inactive",
    }

    r = await client.post(f"{SCRAP}/versions/1.1.0/retire", headers=admin_headers)
    assert r.status_code == 409  # the active version cannot be retired
    assert r.json()["error"]["code"] == "model_registry_conflict"

    r = await client.post(f"{SCRAP}/rollback", headers=admin_headers)
    assert r.status_code == 200 and r.json()["version"] == "1.0.0"
    r = await client.post(f"{SCRAP}/rollback", headers=admin_headers)
    assert r.json()["version"] == "1.1.0"  # roll back the roll-back: the previous again

    assert (await client.post(f"{SCRAP}/rollback", headers=admin_headers)).status_code == 200
    r = await client.post(f"{SCRAP}/versions/1.1.0/retire", headers=admin_headers)
    assert r.status_code == 200 and r.json()["status"] == "retired"
    r = await client.post(f"{SCRAP}/versions/1.1.0/activate", headers=admin_headers)
    assert r.status_code == 409
    r = await client.post(f"{SCRAP}/rollback", headers=admin_headers)
    assert r.status_code == 409  # the only other version is retired

    async with clean_db.sessions() as session:
        events = (
            await session.scalars(
                select(AuditEvent.event_type).where(AuditEvent.subject.like("scrap-rate@%"))
            )
        ).all()
    assert events.count("model.rolled_back") == 3 and "model.retired" in events


async def test_registry_changes_need_admin_and_unknown_names_are_404(
    client: httpx.AsyncClient, operator_headers: dict[str, str], admin_headers: dict[str, str]
) -> None:
    r = await client.post(f"{SCRAP}/versions/1.1.0/activate", headers=operator_headers)
    assert r.status_code == 403
    r = await client.post("/api/v1/models/nope/versions/1.0.0/activate", headers=admin_headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    r = await client.post(f"{SCRAP}/versions/9.9.9/activate", headers=admin_headers)
    assert r.status_code == 404 and r.json()["error"]["field"] == "version"
    assert (await client.get("/api/v1/models/nope", headers=admin_headers)).status_code == 404
    assert (await client.get("/api/v1/models")).status_code == 401


async def test_json_registration_of_a_package_installed_after_start(
    client: httpx.AsyncClient, admin_headers: dict[str, str], viewer_headers: dict[str, str]
) -> None:
    spec = {
        "name": "scrap-rate",
        "version": "2.0.0",
        "format": "entrypoint",
        "training_meta": {"dataset": "oven line 2026Q1", "n_samples": 5200},
        "metrics": {"mae": 0.12},
    }
    r = await client.post("/api/v1/models", json=spec, headers=admin_headers)
    assert r.status_code == 422 and r.json()["error"]["field"] == "name"  # not installed yet

    sys.path.insert(0, str(LATE_SITE))
    try:
        r = await client.post(
            "/api/v1/models", json={**spec, "kind": "classifier"}, headers=admin_headers
        )
        assert r.status_code == 422 and r.json()["error"]["field"] == "kind"
        r = await client.post("/api/v1/models", json=spec, headers=admin_headers)
        assert r.status_code == 201, r.text
    finally:
        sys.path.remove(str(LATE_SITE))
    read = r.json()
    assert read["status"] == "registered" and not read["is_active"]  # 1.0.0 stays active
    assert read["training_meta"]["dataset"] == "oven line 2026Q1"
    assert read["metrics"] == {"mae": 0.12} and read["execution"]["isolate"] is True
    assert read["input_schema"]["required"] == ["rows"]  # from the code

    body = {
        "model": "scrap-rate",
        "version": "2.0.0",
        "input": {"rows": [{"temperature": 200.0, "speed": 50.0}]},
    }
    r = await client.post("/api/v1/infer", json=body, headers=viewer_headers)
    assert r.status_code == 200 and r.json()["output"]["predictions"] == [pytest.approx(2.05)]

    r = await client.post("/api/v1/models", json=spec, headers=admin_headers)
    assert r.status_code == 409  # a registered version is never overwritten


async def test_json_registration_refuses_unknown_code(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    cases = [
        ({"name": "x", "version": "1.0.0", "entrypoint": "os:system"}, "entrypoint"),
        ({"name": "anomaly-detector", "version": "9.0.0", "format": "builtin"}, "name"),
        ({"name": "anomaly-detector", "version": "1.0.0", "format": "onnx"}, "format"),
        ({"name": "Bad Name", "version": "1.0.0"}, "name"),
    ]
    for spec, field in cases:
        r = await client.post("/api/v1/models", json=spec, headers=admin_headers)
        assert r.status_code == 422, spec
        assert r.json()["error"]["field"] == field, r.json()
    # Shipped code, but that version is registered already: never overwritten.
    builtin = {"name": "anomaly-detector", "version": "1.0.0", "format": "builtin"}
    r = await client.post("/api/v1/models", json=builtin, headers=admin_headers)
    assert r.status_code == 409
