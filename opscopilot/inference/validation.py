"""Validate model inputs and outputs against their JSON Schema (Draft 2020-12).

Errors name the field as a dotted path (`series[3].value`) and a reason, ready for a 422.
Two validators per schema: jsonschema-rs decides valid/invalid (about 100x faster than the
pure-Python `jsonschema` on a 1,000-item batch, which would otherwise cost more than the
model itself) and only a rejected input is walked again by `jsonschema`, whose error tree
names fields best. Both run offline: a remote `$ref` is refused, never fetched. Compiled
validators are cached by the schema's canonical JSON.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from opscopilot.inference.errors import InvalidModelInput

MAX_REPORTED_ERRORS = 20
_FORMAT_CHECKER = Draft202012Validator.FORMAT_CHECKER


def format_path(path: Sequence[str | int]) -> str:
    """`["series", 3, "value"]` -> `series[3].value`; the root is `(input)`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(input)"


@dataclass(frozen=True)
class CompiledSchema:
    fast: jsonschema_rs.Draft202012Validator
    detailed: Draft202012Validator


@functools.lru_cache(maxsize=256)
def _compiled(canonical: str) -> CompiledSchema:
    schema = json.loads(canonical)
    try:
        fast = jsonschema_rs.Draft202012Validator(schema, validate_formats=True, offline=True)
    except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError) as exc:
        raise ValueError(f"schema cannot be compiled offline: {str(exc)[:200]}") from None
    return CompiledSchema(fast, Draft202012Validator(schema, format_checker=_FORMAT_CHECKER))


def compile_schema(schema: dict[str, Any]) -> CompiledSchema:
    """Compile (or fetch from cache); ValueError if the schema needs the network."""
    return _compiled(json.dumps(schema, sort_keys=True, separators=(",", ":")))


def _short(message: str, limit: int = 200) -> str:
    # jsonschema quotes the offending value; a 10,000-point series must not echo back.
    return message if len(message) <= limit else message[: limit - 3] + "..."


def _leaf(error: ValidationError) -> ValidationError:
    # oneOf / anyOf report "not valid under any of the given schemas" at the parent; the
    # most relevant sub-error names the real field.
    while error.context:
        deeper = best_match(error.context)
        if deeper is None:
            break
        error = deeper
    return error


def _alternatives(error: ValidationError) -> list[str] | None:
    """For oneOf/anyOf over `{"required": [...]}` branches: each branch's field names."""
    if error.validator not in ("oneOf", "anyOf"):
        return None
    branches = error.validator_value
    if not all(isinstance(b, dict) and set(b) == {"required"} for b in branches):
        return None
    return [" and ".join(b["required"]) for b in branches]


def _field_errors(error: ValidationError) -> Iterable[dict[str, Any]]:
    alternatives = _alternatives(error)
    if alternatives is not None:
        # "Give demand_mean or forecast" says more than the first branch's missing field.
        exactly = "exactly one of" if error.validator == "oneOf" else "one of"
        reason = f"give {exactly}: " + " / ".join(alternatives)
        yield {"field": format_path(list(error.absolute_path)), "reason": reason}
        return
    error = _leaf(error)
    path = list(error.absolute_path)
    instance = error.instance
    if error.validator == "dependentRequired" and isinstance(instance, dict):
        for key, needed in error.validator_value.items():
            for missing in (n for n in needed if key in instance and n not in instance):
                yield {"field": format_path([*path, missing]), "reason": f"is required with {key}"}
        return
    # "required" and "additionalProperties" fire on the parent object; point at the key.
    if error.validator == "required" and isinstance(instance, dict):
        for key in error.validator_value:
            if key not in instance:
                yield {"field": format_path([*path, key]), "reason": "is required"}
        return
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        allowed = set(error.schema.get("properties", {}))
        for key in instance:
            if key not in allowed:
                yield {"field": format_path([*path, key]), "reason": "is not an allowed field"}
        return
    yield {"field": format_path(path), "reason": _short(error.message)}


Schema = dict[str, Any] | CompiledSchema


def schema_errors(schema: Schema, instance: Any) -> list[dict[str, Any]]:
    """Every violation as `{"field", "reason"}`, in field order, at most 20. A hot path
    passes the schema compiled once (`compile_schema`), not looked up per call."""
    compiled = schema if isinstance(schema, CompiledSchema) else compile_schema(schema)
    if compiled.fast.is_valid(instance):
        return []
    errors: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    detailed = compiled.detailed.iter_errors(instance)
    for error in sorted(detailed, key=lambda e: list(map(str, e.path))):
        for item in _field_errors(error):
            key = (item["field"], item["reason"])
            if key not in seen:
                seen.add(key)
                errors.append(item)
        if len(errors) >= MAX_REPORTED_ERRORS:
            break
    if not errors:
        # The two validators disagree (a format corner case): trust the stricter one.
        for fast_error in compiled.fast.iter_errors(instance):
            path = format_path(list(fast_error.instance_path))
            errors.append({"field": path, "reason": _short(fast_error.message)})
    return errors[:MAX_REPORTED_ERRORS]


def validate_input(schema: Schema, instance: Any) -> None:
    """Raise InvalidModelInput (422) naming each bad field."""
    errors = schema_errors(schema, instance)
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise InvalidModelInput(f"{first['field']}: {first['reason']}{more}", errors=errors)


def output_errors(schema: Schema, output: Any) -> list[dict[str, Any]]:
    """Violations of the output schema: a model bug, so the caller fails the job."""
    return schema_errors(schema, output)
