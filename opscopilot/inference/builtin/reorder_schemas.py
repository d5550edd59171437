"""JSON Schemas (Draft 2020-12) of the built-in reorder recommender's input and output."""

from __future__ import annotations

from typing import Any

_NON_NEGATIVE: dict[str, Any] = {"type": "number", "minimum": 0}
_POSITIVE: dict[str, Any] = {"type": "number", "exclusiveMinimum": 0}
_LEVEL: dict[str, Any] = {
    "type": "number",
    "exclusiveMinimum": 0,
    "exclusiveMaximum": 1,
    "description": "Coverage of the interval bounds, e.g. 0.8 or 0.95 (default 0.8).",
}
_FORECAST_POINT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "period": {"type": ["string", "integer"]},
        "mean": _NON_NEGATIVE,
        "std": _NON_NEGATIVE,
        "lower": {"type": "number"},
        "upper": {"type": "number"},
    },
    "required": ["mean"],
    "anyOf": [{"required": ["std"]}, {"required": ["lower", "upper"]}],
    "additionalProperties": False,
}

INPUT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "description": (
        "Demand and lead time in the same period unit (e.g. weeks). Give the demand either as "
        "demand_mean with demand_std or interval bounds, or as a forecast path."
    ),
    "properties": {
        "item": {"type": "string", "maxLength": 200},
        "demand_mean": {**_NON_NEGATIVE, "description": "Forecast demand per period."},
        "demand_std": {**_NON_NEGATIVE, "description": "Std deviation of demand per period."},
        "demand_lower": {"type": "number", "description": "Lower bound of the interval."},
        "demand_upper": {"type": "number", "description": "Upper bound of the interval."},
        "interval_level": _LEVEL,
        "forecast": {
            "type": "array",
            "minItems": 1,
            "maxItems": 1000,
            "items": _FORECAST_POINT,
            "description": "Forecast per future period; the lead-time window is used.",
        },
        "lead_time": {**_POSITIVE, "description": "Replenishment lead time in periods."},
        "lead_time_std": {**_NON_NEGATIVE, "description": "Std deviation of the lead time."},
        "service_level": {
            "type": "number",
            "minimum": 0.5,
            "maximum": 0.9999,
            "description": "Target cycle service level: P(no stock-out in a cycle).",
        },
        "ordering_cost": {**_POSITIVE, "description": "Fixed cost per order (EOQ)."},
        "holding_cost": {**_POSITIVE, "description": "Holding cost per unit per period (EOQ)."},
        "cover_periods": {
            **_POSITIVE,
            "description": "Without costs, order this many periods of demand (default 4).",
        },
        "min_order_qty": _NON_NEGATIVE,
        "order_multiple": _POSITIVE,
        "on_hand": {"type": "number"},
        "on_order": _NON_NEGATIVE,
        "backorders": _NON_NEGATIVE,
        "integer_units": {"type": "boolean", "description": "Round quantities up (default)."},
        "period_unit": {"type": "string", "maxLength": 20, "description": "e.g. week"},
    },
    "required": ["lead_time", "service_level"],
    "oneOf": [{"required": ["demand_mean"]}, {"required": ["forecast"]}],
    "if": {"required": ["demand_mean"]},
    "then": {
        "anyOf": [{"required": ["demand_std"]}, {"required": ["demand_lower", "demand_upper"]}]
    },
    "dependentRequired": {
        "demand_lower": ["demand_upper"],
        "demand_upper": ["demand_lower"],
        "ordering_cost": ["holding_cost"],
        "holding_cost": ["ordering_cost"],
        "on_order": ["on_hand"],
        "backorders": ["on_hand"],
    },
    "additionalProperties": False,
}

_NUMBER_OR_NULL: dict[str, Any] = {"type": ["number", "null"]}

OUTPUT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "item": {"type": ["string", "null"]},
        "safety_stock": {"type": "number"},
        "reorder_point": {"type": "number"},
        "order_quantity": {"type": "number"},
        "order_quantity_method": {"enum": ["eoq", "cover_periods"]},
        "inventory_position": _NUMBER_OR_NULL,
        "reorder_now": {"type": ["boolean", "null"]},
        "suggested_order": _NUMBER_OR_NULL,
        "inputs": {"type": "object"},
        "formulas": {"type": "object", "additionalProperties": {"type": "string"}},
        "calculation": {"type": "object", "additionalProperties": {"type": "string"}},
        "explanation": {"type": "string"},
        "notes": {"type": "array", "items": {"type": "string"}},
    },
    "required": [
        "safety_stock",
        "reorder_point",
        "order_quantity",
        "order_quantity_method",
        "inputs",
        "formulas",
        "calculation",
        "explanation",
        "notes",
    ],
    "additionalProperties": False,
}
