"""Reorder recommender: safety stock, reorder point and order quantity.

Continuous review with a normal demand and lead-time model:

    z   = Phi^-1(service level)
    SS  = z * sqrt(LT * sigma_d^2 + d^2 * sigma_LT^2)     (demand and lead time vary)
    ROP = d * LT + SS
    Q   = sqrt(2 * d * S / H)  with ordering cost S and holding cost H, else d * N periods

d and sigma_d come from the demand forecast: its mean and standard deviation, or its
interval bounds (sigma = width / (2 * Phi^-1((1 + level) / 2))), or a forecast path, of
which the lead-time window is averaged (d = mean of the means, sigma_d = root mean square
of the sigmas, so LT * sigma_d^2 is the variance of lead-time demand). Every input and
every substituted formula is returned, so a planner can check the arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from opscopilot.inference.builtin.reorder_schemas import INPUT_SCHEMA, OUTPUT_SCHEMA
from opscopilot.inference.protocol import ModelKind

NAME = "reorder-recommender"
VERSION = "1.0.0"
DEFAULT_INTERVAL_LEVEL = 0.8
DEFAULT_COVER_PERIODS = 4.0
_NORMAL = NormalDist()

FORMULAS = {
    "z": "z = Phi^-1(service_level)",
    "safety_stock": "SS = z * sqrt(LT * sigma_d^2 + d^2 * sigma_LT^2)",
    "reorder_point": "ROP = d * LT + SS",
    "eoq": "Q = sqrt(2 * d * S / H)",
    "cover_periods": "Q = d * N",
    "sigma_from_interval": "sigma_d = (upper - lower) / (2 * Phi^-1((1 + level) / 2))",
}


def _num(x: float) -> str:
    return f"{x:.1f}" if abs(x) >= 1000 else f"{x:.4f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class DemandEstimate:
    d: float
    sigma_d: float
    source: str
    calculation: str | None
    notes: tuple[str, ...] = ()


def _interval_sigma(lower: float, upper: float, level: float) -> tuple[float, str]:
    z = _NORMAL.inv_cdf((1 + level) / 2)
    sigma = abs(upper - lower) / (2 * z)
    calc = f"sigma_d = ({_num(upper)} - {_num(lower)}) / (2 * {z:.4f}) = {_num(sigma)}"
    return sigma, calc


def estimate_demand(input: dict[str, Any]) -> DemandEstimate:
    """d and sigma_d per period from whichever demand description the input holds."""
    level = float(input.get("interval_level", DEFAULT_INTERVAL_LEVEL))
    if "forecast" in input:
        forecast = input["forecast"]
        window = max(1, math.ceil(float(input["lead_time"])))
        used = forecast[:window]
        notes: list[str] = []
        if len(used) < window:
            notes.append(
                f"forecast covers {len(used)} of the {window} lead-time periods; "
                "the covered periods stand for the rest"
            )
        sigmas = [
            float(p["std"]) if "std" in p else _interval_sigma(p["lower"], p["upper"], level)[0]
            for p in used
        ]
        d = sum(float(p["mean"]) for p in used) / len(used)
        sigma_d = math.sqrt(sum(s * s for s in sigmas) / len(sigmas))
        calc = (
            f"d = mean of {len(used)} forecast means = {_num(d)}; "
            f"sigma_d = sqrt(mean of their variances) = {_num(sigma_d)}"
        )
        return DemandEstimate(d, sigma_d, "forecast", calc, tuple(notes))
    d = float(input["demand_mean"])
    if "demand_std" in input:
        return DemandEstimate(d, float(input["demand_std"]), "std", None)
    lower, upper = float(input["demand_lower"]), float(input["demand_upper"])
    sigma, calc = _interval_sigma(lower, upper, level)
    reversed_note = "interval bounds were given upper < lower; their width was used"
    flipped = (reversed_note,) if upper < lower else ()
    return DemandEstimate(d, sigma, f"interval_{level:g}", calc, flipped)


def _round_up(x: float, integer: bool) -> float:
    return float(math.ceil(x - 1e-9)) if integer else round(x, 4)


def recommend(input: dict[str, Any]) -> dict[str, Any]:
    demand = estimate_demand(input)
    d, sigma_d = demand.d, demand.sigma_d
    lt = float(input["lead_time"])
    sigma_lt = float(input.get("lead_time_std", 0.0))
    service = float(input["service_level"])
    integer = bool(input.get("integer_units", True))
    unit = input.get("period_unit", "period")
    notes = list(demand.notes)

    z = _NORMAL.inv_cdf(service)
    ss = z * math.sqrt(lt * sigma_d**2 + d**2 * sigma_lt**2)
    rop = d * lt + ss
    inputs: dict[str, Any] = {
        "d": d,
        "sigma_d": sigma_d,
        "sigma_d_source": demand.source,
        "LT": lt,
        "sigma_LT": sigma_lt,
        "service_level": service,
        "z": round(z, 6),
    }
    formulas = {k: FORMULAS[k] for k in ("z", "safety_stock", "reorder_point")}
    calculation = {
        "z": f"z = Phi^-1({service:g}) = {z:.4f}",
        "safety_stock": (
            f"SS = {z:.4f} * sqrt({_num(lt)} * {_num(sigma_d)}^2 + {_num(d)}^2 * "
            f"{_num(sigma_lt)}^2) = {_num(ss)}"
        ),
        "reorder_point": f"ROP = {_num(d)} * {_num(lt)} + {_num(ss)} = {_num(rop)}",
    }
    if demand.calculation:
        formulas["sigma_d"] = (
            FORMULAS["sigma_from_interval"]
            if demand.source.startswith("interval")
            else "d = mean(forecast means), sigma_d = sqrt(mean(forecast variances))"
        )
        calculation["sigma_d"] = demand.calculation

    if "ordering_cost" in input:
        s_cost, h_cost = float(input["ordering_cost"]), float(input["holding_cost"])
        q = math.sqrt(2 * d * s_cost / h_cost)
        method = "eoq"
        inputs.update(S=s_cost, H=h_cost)
        calculation["order_quantity"] = (
            f"Q = sqrt(2 * {_num(d)} * {_num(s_cost)} / {_num(h_cost)}) = {_num(q)}"
        )
    else:
        cover = float(input.get("cover_periods", DEFAULT_COVER_PERIODS))
        q = d * cover
        method = "cover_periods"
        inputs["N"] = cover
        calculation["order_quantity"] = f"Q = {_num(d)} * {_num(cover)} = {_num(q)}"
    formulas["order_quantity"] = FORMULAS[method]
    q = _round_up(q, integer)
    if (moq := float(input.get("min_order_qty", 0))) > q:
        notes.append(f"raised to the minimum order quantity {_num(moq)}")
        q = moq
    if multiple := input.get("order_multiple"):
        q = math.ceil(q / float(multiple) - 1e-9) * float(multiple)
        inputs["order_multiple"] = float(multiple)
    if d == 0:
        notes.append("no forecast demand: nothing to reorder beyond safety stock")

    safety_stock, reorder_point = _round_up(ss, integer), _round_up(rop, integer)
    position = reorder_now = suggested = None
    if "on_hand" in input:
        position = (
            float(input["on_hand"])
            + float(input.get("on_order", 0))
            - float(input.get("backorders", 0))
        )
        reorder_now = position <= reorder_point
        if reorder_now and q > 0:
            # Whole batches of Q until the position is back above the reorder point.
            suggested = (math.floor((reorder_point - position) / q) + 1) * q
        elif reorder_now:
            suggested = _round_up(reorder_point - position, integer)
    explanation = (
        f"Keep {_num(safety_stock)} units of safety stock for a {service:.1%} cycle service "
        f"level (z = {z:.2f}) over a {_num(lt)} {unit} lead time; reorder when the inventory "
        f"position falls to {_num(reorder_point)} (lead-time demand {_num(d * lt)} plus safety "
        f"stock) and order {_num(q)} at a time ({'EOQ' if method == 'eoq' else 'cover'})."
    )
    if reorder_now is not None and position is not None:
        explanation += (
            f" Position {_num(position)} is at or below the reorder point: "
            f"order {_num(suggested or 0)} now."
            if reorder_now
            else f" Position {_num(position)} is above the reorder point: no order yet."
        )
    return {
        "item": input.get("item"),
        "safety_stock": safety_stock,
        "reorder_point": reorder_point,
        "order_quantity": q,
        "order_quantity_method": method,
        "inventory_position": position,
        "reorder_now": reorder_now,
        "suggested_order": suggested,
        "inputs": inputs,
        "formulas": formulas,
        "calculation": calculation,
        "explanation": explanation,
        "notes": notes,
    }


class ReorderRecommender:
    """Built-in reorder recommender; see the module docstring for the method."""

    name = NAME
    version = VERSION
    kind: ModelKind = "recommender"
    input_schema = INPUT_SCHEMA
    output_schema = OUTPUT_SCHEMA
    description = (
        "Safety stock, reorder point and order quantity (EOQ or periods of cover) from the "
        "demand forecast and its uncertainty, lead time and its variability, and a target "
        "service level; returns every formula input and the substituted formulas."
    )
    params = {
        "default_interval_level": DEFAULT_INTERVAL_LEVEL,
        "default_cover_periods": DEFAULT_COVER_PERIODS,
        "formulas": FORMULAS,
    }

    def predict(self, input: dict[str, Any]) -> dict[str, Any]:
        return recommend(input)
