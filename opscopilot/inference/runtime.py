"""What a process (API or worker) needs to run registered models.

One `InferenceRuntime` per process: the model runner (inline threads and killable worker
processes), the built-in model objects, and local copies of uploaded artifacts in a cache
folder named by their SHA-256 (worker processes load the file, never the database). A
registry row becomes an `Executable`: a model object to run inline, or a picklable loader
for an isolated process.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.inference.artifacts import ArtifactFormat, ArtifactLoader, sha256_of
from opscopilot.inference.errors import ModelNotRunnable
from opscopilot.inference.plugins import EntryPointLoader
from opscopilot.inference.protocol import ExecutionHints, Model, ModelKind
from opscopilot.inference.registry import hints_of_row
from opscopilot.inference.runner import ModelLoader, ModelRunner, RunResult
from opscopilot.store.models.inference import AIModel

# Forecasters are registered so their versions and backtest metrics show here; the
# forecasting engine runs them, with their explanations and alerts.
SERVED_BY_KEY = "served_by"
# How long a resolved version is reused without asking the registry: a change made by
# another process (activation, rollback, retirement, shadow) takes effect here within it.
RESOLVE_TTL_S = 2.0


def default_cache_dir() -> Path:
    import platformdirs

    return platformdirs.user_cache_path("opscopilot") / "model-artifacts"


@dataclass(frozen=True)
class BuiltinLoader:
    """Rebuilds a built-in model inside a worker process (for built-ins marked isolate)."""

    name: str
    version: str

    @property
    def key(self) -> str:
        return f"builtin:{self.name}:{self.version}"

    def load(self) -> Model:
        from opscopilot.inference.builtin import builtin_models

        for model in builtin_models():
            if model.name == self.name and model.version == self.version:
                return model
        raise ModelNotRunnable(f"this release does not ship {self.name} {self.version}")


@dataclass(frozen=True)
class Executable:
    name: str
    version: str
    kind: str
    hints: ExecutionHints
    model: Model | None = None
    loader: ModelLoader | None = None


class InferenceRuntime:
    def __init__(
        self,
        *,
        runner: ModelRunner | None = None,
        cache_dir: Path | None = None,
        process_slots: int = 2,
    ) -> None:
        self.runner = runner or ModelRunner(process_slots=process_slots)
        self.cache_dir = cache_dir or default_cache_dir()
        self._builtins: dict[tuple[str, str], Model] | None = None
        self._resolved: dict[tuple[str, str | None], tuple[float, object]] = {}
        self._processes_started = False
        self._start_lock = asyncio.Lock()

    def builtin(self, name: str, version: str) -> Model | None:
        if self._builtins is None:
            from opscopilot.inference.builtin import builtin_models

            self._builtins = {(m.name, m.version): m for m in builtin_models()}
        return self._builtins.get((name, version))

    def recall(self, key: tuple[str, str | None]) -> object | None:
        """A resolution remembered less than RESOLVE_TTL_S ago (the hot path skips the
        registry query, a third of what the API adds to a single-item call)."""
        entry = self._resolved.get(key)
        if entry is None or time.monotonic() - entry[0] > RESOLVE_TTL_S:
            return None
        return entry[1]

    def remember(self, key: tuple[str, str | None], value: object) -> None:
        self._resolved[key] = (time.monotonic(), value)

    def forget(self) -> None:
        """Drop remembered resolutions: this process changed the registry."""
        self._resolved.clear()

    async def start_processes(self) -> None:
        """Start the model processes once, before the first isolated run: starting them
        must not eat into that run's timeout (a second or more on a busy machine)."""
        if self._processes_started:
            return
        async with self._start_lock:
            if not self._processes_started:
                await asyncio.to_thread(self.runner.warm_up)
                self._processes_started = True

    def warm_forest(self) -> None:
        """Blocking: build the anomaly detector's reference forest now (3 s or more),
        rather than inside the first call."""
        from opscopilot.inference.builtin.forest import reference_scorer

        reference_scorer()

    async def executable(self, session: AsyncSession, row: AIModel) -> Executable:
        if row.status == "retired":
            raise ModelNotRunnable(f"{row.name} {row.version} is retired", field="version")
        served_by = (row.params or {}).get(SERVED_BY_KEY)
        if served_by:
            raise ModelNotRunnable(
                f"{row.name} is a {row.kind} run by {served_by}; its registry entry shows "
                "versions and backtest metrics",
                field="model",
            )
        hints = hints_of_row(row)
        if row.format == "builtin":
            model = self.builtin(row.name, row.version)
            if model is None:
                raise ModelNotRunnable(
                    f"this release does not ship built-in {row.name} {row.version}",
                    field="version",
                )
            if hints.isolate:
                return _executable(row, hints, loader=BuiltinLoader(row.name, row.version))
            return _executable(row, hints, model=model)
        # Plugin and artifact models are foreign code: always in a killable process.
        isolated = hints.model_copy(update={"isolate": True})
        if row.format == "entrypoint" and row.entrypoint:
            loader = EntryPointLoader(row.entrypoint, row.name, row.version)
            return _executable(row, isolated, loader=loader)
        if row.format in ("onnx", "skops") and row.artifact_sha256:
            path = await self._artifact_path(session, row)
            artifact = ArtifactLoader(
                path=str(path),
                sha256=row.artifact_sha256,
                format=cast(ArtifactFormat, row.format),
                name=row.name,
                version=row.version,
                kind=cast(ModelKind, row.kind),
                extra_trusted=tuple((row.params or {}).get("trusted_types", ())),
            )
            return _executable(row, isolated, loader=artifact)
        raise ModelNotRunnable(f"{row.name} {row.version} has no runnable form ({row.format})")

    async def _artifact_path(self, session: AsyncSession, row: AIModel) -> Path:
        assert row.artifact_sha256 is not None
        path = self.cache_dir / f"{row.artifact_sha256}.{row.format}"
        if path.exists():
            return path
        data = await session.scalar(select(AIModel.artifact).where(AIModel.id == row.id))
        if not data or sha256_of(data) != row.artifact_sha256:
            raise ModelNotRunnable(f"the stored artifact of {row.name} {row.version} is damaged")
        await asyncio.to_thread(_write_atomically, path, data)
        return path

    async def run(self, exe: Executable, input: dict[str, Any]) -> RunResult:
        timeout = exe.hints.timeout_s
        if exe.loader is not None:
            await self.start_processes()
            return await self.runner.run_isolated(exe.loader, input, timeout=timeout)
        assert exe.model is not None
        return await self.runner.run_inline(exe.model, input, timeout=timeout)

    def close(self) -> None:
        self.runner.close()


def _executable(
    row: AIModel,
    hints: ExecutionHints,
    *,
    model: Model | None = None,
    loader: ModelLoader | None = None,
) -> Executable:
    return Executable(row.name, row.version, row.kind, hints, model, loader)


def _write_atomically(path: Path, data: bytes) -> None:
    # Another process may write the same file at once: each writes its own temporary
    # file and renames it, so a reader never sees half an artifact.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_runtime: InferenceRuntime | None = None


def get_runtime() -> InferenceRuntime:
    """This process's runtime, created on first use and closed (its model processes
    killed) when the process exits."""
    global _runtime
    if _runtime is None:
        _runtime = InferenceRuntime()
        atexit.register(close_runtime)
    return _runtime


def close_runtime() -> None:
    global _runtime
    if _runtime is not None:
        _runtime.close()
        _runtime = None
