"""Running a model on an item from stored observations, and the forecasters' registry entries
with the backtest metrics the forecasting service reports."""

from __future__ import annotations

from datetime import date

import httpx
from sqlalchemy import select

from opscopilot.inference import service
from opscopilot.inference.forecasters import engine_version
from opscopilot.inference.startup import sync_registry
from opscopilot.store.engine import Database
from opscopilot.store.models.inference import AIModel, InferenceJob
from opscopilot.store.models.items import ManufacturingItem, Observation

# A forecaster version other than the running engine's (registered on the fly).
OTHER = "0.0.9"


def month(i: int) -> date:
    return date(2023 + i // 12, i % 12 + 1, 1)


async def seed_item(db: Database) -> None:
    async with db.sessions() as session:
        item = ManufacturingItem(sku="GASKET-7", name="Gasket 7")
        session.add(item)
        await session.flush()
        for i in range(30):
            for site, qty in (("main", 100.0 + (i % 3) * 4), ("north", 50.0)):
                qty = 700.0 if (site, i) == ("main", 22) else qty
                session.add(
                    Observation(
                        site=site,
                        item_id=item.id,
                        kind="demand",
                        obs_date=month(i),
                        value=qty,
                        natural_key=f"SO-{site}-{i}",
                    )
                )
            if i != 10:  # month 10 had no inspections: missing, not a zero rate
                defects = 30.0 if i == 25 else 2.0 + i % 2
                session.add(
                    Observation(
                        site="main",
                        item_id=item.id,
                        kind="quality",
                        obs_date=month(i),
                        value=defects,
                        weight=200.0,
                        natural_key=f"LOT-{i}",
                    )
                )
        await session.commit()


async def test_run_model_on_item_builds_the_series_from_observations(clean_db: Database) -> None:
    await seed_item(clean_db)
    async with clean_db.sessions() as session:
        await sync_registry(session)
        await session.commit()
        demand = await service.run_model_on_item(session, sku="GASKET-7", site="main")
    assert demand.status == "succeeded" and demand.output is not None
    assert demand.input["metric"] == "demand" and demand.input["season_length"] == 12
    assert [a["period"] for a in demand.output["anomalies"]] == ["2024-11"]

    async with clean_db.sessions() as session:
        quality = await service.run_model_on_item(
            session, sku="GASKET-7", kind="quality", actor="agent"
        )
    assert quality.output is not None
    series = quality.input["series"]
    assert series[10] == {"period": "2023-11", "value": None} and len(series) == 30
    assert abs(series[0]["value"] - 0.01) < 1e-12  # 2 defects of 200 inspected
    anomalies = quality.output["anomalies"]
    assert [a["period"] for a in anomalies] == ["2025-02"]
    assert anomalies[0]["reason"].startswith("defect rate 0.15")


async def test_item_endpoint_and_unknown_sku(
    client: httpx.AsyncClient, viewer_headers: dict[str, str], clean_db: Database
) -> None:
    await seed_item(clean_db)
    r = await client.post(
        "/api/v1/infer/item", json={"sku": "GASKET-7", "site": "north"}, headers=viewer_headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["output"]["anomalies"] == [] and r.json()["output"]["item"] == "GASKET-7"
    async with clean_db.sessions() as session:
        job = await session.scalar(select(InferenceJob))
    assert job is not None and job.site == "north" and len(job.input["series"]) == 30
    r = await client.post("/api/v1/infer/item", json={"sku": "NOPE"}, headers=viewer_headers)
    assert r.status_code == 404


async def test_forecaster_metrics_are_folded_into_the_registry(
    client: httpx.AsyncClient, viewer_headers: dict[str, str], clean_db: Database
) -> None:
    started = engine_version()  # the version registered and activated at start
    assert started is not None and started != OTHER
    async with clean_db.sessions() as session:
        for rmsse, mase in ((0.8, 0.9), (1.0, 1.1)):
            await service.record_forecaster_metrics(
                session,
                model="AutoETS",
                version=started,
                metrics={
                    "rmsse": rmsse,
                    "mase": mase,
                    "coverage_80": 0.8,
                    "note": "x",
                    "mae": float("nan"),
                },
            )
        await service.record_forecaster_metrics(
            session,
            model="forecast.autoets",
            version=OTHER,
            metrics={"rmsse": 0.7},
            chosen_by_backtest=False,
        )
        await session.commit()
        auto = await session.scalar(select(AIModel).where(AIModel.name == "forecast.auto"))
    assert auto is not None and auto.metrics["backtest"]["forecasts"] == 2

    detail = (await client.get("/api/v1/models/forecast.autoets", headers=viewer_headers)).json()
    versions = {v["version"]: v for v in detail["versions"]}
    assert detail["active_version"] == started and versions[OTHER]["status"] == "registered"
    backtest = versions[started]["metrics"]["backtest"]
    assert backtest["forecasts"] == 2 and abs(backtest["rmsse"] - 0.9) < 1e-12
    assert abs(backtest["mase"] - 1.0) < 1e-12 and "mae" not in backtest and "note" not in backtest
    assert versions[started]["runnable"] is False

    cmp = (
        await client.get(
            "/api/v1/models/forecast.autoets/compare",
            params={"versions": f"{started},{OTHER}"},
            headers=viewer_headers,
        )
    ).json()
    assert cmp["metrics"]["backtest_rmsse"]["better"] == "b"
