"""Models built from uploaded artifacts: an ONNX graph or a skops scikit-learn estimator.

Both meet the Model protocol. Their JSON Schemas are derived from the artifact itself (ONNX
input names, element types and ranks; the estimator's feature count), so a malformed
request is a 422 naming the field rather than a runtime error deep in onnxruntime.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from opscopilot.inference.protocol import UNTRUSTED_CODE_HINTS, ModelKind

_ONNX_ELEMENT_TYPES: dict[str, tuple[Any, dict[str, Any]]] = {
    "tensor(float)": (np.float32, {"type": "number"}),
    "tensor(double)": (np.float64, {"type": "number"}),
    "tensor(float16)": (np.float16, {"type": "number"}),
    "tensor(int64)": (np.int64, {"type": "integer"}),
    "tensor(int32)": (np.int32, {"type": "integer"}),
    "tensor(int16)": (np.int16, {"type": "integer"}),
    "tensor(int8)": (np.int8, {"type": "integer"}),
    "tensor(uint8)": (np.uint8, {"type": "integer", "minimum": 0}),
    "tensor(bool)": (np.bool_, {"type": "boolean"}),
    "tensor(string)": (np.object_, {"type": "string"}),
}


def _nested(leaf: dict[str, Any], rank: int) -> dict[str, Any]:
    schema = leaf
    for _ in range(rank):
        schema = {"type": "array", "items": schema}
    return schema


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):  # ZipMap outputs: {class: probability}
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


class OnnxModel:
    """Input `{"inputs": {name: nested list}}`, output `{"outputs": {name: nested list}}`."""

    hints = UNTRUSTED_CODE_HINTS  # a Loop node can spin for as long as its trip count

    def __init__(self, session: Any, *, name: str, version: str, kind: ModelKind) -> None:
        self.name = name
        self.version = version
        self.kind: ModelKind = kind
        self._session = session
        self._inputs = {i.name: _ONNX_ELEMENT_TYPES.get(i.type) for i in session.get_inputs()}
        unsupported = [n for n, t in self._inputs.items() if t is None]
        if unsupported:
            raise ValueError(f"unsupported ONNX input types: {', '.join(unsupported)}")
        self._output_names = [o.name for o in session.get_outputs()]
        properties = {
            i.name: _nested(_ONNX_ELEMENT_TYPES[i.type][1], len(i.shape))
            for i in session.get_inputs()
        }
        self.input_schema: dict[str, Any] = {
            "type": "object",
            "properties": {
                "inputs": {
                    "type": "object",
                    "properties": properties,
                    "required": list(properties),
                    "additionalProperties": False,
                }
            },
            "required": ["inputs"],
            "additionalProperties": False,
        }
        self.output_schema: dict[str, Any] = {
            "type": "object",
            "properties": {
                "outputs": {
                    "type": "object",
                    "properties": {name: {} for name in self._output_names},
                    "required": self._output_names,
                }
            },
            "required": ["outputs"],
        }

    def predict(self, input: dict[str, Any]) -> dict[str, Any]:
        feeds = {}
        for name, value in input["inputs"].items():
            dtype = self._inputs[name]
            feeds[name] = np.asarray(value, dtype=dtype[0] if dtype else None)
        results = self._session.run(self._output_names, feeds)
        return {"outputs": dict(zip(self._output_names, map(_jsonable, results), strict=True))}


class SkopsModel:
    """Input `{"rows": [[feature, ...], ...]}`; output predictions (and probabilities)."""

    hints = UNTRUSTED_CODE_HINTS

    def __init__(self, estimator: Any, *, name: str, version: str, kind: ModelKind) -> None:
        if not callable(getattr(estimator, "predict", None)):
            raise ValueError(f"{type(estimator).__name__} has no predict method")
        self.name = name
        self.version = version
        self.kind: ModelKind = kind
        self._estimator = estimator
        self._columns = getattr(estimator, "feature_names_in_", None)
        width = getattr(estimator, "n_features_in_", None)
        row: dict[str, Any] = {"type": "array", "items": {"type": ["number", "string"]}}
        if isinstance(width, int):
            row.update(minItems=width, maxItems=width)
        self.input_schema: dict[str, Any] = {
            "type": "object",
            "properties": {"rows": {"type": "array", "minItems": 1, "items": row}},
            "required": ["rows"],
            "additionalProperties": False,
        }
        self._proba = callable(getattr(estimator, "predict_proba", None))
        properties: dict[str, Any] = {"predictions": {"type": "array"}}
        if self._proba:
            properties.update(probabilities={"type": "array"}, classes={"type": "array"})
        self.output_schema: dict[str, Any] = {
            "type": "object",
            "properties": properties,
            "required": ["predictions"],
        }

    def predict(self, input: dict[str, Any]) -> dict[str, Any]:
        rows: Any = np.asarray(input["rows"])
        if self._columns is not None:
            # Fitted on a DataFrame: give it one, or sklearn warns about feature names.
            import pandas as pd

            rows = pd.DataFrame(rows, columns=list(self._columns))
        out: dict[str, Any] = {"predictions": _jsonable(self._estimator.predict(rows))}
        if self._proba:
            out["probabilities"] = _jsonable(self._estimator.predict_proba(rows))
            out["classes"] = _jsonable(getattr(self._estimator, "classes_", []))
        return out
