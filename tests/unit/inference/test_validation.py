"""Schema validation errors that name the field, and model specs that refuse bad schemas."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from opscopilot.inference.builtin import builtin_models, builtin_specs
from opscopilot.inference.errors import InvalidModelInput
from opscopilot.inference.protocol import (
    DEFAULT_HINTS,
    ExecutionHints,
    Model,
    ModelKind,
    ModelSpec,
    hints_of,
    spec_of,
)
from opscopilot.inference.validation import format_path, schema_errors, validate_input

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "rows": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"sku": {"type": "string"}, "qty": {"type": "number"}},
                "required": ["sku", "qty"],
                "additionalProperties": False,
            },
        },
        "day": {"type": "string", "format": "date"},
    },
    "required": ["rows"],
    "additionalProperties": False,
}


def test_format_path() -> None:
    assert format_path([]) == "(input)"
    assert format_path(["rows", 3, "qty"]) == "rows[3].qty"
    assert format_path([0, "a"]) == "[0].a"


def test_valid_input_passes() -> None:
    validate_input(SCHEMA, {"rows": [{"sku": "A", "qty": 1.5}], "day": "2024-05-01"})


def test_every_bad_field_is_named_with_its_reason() -> None:
    bad = {"rows": [{"sku": "A", "qty": "x"}, {"qty": 2, "colour": "red"}], "day": "2024-13-45"}
    with pytest.raises(InvalidModelInput) as caught:
        validate_input(SCHEMA, bad)
    errors = caught.value.errors
    assert {"field": "rows[0].qty", "reason": "'x' is not of type 'number'"} in errors
    assert {"field": "rows[1].sku", "reason": "is required"} in errors
    assert {"field": "rows[1].colour", "reason": "is not an allowed field"} in errors
    assert {"field": "day", "reason": "'2024-13-45' is not a 'date'"} in errors
    assert caught.value.status_code == 422
    assert caught.value.field == errors[0]["field"]
    assert caught.value.message.endswith(f"(and {len(errors) - 1} more)")


def test_missing_required_field_at_the_root() -> None:
    assert schema_errors(SCHEMA, {}) == [{"field": "rows", "reason": "is required"}]


def test_long_values_are_not_echoed_back() -> None:
    errors = schema_errors(SCHEMA, {"rows": "x" * 10_000})
    assert len(errors[0]["reason"]) <= 200


def test_remote_refs_are_refused_not_fetched() -> None:
    schema = {"type": "object", "properties": {"a": {"$ref": "https://example.com/s.json"}}}
    with pytest.raises(ValidationError, match="cannot be compiled offline"):
        ModelSpec(
            name="x", version="1.0.0", kind="regressor", input_schema=schema, output_schema=SCHEMA
        )


SPEC: dict[str, Any] = {
    "name": "scrap-rate",
    "version": "1.2.0",
    "kind": "regressor",
    "input_schema": SCHEMA,
    "output_schema": {"type": "object"},
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "Bad Name"}, "String should match pattern"),
        ({"version": "v1"}, "String should match pattern"),
        ({"kind": "oracle"}, "Input should be"),
        ({"input_schema": {"type": "array"}}, "must describe a JSON object"),
        ({"input_schema": {"type": "object", "minProperties": -1}}, "not a valid JSON Schema"),
        ({"format": "entrypoint"}, "needs entrypoint"),
        ({"entrypoint": "pkg.mod:Model"}, "only for format 'entrypoint'"),
        ({"format": "pickle"}, "Input should be"),
    ],
)
def test_model_spec_refuses(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ModelSpec(**{**SPEC, **change})


def test_model_spec_accepts_semver_and_training_metadata() -> None:
    spec = ModelSpec(
        **{
            **SPEC,
            "version": "2.0.0-rc.1+build.5",
            "training_meta": {"trained_at": "2024-05-01T10:00:00Z", "n_samples": 900, "line": "L2"},
            "metrics": {"mae": 0.4},
        }
    )
    assert spec.training_meta.n_samples == 900
    assert spec.training_meta.model_extra == {"line": "L2"}
    assert spec.hints == DEFAULT_HINTS


def test_builtin_models_meet_the_protocol_and_register() -> None:
    models = builtin_models()
    assert all(isinstance(m, Model) for m in models)
    specs = {s.name: s for s in builtin_specs()}
    assert set(specs) == {"anomaly-detector", "reorder-recommender"}
    assert specs["anomaly-detector"].kind == "anomaly_detector"
    assert specs["reorder-recommender"].kind == "recommender"
    assert all(s.version == "1.0.0" and s.format == "builtin" for s in specs.values())
    assert specs["anomaly-detector"].hints.batch_field == "items"
    assert specs["anomaly-detector"].params["threshold"] == 3.5
    assert not any(s.hints.isolate for s in specs.values())


def test_hints_default_when_a_model_has_none() -> None:
    class Plain:
        name = "plain"
        version = "0.1.0"
        kind: ModelKind = "classifier"
        input_schema = {"type": "object"}
        output_schema = {"type": "object"}

        def predict(self, input: dict[str, Any]) -> dict[str, Any]:
            return {}

    assert hints_of(Plain()) is DEFAULT_HINTS
    spec = spec_of(Plain(), description="d", metrics={"accuracy": 0.9})
    assert spec.description == "d" and spec.metrics == {"accuracy": 0.9}
    assert ExecutionHints(is_slow=True).is_slow
