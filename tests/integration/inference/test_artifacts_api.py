"""Uploaded ONNX and skops models: validated, registered, cached by digest and run in a
worker process; pickles and invalid files are refused with 422."""

from __future__ import annotations

import io
import json
import pickle

import httpx
import numpy as np
import skops.io as sio
from onnx import TensorProto, helper
from sklearn.linear_model import LinearRegression

from opscopilot.inference.runtime import get_runtime

W = [[1.0, -1.0], [0.5, 2.0]]
B = [0.25, -0.25]


def linear_onnx() -> bytes:
    x = helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 2])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 2])
    w = helper.make_tensor(
        "W", TensorProto.FLOAT, [2, 2], np.array(W, np.float32).tobytes(), raw=True
    )
    b = helper.make_tensor("B", TensorProto.FLOAT, [2], B)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["X", "W"], ["XW"]),
            helper.make_node("Add", ["XW", "B"], ["Y"]),
        ],
        "linear",
        [x],
        [y],
        initializer=[w, b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


def fitted_regressor() -> bytes:
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 10, (40, 2))
    y = 3 * x[:, 0] - 2 * x[:, 1] + 1
    return bytes(sio.dumps(LinearRegression().fit(x, y)))


async def upload(
    client: httpx.AsyncClient, headers: dict[str, str], data: bytes, filename: str, **spec: object
) -> httpx.Response:
    files = {"artifact": (filename, io.BytesIO(data), "application/octet-stream")}
    return await client.post(
        "/api/v1/models", data={"spec": json.dumps(spec)}, files=files, headers=headers
    )


async def test_onnx_upload_registers_and_runs_from_its_cached_copy(
    client: httpx.AsyncClient, admin_headers: dict[str, str], viewer_headers: dict[str, str]
) -> None:
    r = await upload(
        client,
        admin_headers,
        linear_onnx(),
        "linear.onnx",
        name="line-balance",
        version="1.0.0",
        kind="regressor",
        metrics={"r2": 0.97},
    )
    assert r.status_code == 201, r.text
    read = r.json()
    assert read["format"] == "onnx" and read["is_active"] and read["origin"] == "upload"
    assert read["input_schema"]["properties"]["inputs"]["required"] == ["X"]
    assert read["execution"]["isolate"] is True and read["metrics"] == {"r2": 0.97}

    rows = [[1.0, 2.0], [3.0, -1.0]]
    body = {"model": "line-balance", "input": {"inputs": {"X": rows}}}
    r = await client.post("/api/v1/infer", json=body, headers=viewer_headers)
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(
        r.json()["output"]["outputs"]["Y"], np.array(rows) @ np.array(W) + B, rtol=1e-6
    )

    cached = get_runtime().cache_dir / f"{read['artifact_sha256']}.onnx"
    assert cached.exists()
    cached.unlink()  # a new machine: the copy is rebuilt from the stored bytes
    r = await client.post("/api/v1/infer", json=body, headers=viewer_headers)
    assert r.status_code == 200 and cached.exists()

    bad = {"model": "line-balance", "input": {"inputs": {"X": [["a", 1]]}}}
    r = await client.post("/api/v1/infer", json=bad, headers=viewer_headers)
    assert r.status_code == 422 and r.json()["error"]["field"] == "inputs.X[0][0]"


async def test_skops_upload_runs_and_actuals_give_accuracy(
    client: httpx.AsyncClient, admin_headers: dict[str, str], operator_headers: dict[str, str]
) -> None:
    r = await upload(
        client,
        admin_headers,
        fitted_regressor(),
        "cycle-time.skops",
        name="cycle-time",
        version="2.0.0",
        kind="regressor",
        training_meta={"dataset": "line-3 2025Q4", "n_samples": 40},
    )
    assert r.status_code == 201, r.text
    assert r.json()["format"] == "skops"
    assert r.json()["training_meta"]["dataset"] == "line-3 2025Q4"

    rows = [[1.0, 1.0], [2.0, 0.5]]
    r = await client.post(
        "/api/v1/infer",
        json={"model": "cycle-time", "input": {"rows": rows}},
        headers=operator_headers,
    )
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(r.json()["output"]["predictions"], [2.0, 6.0], atol=1e-9)

    job = r.json()["job_id"]
    r = await client.post(
        f"/api/v1/infer/jobs/{job}/actual", json={"values": [3.0, 6.0]}, headers=operator_headers
    )
    assert r.status_code == 200, r.text
    scores = r.json()["scores"]
    assert scores["n"] == 2 and abs(scores["mae"] - 0.5) < 1e-9
    r = await client.post(
        f"/api/v1/infer/jobs/{job}/actual", json={"values": [3.0]}, headers=operator_headers
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "values"

    usage = (await client.get("/api/v1/models/cycle-time", headers=operator_headers)).json()[
        "versions"
    ][0]["usage"]
    assert usage["with_actuals"] == 1 and abs(usage["mae"] - 0.5) < 1e-9
    assert abs(usage["rmse"] - (0.5**0.5)) < 1e-9


async def test_pickles_and_invalid_artifacts_are_refused(
    client: httpx.AsyncClient, admin_headers: dict[str, str], operator_headers: dict[str, str]
) -> None:
    spec = {"name": "sneaky", "version": "1.0.0", "kind": "regressor"}
    cases = [
        (pickle.dumps(LinearRegression()), "model.skops", "pickle"),
        (pickle.dumps({"a": 1}, protocol=0), "model.onnx", "pickle"),
        (b"\x08\x07garbage-not-a-graph", "model.onnx", "not a valid ONNX model"),
        (b"PK\x03\x04 truncated zip", "model.skops", "not a valid skops file"),
        (linear_onnx(), "model.bin", "say which format"),
    ]
    for data, filename, message in cases:
        r = await upload(client, admin_headers, data, filename, **spec)
        assert r.status_code == 422, (filename, r.text)
        assert message in r.json()["error"]["message"], r.json()
    assert (await client.get("/api/v1/models/sneaky", headers=admin_headers)).status_code == 404

    r = await upload(client, operator_headers, linear_onnx(), "m.onnx", **spec)
    assert r.status_code == 403
    r = await upload(client, admin_headers, linear_onnx(), "m.onnx", **{**spec, "kind": "oven"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "kind"
