"""The reorder recommender against hand-worked figures."""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import pytest

from opscopilot.inference.builtin.reorder import ReorderRecommender
from opscopilot.inference.validation import schema_errors

MODEL = ReorderRecommender()
Z95 = NormalDist().inv_cdf(0.95)


def recommend(input: dict[str, Any]) -> dict[str, Any]:
    assert schema_errors(MODEL.input_schema, input) == []
    output = MODEL.predict(input)
    assert schema_errors(MODEL.output_schema, output) == []
    return output


BASE = {"demand_mean": 100, "demand_std": 20, "lead_time": 2, "service_level": 0.95}


def test_safety_stock_reorder_point_and_eoq_by_hand() -> None:
    out = recommend(
        {**BASE, "lead_time_std": 0.5, "ordering_cost": 50, "holding_cost": 0.2, "item": "P-7"}
    )
    ss = Z95 * math.sqrt(2 * 20**2 + 100**2 * 0.5**2)  # 94.49
    assert out["item"] == "P-7"
    assert out["safety_stock"] == math.ceil(ss) == 95
    assert out["reorder_point"] == math.ceil(200 + ss) == 295
    assert out["order_quantity"] == math.ceil(math.sqrt(2 * 100 * 50 / 0.2)) == 224
    assert out["order_quantity_method"] == "eoq"
    assert out["inputs"] == {
        "d": 100.0,
        "sigma_d": 20.0,
        "sigma_d_source": "std",
        "LT": 2.0,
        "sigma_LT": 0.5,
        "service_level": 0.95,
        "z": round(Z95, 6),
        "S": 50.0,
        "H": 0.2,
    }
    assert out["formulas"]["safety_stock"] == "SS = z * sqrt(LT * sigma_d^2 + d^2 * sigma_LT^2)"
    assert out["formulas"]["order_quantity"] == "Q = sqrt(2 * d * S / H)"
    assert out["calculation"]["safety_stock"] == (
        "SS = 1.6449 * sqrt(2 * 20^2 + 100^2 * 0.5^2) = 94.4896"
    )
    assert out["calculation"]["reorder_point"] == "ROP = 100 * 2 + 94.4896 = 294.4896"
    assert out["reorder_now"] is None and out["suggested_order"] is None


def test_sigma_from_interval_bounds() -> None:
    out = recommend(
        {
            "demand_mean": 100,
            "demand_lower": 80,
            "demand_upper": 130,
            "interval_level": 0.8,
            "lead_time": 3,
            "service_level": 0.9,
        }
    )
    sigma = 50 / (2 * NormalDist().inv_cdf(0.9))
    assert out["inputs"]["sigma_d"] == pytest.approx(sigma)
    assert out["inputs"]["sigma_d_source"] == "interval_0.8"
    z = NormalDist().inv_cdf(0.9)
    assert out["safety_stock"] == math.ceil(z * math.sqrt(3) * sigma)
    assert out["formulas"]["sigma_d"].startswith("sigma_d = (upper - lower)")


def test_forecast_path_uses_the_lead_time_window() -> None:
    forecast = [
        {"period": "W1", "mean": 100, "std": 10},
        {"period": "W2", "mean": 120, "lower": 100, "upper": 140},
        {"period": "W3", "mean": 140, "std": 30},
        {"period": "W4", "mean": 900, "std": 500},  # beyond the lead time: ignored
    ]
    out = recommend(
        {"forecast": forecast, "lead_time": 3, "service_level": 0.95, "integer_units": False}
    )
    s2 = 40 / (2 * NormalDist().inv_cdf(0.9))  # default interval level 0.8
    sigma = math.sqrt((10**2 + s2**2 + 30**2) / 3)
    assert out["inputs"]["d"] == pytest.approx(120)
    assert out["inputs"]["sigma_d"] == pytest.approx(sigma)
    assert out["safety_stock"] == pytest.approx(Z95 * math.sqrt(3) * sigma, abs=1e-4)
    assert out["reorder_point"] == pytest.approx(360 + Z95 * math.sqrt(3) * sigma, abs=1e-4)
    assert out["notes"] == []


def test_short_forecast_is_noted() -> None:
    out = recommend({"forecast": [{"mean": 10, "std": 2}], "lead_time": 4, "service_level": 0.9})
    assert out["notes"] == [
        "forecast covers 1 of the 4 lead-time periods; the covered periods stand for the rest"
    ]


def test_cover_periods_minimum_and_multiple() -> None:
    out = recommend({**BASE, "cover_periods": 3, "min_order_qty": 500, "order_multiple": 48})
    assert out["order_quantity_method"] == "cover_periods"
    assert out["calculation"]["order_quantity"] == "Q = 100 * 3 = 300"
    assert out["order_quantity"] == 528  # raised to 500, then up to a multiple of 48
    assert out["notes"] == ["raised to the minimum order quantity 500"]


def test_default_cover_is_four_periods() -> None:
    assert recommend(BASE)["order_quantity"] == 400


def test_inventory_position_decides_and_sizes_the_order() -> None:
    out = recommend({**BASE, "on_hand": 40, "on_order": 50, "backorders": 10})
    assert out["inventory_position"] == 80
    assert out["reorder_point"] == 247
    assert out["reorder_now"] is True
    assert out["suggested_order"] == 400  # one batch of Q lifts 80 above 247
    assert out["explanation"].endswith("is at or below the reorder point: order 400 now.")
    deep = recommend({**BASE, "cover_periods": 1, "on_hand": -300})
    assert deep["suggested_order"] == 600  # 6 batches of 100 to get above 247 from -300
    calm = recommend({**BASE, "on_hand": 1000})
    assert calm["reorder_now"] is False and calm["suggested_order"] is None


def test_median_service_level_needs_no_safety_stock() -> None:
    out = recommend({**BASE, "service_level": 0.5})
    assert out["safety_stock"] == 0
    assert out["reorder_point"] == 200


def test_zero_demand_is_explained() -> None:
    out = recommend({**BASE, "demand_mean": 0, "on_hand": 0})
    assert out["order_quantity"] == 0
    assert out["safety_stock"] == math.ceil(Z95 * math.sqrt(2) * 20)
    assert out["suggested_order"] == out["safety_stock"]
    assert "no forecast demand: nothing to reorder beyond safety stock" in out["notes"]


@pytest.mark.parametrize(
    ("input", "field", "reason"),
    [
        (
            {"demand_mean": 1, "lead_time": 2, "service_level": 0.9},
            "(input)",
            "give one of: demand_std / demand_lower and demand_upper",
        ),
        ({"lead_time": 2, "service_level": 0.9}, "(input)", "give exactly one of"),
        ({**BASE, "service_level": 1.2}, "service_level", "greater than the maximum"),
        ({**BASE, "lead_time": 0}, "lead_time", "less than or equal to the minimum"),
        ({**BASE, "ordering_cost": 10}, "holding_cost", "is required with ordering_cost"),
        ({**BASE, "on_order": 10}, "on_hand", "is required with on_order"),
        ({**BASE, "unknown": 1}, "unknown", "is not an allowed field"),
    ],
)
def test_bad_input_names_the_field(input: dict[str, Any], field: str, reason: str) -> None:
    errors = schema_errors(MODEL.input_schema, input)
    assert any(e["field"] == field and reason in e["reason"] for e in errors), errors
