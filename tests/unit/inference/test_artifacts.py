"""Uploaded artifacts: ONNX and skops load and predict; pickles and garbage are refused."""

from __future__ import annotations

import gzip
import io
import operator
import pickle
import zipfile
from pathlib import Path

import numpy as np
import onnx
import pytest
import skops.io as sio
from onnx import TensorProto, helper
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from opscopilot.inference.artifacts import (
    ArtifactLoader,
    load_artifact,
    refuse_unsafe,
    sha256_of,
)
from opscopilot.inference.errors import InvalidArtifact
from opscopilot.inference.protocol import Model, hints_of
from opscopilot.inference.runner import ModelRunner
from opscopilot.inference.validation import schema_errors

W = [[1.0, -1.0], [0.5, 2.0]]
B = [0.25, -0.25]


def linear_onnx(*, external: bool = False, broken: bool = False) -> bytes:
    """Y = X @ W + B, built node by node (no converter needed)."""
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 2])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 2])
    raw = np.array(W, dtype=np.float32).tobytes()
    w = helper.make_tensor("W", TensorProto.FLOAT, [2, 2], raw, raw=True)
    b = helper.make_tensor("B", TensorProto.FLOAT, [2], B)
    if external:
        onnx.external_data_helper.set_external_data(w, location="weights.bin")
        w.ClearField("raw_data")
        w.data_location = TensorProto.EXTERNAL
    matmul = helper.make_node("MatMul", ["X", "W" if not broken else "nowhere"], ["XW"])
    add = helper.make_node("Add", ["XW", "B"], ["Y"])
    graph = helper.make_graph([matmul, add], "linear", [x], [y], initializer=[w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


def load_onnx(data: bytes) -> Model:
    return load_artifact(data, format="onnx", name="linear", version="1.0.0", kind="regressor")


def test_onnx_graph_loads_and_predicts() -> None:
    model = load_onnx(linear_onnx())
    rows = [[1.0, 2.0], [3.0, -1.0]]
    input = {"inputs": {"X": rows}}
    assert schema_errors(model.input_schema, input) == []
    out = model.predict(input)
    np.testing.assert_allclose(out["outputs"]["Y"], np.array(rows) @ np.array(W) + B, rtol=1e-6)
    assert schema_errors(model.output_schema, out) == []
    assert hints_of(model).isolate


def test_onnx_schema_is_derived_from_the_graph() -> None:
    model = load_onnx(linear_onnx())
    errors = schema_errors(model.input_schema, {"inputs": {"X": [["a", 1]]}})
    assert errors == [{"field": "inputs.X[0][0]", "reason": "'a' is not of type 'number'"}]
    missing = schema_errors(model.input_schema, {"inputs": {}})
    assert missing == [{"field": "inputs.X", "reason": "is required"}]


def test_onnx_that_fails_the_checker_is_refused() -> None:
    with pytest.raises(InvalidArtifact, match="not a valid ONNX model"):
        load_onnx(linear_onnx(broken=True))


def test_onnx_with_external_tensors_is_refused() -> None:
    with pytest.raises(InvalidArtifact, match="external"):
        load_onnx(linear_onnx(external=True))


@pytest.mark.parametrize("data", [b"\x08\x07garbage that is not protobuf \xff\xfe", b"hello"])
def test_garbage_is_not_onnx(data: bytes) -> None:
    with pytest.raises(InvalidArtifact, match="not a valid ONNX model"):
        load_onnx(data)


def fitted_classifier() -> tuple[LogisticRegression, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    return LogisticRegression().fit(x, y), x


def test_skops_classifier_round_trip() -> None:
    estimator, x = fitted_classifier()
    model = load_artifact(
        sio.dumps(estimator), format="skops", name="pass-fail", version="1.0.0", kind="classifier"
    )
    rows = x[:5].tolist()
    input = {"rows": rows}
    assert schema_errors(model.input_schema, input) == []
    out = model.predict(input)
    assert out["predictions"] == estimator.predict(x[:5]).tolist()
    np.testing.assert_allclose(out["probabilities"], estimator.predict_proba(x[:5]))
    assert out["classes"] == [0, 1]
    assert schema_errors(model.output_schema, out) == []
    # The feature count is part of the schema: a short row is a 422, not a crash.
    assert schema_errors(model.input_schema, {"rows": [[1.0, 2.0]]})[0]["field"] == "rows[0]"


def test_skops_forest_needs_a_type_from_the_trusted_list() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 2))
    forest = RandomForestRegressor(n_estimators=3, random_state=0).fit(x, x[:, 0])
    data = sio.dumps(forest)
    assert "sklearn.tree._tree.Tree" in sio.get_untrusted_types(data=data)
    model = load_artifact(data, format="skops", name="f", version="1.0.0", kind="regressor")
    np.testing.assert_allclose(
        model.predict({"rows": x[:3].tolist()})["predictions"], forest.predict(x[:3])
    )


def test_skops_with_an_untrusted_type_is_refused() -> None:
    x = np.ones((4, 2))
    risky = make_pipeline(FunctionTransformer(operator.methodcaller("sum")))
    data = sio.dumps(risky.fit(x))
    with pytest.raises(InvalidArtifact, match="not trusted: operator.methodcaller"):
        load_artifact(data, format="skops", name="r", version="1.0.0", kind="regressor")
    with pytest.raises(InvalidArtifact, match="only scikit-learn, numpy and scipy"):
        load_artifact(
            data,
            format="skops",
            name="r",
            version="1.0.0",
            kind="regressor",
            extra_trusted=["operator.methodcaller"],
        )


def test_garbage_is_not_skops() -> None:
    with pytest.raises(InvalidArtifact, match="not a valid skops file"):
        load_artifact(
            b"not a zip at all", format="skops", name="g", version="1.0.0", kind="regressor"
        )
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(InvalidArtifact, match="not a valid skops file"):
        load_artifact(
            archive.getvalue(), format="skops", name="g", version="1.0.0", kind="regressor"
        )


class Payload:
    """Stands for a malicious object: unpickling it would call os.system."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, ("echo owned",))


@pytest.mark.parametrize("protocol", [0, 1, 2, 4, 5])
@pytest.mark.parametrize("format", ["onnx", "skops"])
def test_pickles_are_refused_before_any_loader(protocol: int, format: str) -> None:
    data = pickle.dumps(Payload(), protocol=protocol)
    with pytest.raises(InvalidArtifact, match="is a Python pickle, which is never loaded"):
        load_artifact(data, format=format, name="p", version="1.0.0", kind="regressor")  # type: ignore[arg-type]


def test_compressed_and_pickle_carrying_archives_are_refused() -> None:
    estimator, _ = fitted_classifier()
    with pytest.raises(InvalidArtifact, match="gzip-compressed"):
        refuse_unsafe(gzip.compress(pickle.dumps(estimator)))
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"a": 1}))
    with pytest.raises(InvalidArtifact, match="carries a pickle"):
        refuse_unsafe(archive.getvalue())
    with pytest.raises(InvalidArtifact, match="empty"):
        refuse_unsafe(b"")


def test_skops_and_onnx_files_pass_the_safety_check() -> None:
    estimator, _ = fitted_classifier()
    refuse_unsafe(sio.dumps(estimator))
    refuse_unsafe(linear_onnx())


def test_artifact_runs_isolated_from_a_verified_local_copy(tmp_path: Path) -> None:
    data = linear_onnx()
    path = tmp_path / "linear.onnx"
    path.write_bytes(data)
    good = ArtifactLoader(str(path), sha256_of(data), "onnx", "linear", "1.0.0", "regressor")
    tampered_path = tmp_path / "tampered.onnx"
    tampered_path.write_bytes(linear_onnx(broken=True))
    tampered = ArtifactLoader(
        str(tampered_path), sha256_of(data), "onnx", "linear", "1.0.0", "regressor"
    )
    with ModelRunner(process_slots=1, inline_threads=1) as runner:
        # Tampered first: once a digest is loaded, the worker serves it from its cache.
        bad = runner.run_isolated_sync(tampered, {"inputs": {"X": [[1.0, 0.0]]}}, timeout=60)
        ok = runner.run_isolated_sync(good, {"inputs": {"X": [[1.0, 0.0]]}}, timeout=60)
    assert ok.status == "succeeded", ok.error
    assert ok.output == {"outputs": {"Y": [[1.25, -1.25]]}}
    assert bad.status == "failed"
    assert bad.error == "InvalidArtifact: the artifact file does not match its registered digest"


def test_external_tensor_in_a_constant_node_is_refused() -> None:
    value = helper.make_tensor(
        "c", TensorProto.FLOAT, [1], np.ones(1, np.float32).tobytes(), raw=True
    )
    onnx.external_data_helper.set_external_data(value, location="c.bin")
    value.ClearField("raw_data")
    value.data_location = TensorProto.EXTERNAL
    const = helper.make_node("Constant", [], ["C"], value=value)
    add = helper.make_node("Add", ["X", "C"], ["Y"])
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1])
    model = helper.make_model(
        helper.make_graph([const, add], "g", [x], [y]),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    with pytest.raises(InvalidArtifact, match="external"):
        load_onnx(model.SerializeToString())
