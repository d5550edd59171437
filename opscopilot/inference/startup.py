"""Registration of code-defined models at start, and the API process's runtime.

`sync_registry` upserts the built-in models, the models of installed `opscopilot.models`
entry points and the forecasting engine's families, idempotently, under an advisory lock
(replicas and workers may start together). It runs in the API lifespan (STARTUP_HOOK
`start_in_api`) and in workers through the periodic `inference.sync_registry` task, which
procrastinate defers when a worker starts (its latest tick is at most ten minutes old).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.inference import registry
from opscopilot.inference.builtin import builtin_specs
from opscopilot.inference.forecasters import ORIGIN as FORECAST_ORIGIN
from opscopilot.inference.forecasters import forecaster_specs
from opscopilot.inference.plugins import Discovery, discover_models
from opscopilot.inference.protocol import ModelSpec
from opscopilot.inference.runtime import get_runtime
from opscopilot.store.models.inference import AIModel

log = logging.getLogger(__name__)


@dataclass
class SyncReport:
    inserted: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    plugin_failures: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "plugin_failures": self.plugin_failures,
        }


@functools.cache
def code_specs() -> tuple[tuple[ModelSpec, str], ...]:
    """Built-in and forecaster specs, validated once per process (they are code)."""
    specs = [(spec, "builtin") for spec in builtin_specs()]
    specs += [(spec, FORECAST_ORIGIN) for spec in forecaster_specs()]
    return tuple(specs)


@functools.cache
def _discover(path: tuple[str, ...]) -> Discovery:
    # Installed distributions only change with sys.path within a running process (a new
    # package needs a restart to be imported anyway), so discovery is kept per path.
    return discover_models()


async def sync_registry(session: AsyncSession) -> SyncReport:
    """Upsert every code-defined model; the caller commits."""
    report = SyncReport()
    discovery = await asyncio.to_thread(_discover, tuple(sys.path))  # imports plugins
    specs = list(code_specs())
    for plugin in discovery.models:
        where = f" ({plugin.distribution})" if plugin.distribution else ""
        specs.append((plugin.spec, f"entry point {plugin.spec.entrypoint}{where}"))
    await registry.sync_lock(session)
    outcomes = await registry.upsert_code_models(session, specs=specs)
    for (spec, _), outcome in zip(specs, outcomes, strict=True):
        label = f"{spec.name}@{spec.version}"
        if outcome == "inserted":
            report.inserted.append(label)
        elif outcome == "updated":
            report.updated.append(label)
        else:
            report.unchanged += 1
    for failure in discovery.failures:
        report.plugin_failures.append(f"{failure.entry_point}: {failure.error}")
        log.warning(
            "model plugin not loaded",
            extra={"entry_point": failure.entry_point, "error": failure.error},
        )
    if report.inserted or report.updated:
        log.info("model registry synced", extra=report.as_dict())
    get_runtime().forget()
    return report


async def isolated_models_active(session: AsyncSession) -> bool:
    """Whether any active or shadow version runs in a worker process."""
    found = await session.scalar(
        select(AIModel.id)
        .where(AIModel.format != "builtin", AIModel.status != "retired")
        .where(AIModel.is_active | AIModel.is_shadow)
        .limit(1)
    )
    return found is not None


async def start_in_api(state: Any) -> None:
    """STARTUP_HOOK: sync the registry, then warm the runtime before serving: build the
    anomaly detector's reference forest (about 3 s, once per process, else paid by the
    first call) and, when isolated models are active, start the model processes (a first
    call must not spend its timeout waiting for one). Not in a background thread: the
    forest's fit (scikit-learn) and FastAPI's route set-up both swap the process-wide
    warning filters, which is not thread-safe."""
    runtime = get_runtime()
    async with state.db.sessions() as session:
        await sync_registry(session)
        processes = await isolated_models_active(session)
        await session.commit()
    await asyncio.to_thread(runtime.warm_forest)
    if processes:
        await runtime.start_processes()
