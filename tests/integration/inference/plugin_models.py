"""A plant's own models, as its package would ship them (entry points in plugin_site/).

Worker processes import this module by name, so it must stay importable from the repo root.
"""

from __future__ import annotations

import time
from typing import Any

from opscopilot.inference.protocol import ExecutionHints, ModelKind

_ROWS: dict[str, Any] = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "properties": {"temperature": {"type": "number"}, "speed": {"type": "number"}},
        "required": ["temperature", "speed"],
        "additionalProperties": False,
    },
}


class ScrapRate:
    """Expected scrap (%) from oven temperature and line speed: a fitted linear model."""

    name = "scrap-rate"
    version = "1.0.0"
    kind: ModelKind = "regressor"
    input_schema: dict[str, Any] = {
        "type": "object",
        "properties": {"rows": _ROWS},
        "required": ["rows"],
        "additionalProperties": False,
    }
    output_schema: dict[str, Any] = {
        "type": "object",
        "properties": {"predictions": {"type": "array", "items": {"type": "number"}}},
        "required": ["predictions"],
    }
    hints = ExecutionHints(batch_field="rows", max_inline_items=50, timeout_s=20.0)
    coefficients = (0.02, 0.001, -2.0)

    def predict(self, input: dict[str, Any]) -> dict[str, Any]:
        a, b, c = self.coefficients
        return {"predictions": [a * r["temperature"] + b * r["speed"] + c for r in input["rows"]]}


class ScrapRateV2(ScrapRate):
    """Refitted on a newer quarter: the candidate that runs in shadow."""

    version = "1.1.0"
    coefficients = (0.021, 0.0008, -2.1)


class ScrapRateV3(ScrapRate):
    """Shipped by a package installed after the API started (plugin_site_late/)."""

    version = "2.0.0"
    coefficients = (0.019, 0.001, -1.8)


def scrap_rate_models() -> list[ScrapRate]:
    return [ScrapRate(), ScrapRateV2()]


class Hanging:
    name = "hanging-model"
    version = "1.0.0"
    kind: ModelKind = "classifier"
    input_schema: dict[str, Any] = {"type": "object"}
    output_schema: dict[str, Any] = {"type": "object"}
    hints = ExecutionHints(timeout_s=1.0)

    def predict(self, input: dict[str, Any]) -> dict[str, Any]:
        while True:
            time.sleep(0.05)


class Raising:
    name = "raising-model"
    version = "1.0.0"
    kind: ModelKind = "classifier"
    input_schema: dict[str, Any] = {"type": "object"}
    output_schema: dict[str, Any] = {"type": "object"}

    def predict(self, input: dict[str, Any]) -> dict[str, Any]:
        raise ConnectionError(
            "could not connect to postgresql://mes:hunter2@mes-db.plant.internal:5432/mes "
            "reading /srv/acme/models/weights.bin"
        )
