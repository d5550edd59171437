"""Uploaded model artifacts in safe formats only: ONNX and skops. Never pickle.

Unpickling runs arbitrary code, so a pickle (or a joblib file, or a zip that carries one,
like a PyTorch checkpoint) is refused before any loader sees it. ONNX is parsed as
protobuf and checked with onnx.checker; tensors stored outside the file are refused, since
onnxruntime would read them from paths the uploader chose. skops files are refused when
they need a type outside our explicit trusted list (plus scikit-learn / numpy / scipy
types the registrant names one by one). Every refusal is an InvalidArtifact (422).
"""

from __future__ import annotations

import hashlib
import io
import pickletools
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from opscopilot.inference.artifact_models import OnnxModel, SkopsModel
from opscopilot.inference.errors import InvalidArtifact
from opscopilot.inference.protocol import Model, ModelKind

ArtifactFormat = Literal["onnx", "skops"]
MAX_ARTIFACT_BYTES = 256 * 1024 * 1024

# Types skops does not trust by default but which the common estimators need: trees
# (forests, boosting, isolation forest), histogram boosting, neighbours.
TRUSTED_SKOPS_TYPES = frozenset(
    {
        "sklearn.tree._tree.Tree",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn.metrics._dist_metrics.EuclideanDistance64",
        "sklearn.metrics._dist_metrics.ManhattanDistance64",
        "sklearn.metrics._dist_metrics.MinkowskiDistance64",
    }
)
_EXTRA_TRUSTABLE_PREFIXES = ("sklearn.", "numpy.", "scipy.")
_COMPRESSED_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"\x78\x01": "zlib",
    b"\x78\x5e": "zlib",
    b"\x78\x9c": "zlib",
    b"\x78\xda": "zlib",
}


def _is_pickle(data: bytes) -> bool:
    # Protocols 2-5 open with PROTO (\x80) and the protocol number.
    if len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5:
        return True
    # Protocols 0 and 1 have no header but end with STOP ("."): disassemble (never run).
    if not data.endswith(b".") or len(data) > 16 * 1024 * 1024:
        return False
    try:
        for _ in pickletools.genops(io.BytesIO(data)):
            pass
    except Exception:  # any parse error means "not a pickle"; genops raises several kinds
        return False
    return True


def refuse_unsafe(data: bytes) -> None:
    """Raise InvalidArtifact for empty, oversized, pickled or compressed uploads."""
    if not data:
        raise InvalidArtifact("the artifact is empty")
    if len(data) > MAX_ARTIFACT_BYTES:
        raise InvalidArtifact(f"the artifact is larger than {MAX_ARTIFACT_BYTES >> 20} MiB")
    if _is_pickle(data):
        raise InvalidArtifact(
            "the artifact is a Python pickle, which is never loaded (unpickling runs code); "
            "export the model to ONNX, or save a scikit-learn model with skops.io.dump"
        )
    for magic, kind in _COMPRESSED_MAGIC.items():
        if data.startswith(magic):
            raise InvalidArtifact(
                f"the artifact is {kind}-compressed (a joblib pickle?); upload .onnx or .skops"
            )
    if data.startswith(b"PK\x03\x04"):
        try:
            names = zipfile.ZipFile(io.BytesIO(data)).namelist()
        except zipfile.BadZipFile:
            return
        if any(n.endswith((".pkl", ".pickle", ".joblib")) for n in names):
            raise InvalidArtifact("the archive carries a pickle (a PyTorch checkpoint?)")


def _graphs(graph: Any) -> Iterator[Any]:
    """A graph and every subgraph of its If / Loop / Scan nodes."""
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("g"):
                yield from _graphs(attr.g)
            for sub in attr.graphs:
                yield from _graphs(sub)


def _tensors(graph: Any) -> Iterator[Any]:
    """Every TensorProto of a graph: initializers, sparse parts, Constant-style attributes."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield from (sparse.values, sparse.indices)
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("sparse_tensor"):
                yield from (attr.sparse_tensor.values, attr.sparse_tensor.indices)


def _onnx_session(data: bytes) -> Any:
    import onnx
    import onnxruntime as ort
    from google.protobuf.message import DecodeError

    try:
        proto = onnx.load_model_from_string(data)
    except (DecodeError, ValueError) as exc:
        raise InvalidArtifact(f"not a valid ONNX model: cannot parse ({exc})") from None
    # Before the checker, which already looks for external files on our disk.
    for graph in _graphs(proto.graph):
        if any(t.data_location == onnx.TensorProto.EXTERNAL for t in _tensors(graph)):
            raise InvalidArtifact("the ONNX model keeps tensors in external files: embed them")
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as exc:
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else "checker failed"
        raise InvalidArtifact(f"not a valid ONNX model: {first}") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # many small requests in parallel, not one wide one
    state = ort.capi.onnxruntime_pybind11_state
    ort_errors = (state.Fail, state.InvalidGraph, state.InvalidArgument, state.InvalidProtobuf)
    try:
        return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    except (*ort_errors, state.NotImplemented, state.RuntimeException) as exc:
        message = str(exc).strip().splitlines()[0][:300]
        raise InvalidArtifact(f"onnxruntime cannot load the model: {message}") from None


def skops_trusted_types(data: bytes, extra_trusted: Iterable[str] = ()) -> list[str]:
    """The non-default types the file needs, if all are trusted; else InvalidArtifact."""
    import skops.io as sio

    extra = set(extra_trusted)
    bad_extra = sorted(t for t in extra if not t.startswith(_EXTRA_TRUSTABLE_PREFIXES))
    if bad_extra:
        raise InvalidArtifact(
            "only scikit-learn, numpy and scipy types can be trusted: " + ", ".join(bad_extra)
        )
    try:
        needed = sio.get_untrusted_types(data=data)
    except Exception as exc:  # skops raises zip, JSON and key errors for non-skops bytes
        raise InvalidArtifact(f"not a valid skops file: {type(exc).__name__}") from None
    refused = sorted(set(needed) - TRUSTED_SKOPS_TYPES - extra)
    if refused:
        raise InvalidArtifact(
            "the skops file needs types that are not trusted: " + ", ".join(refused)
        )
    return list(needed)


def _skops_estimator(data: bytes, extra_trusted: Iterable[str]) -> Any:
    import skops.io as sio

    trusted = skops_trusted_types(data, extra_trusted)
    try:
        return sio.loads(data, trusted=trusted)
    except Exception as exc:  # a corrupt member surfaces as whatever its loader raises
        raise InvalidArtifact(f"the skops file cannot be loaded: {type(exc).__name__}") from None


def load_artifact(
    data: bytes,
    *,
    format: ArtifactFormat,
    name: str,
    version: str,
    kind: ModelKind,
    extra_trusted: Iterable[str] = (),
) -> Model:
    """Check and load an uploaded artifact as a model; InvalidArtifact (422) if refused."""
    refuse_unsafe(data)
    try:
        if format == "onnx":
            return OnnxModel(_onnx_session(data), name=name, version=version, kind=kind)
        if format == "skops":
            estimator = _skops_estimator(data, extra_trusted)
            return SkopsModel(estimator, name=name, version=version, kind=kind)
    except ValueError as exc:  # the wrappers refuse models they cannot serve
        raise InvalidArtifact(str(exc)) from None
    raise InvalidArtifact(f"unknown artifact format {format!r}: use onnx or skops")


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class ArtifactLoader:
    """Rebuilds an artifact model inside a worker process from a local copy of the file;
    the digest guards against a file swapped after registration."""

    path: str
    sha256: str
    format: ArtifactFormat
    name: str
    version: str
    kind: ModelKind
    extra_trusted: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"artifact:{self.sha256}:{self.name}:{self.version}"

    def load(self) -> Model:
        data = Path(self.path).read_bytes()
        if sha256_of(data) != self.sha256:
            raise InvalidArtifact("the artifact file does not match its registered digest")
        return load_artifact(
            data,
            format=self.format,
            name=self.name,
            version=self.version,
            kind=self.kind,
            extra_trusted=self.extra_trusted,
        )
