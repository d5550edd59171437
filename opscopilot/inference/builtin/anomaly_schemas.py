"""JSON Schemas (Draft 2020-12) of the built-in anomaly detector's input and output."""

from __future__ import annotations

from typing import Any

_POINT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "period": {"type": ["string", "integer"], "description": "e.g. 2024-W18 or 2024-05"},
        "date": {"type": "string", "format": "date"},
        "value": {"type": ["number", "null"], "description": "null = not observed"},
    },
    "required": ["value"],
    "additionalProperties": False,
}
_SERIES: dict[str, Any] = {
    "type": "array",
    "items": _POINT,
    "maxItems": 5000,
    "description": "Observations in time order.",
}
_SEASON: dict[str, Any] = {
    "type": "integer",
    "minimum": 1,
    "maximum": 366,
    "description": "Periods per seasonal cycle (12 monthly, 52 weekly); 1 or absent = none.",
}
_METRIC: dict[str, Any] = {
    "type": "string",
    "maxLength": 60,
    "description": "What the values measure, used in the reasons (default demand).",
}

INPUT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "item": {"type": "string", "maxLength": 200},
        "series": _SERIES,
        "items": {
            "type": "array",
            "minItems": 1,
            "maxItems": 20000,
            "items": {
                "type": "object",
                "properties": {
                    "item": {"type": "string", "maxLength": 200},
                    "series": _SERIES,
                    "season_length": _SEASON,
                    "metric": _METRIC,
                },
                "required": ["series"],
                "additionalProperties": False,
            },
        },
        "season_length": _SEASON,
        "metric": _METRIC,
        "threshold": {
            "type": "number",
            "minimum": 2,
            "maximum": 20,
            "description": "Robust deviations that make an anomaly on their own (default 3.5).",
        },
    },
    "oneOf": [{"required": ["series"]}, {"required": ["items"]}],
    "additionalProperties": False,
}

_ANOMALY: dict[str, Any] = {
    "type": "object",
    "properties": {
        "index": {"type": "integer", "minimum": 0},
        "period": {"type": ["string", "integer"]},
        "value": {"type": "number"},
        "expected": {"type": "number"},
        "deviation_pct": {"type": ["number", "null"]},
        "robust_z": {"type": "number"},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "direction": {"enum": ["high", "low"]},
        "reason": {"type": "string"},
    },
    "required": [
        "index",
        "period",
        "value",
        "expected",
        "deviation_pct",
        "robust_z",
        "score",
        "direction",
        "reason",
    ],
    "additionalProperties": False,
}
_RESULT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "item": {"type": ["string", "null"]},
        "status": {"enum": ["ok", "insufficient_data"]},
        "n_points": {"type": "integer", "minimum": 0},
        "season_length_used": {"type": ["integer", "null"]},
        "threshold": {"type": "number"},
        "anomalies": {"type": "array", "items": _ANOMALY},
        "note": {"type": ["string", "null"]},
    },
    "required": ["item", "status", "n_points", "season_length_used", "anomalies"],
    "additionalProperties": False,
}

OUTPUT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "oneOf": [
        {
            "properties": {"items": {"type": "array", "items": _RESULT}},
            "required": ["items"],
            "additionalProperties": False,
        },
        _RESULT,
    ],
}
