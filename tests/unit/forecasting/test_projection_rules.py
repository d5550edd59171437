"""Inventory projection, what-if levers and the alert rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from opscopilot.forecasting.errors import ForecastInputError
from opscopilot.forecasting.projection import Band, Receipt, WhatIf, project_inventory
from opscopilot.forecasting.rules import (
    demand_anomaly,
    excess_stock,
    quality_drift,
    severity,
    stockout_risk,
    supply_shortfall,
)

STARTS = pd.date_range("2025-01-06", periods=8, freq="W-MON")


def band(mean: float, spread: float = 0.0, n: int = 8) -> Band:
    values = np.full(n, mean)
    return Band(values, np.maximum(values - spread, 0), values + spread)


def receipts() -> list[Receipt]:
    return [
        Receipt(pd.Timestamp("2025-01-22"), 100, "Supplier X"),  # week 3
        Receipt(pd.Timestamp("2025-02-05"), 50, "Supplier Y"),  # week 5
    ]


def test_projection_adds_supply_and_receipts_and_takes_demand() -> None:
    projection = project_inventory(
        on_hand=120,
        starts=STARTS,
        period="weekly",
        demand=band(30, spread=10),
        supply=band(5, spread=5),
        receipts=receipts(),
    )
    expected = 120 + np.cumsum(5 + np.array([0, 0, 100, 0, 50, 0, 0, 0]) - 30)
    assert projection.on_hand == pytest.approx(expected)
    pessimistic = 120 + np.cumsum(0 + np.array([0, 0, 100, 0, 50, 0, 0, 0]) - 40)
    assert projection.on_hand_low == pytest.approx(pessimistic)


def test_what_if_supplier_late_shifts_its_receipts_only() -> None:
    late = project_inventory(
        on_hand=120,
        starts=STARTS,
        period="weekly",
        demand=band(30),
        receipts=receipts(),
        what_if=WhatIf(supplier_delay_days={"Supplier X": 14}),
    )
    assert list(late.receipts) == [0, 0, 0, 0, 150, 0, 0, 0]
    assert "Supplier X 14 days late" in late.what_if.describe()  # type: ignore[union-attr]


def test_what_if_demand_factor_scales_the_demand_band() -> None:
    plus = project_inventory(
        on_hand=100,
        starts=STARTS,
        period="weekly",
        demand=band(10, spread=2),
        what_if=WhatIf(demand_factor=1.2),
    )
    assert plus.demand.mean == pytest.approx([12.0] * 8)
    assert plus.on_hand[-1] == pytest.approx(100 - 8 * 12)
    with pytest.raises(ForecastInputError):
        project_inventory(
            on_hand=1,
            starts=STARTS,
            period="weekly",
            demand=band(1),
            what_if=WhatIf(demand_factor=-1),
        )


def test_overdue_and_late_receipts_are_placed_and_noted() -> None:
    projection = project_inventory(
        on_hand=0,
        starts=STARTS,
        period="weekly",
        demand=band(0),
        receipts=[Receipt(pd.Timestamp("2024-12-20"), 7), Receipt(pd.Timestamp("2025-06-01"), 9)],
    )
    assert projection.receipts[0] == 7
    assert any("overdue" in n for n in projection.notes)
    assert any("after the horizon" in n for n in projection.notes)


def test_severity_grows_with_urgency_and_size() -> None:
    assert severity(soon=0.0, much=1.0) == "critical"
    assert severity(soon=0.5, much=0.5) == "high"
    assert severity(soon=1.0, much=0.5) == "medium"
    assert severity(soon=1.0, much=0.1) == "low"


def test_stockout_risk_gives_the_date_within_the_lead_time() -> None:
    projection = project_inventory(on_hand=100, starts=STARTS, period="weekly", demand=band(30))
    alert = stockout_risk(projection, entity="ITEM-001", safety_stock=20, lead_time_days=28)
    assert alert is not None and alert.alert_type == "stockout_risk"
    assert alert.details["date"] == "2025-01-20"  # 100 - 3 x 30 = 10 < 20 in week 3
    assert alert.details["lead_time_periods"] == 4
    assert alert.severity == "medium"
    assert "2025-01-20" in alert.message and "ITEM-001" in alert.message

    sooner = project_inventory(on_hand=10, starts=STARTS, period="weekly", demand=band(30))
    worse = stockout_risk(sooner, entity="ITEM-001", safety_stock=20, lead_time_days=28)
    assert worse is not None and worse.severity == "critical"
    assert "runs out" in worse.message

    assert stockout_risk(projection, entity="I", safety_stock=20, lead_time_days=7) is None


def test_a_merely_possible_stockout_is_capped_at_medium() -> None:
    projection = project_inventory(
        on_hand=60, starts=STARTS, period="weekly", demand=band(10, spread=50)
    )
    alert = stockout_risk(projection, entity="I", safety_stock=20, lead_time_days=14)
    assert alert is not None and not alert.details["expected"]
    assert alert.severity in ("low", "medium")


def test_a_late_supplier_turns_a_safe_plan_into_a_stockout() -> None:
    args = dict(on_hand=70, starts=STARTS, period="weekly", demand=band(30), receipts=receipts())
    base = project_inventory(**args)  # type: ignore[arg-type]
    assert stockout_risk(base, entity="I", safety_stock=0, lead_time_days=35) is None
    late = project_inventory(**args, what_if=WhatIf(supplier_delay_days={"*": 14}))  # type: ignore[arg-type]
    alert = stockout_risk(late, entity="I", safety_stock=0, lead_time_days=35)
    assert alert is not None and "what-if" in alert.message


def test_excess_stock() -> None:
    projection = project_inventory(on_hand=5000, starts=STARTS, period="weekly", demand=band(10))
    alert = excess_stock(projection, entity="I", cover_days=70)
    assert alert is not None and alert.details["limit"] == pytest.approx(100)
    assert excess_stock(projection, entity="I", max_stock=10_000) is None


def test_demand_spike_and_drop_outside_the_interval() -> None:
    forecast = band(20, spread=5, n=4)
    starts = STARTS[:4]
    spike = demand_anomaly(
        entity="I",
        starts=starts,
        actual=np.array([21, 19, 22, 60]),
        forecast=forecast,
        period="weekly",
    )
    assert spike is not None and spike.alert_type == "demand_spike"
    assert spike.details["actual"] == 60 and spike.severity == "critical"
    drop = demand_anomaly(
        entity="I",
        starts=starts,
        actual=np.array([21, 10, 22, 20]),
        forecast=forecast,
        period="weekly",
    )
    assert (
        drop is not None
        and drop.alert_type == "demand_drop"
        and drop.details["date"] == "2025-01-13"
    )
    calm = demand_anomaly(
        entity="I",
        starts=starts,
        actual=np.array([20, 21, 19, 25]),
        forecast=forecast,
        period="weekly",
    )
    assert calm is None


def test_supply_shortfall_when_inbound_cannot_cover_demand() -> None:
    short = project_inventory(
        on_hand=20, starts=STARTS, period="weekly", demand=band(30), supply=band(10)
    )
    alert = supply_shortfall(short, entity="I")
    assert alert is not None and alert.details["covered_share"] == pytest.approx(1 / 3)
    stocked = project_inventory(
        on_hand=1000, starts=STARTS, period="weekly", demand=band(30), supply=band(10)
    )
    assert supply_shortfall(stocked, entity="I") is None


def test_quality_drift_above_the_threshold() -> None:
    rising = Band(
        np.linspace(0.01, 0.04, 8), np.linspace(0.005, 0.035, 8), np.linspace(0.02, 0.05, 8)
    )
    alert = quality_drift(
        entity="I", starts=STARTS, forecast=rising, threshold=0.02, period="weekly"
    )
    assert alert is not None and alert.alert_type == "quality_drift"
    assert alert.details["date"] == str(STARTS[3].date())
    assert (
        quality_drift(entity="I", starts=STARTS, forecast=rising, threshold=0.05, period="weekly")
        is None
    )
