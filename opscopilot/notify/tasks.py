"""Where notify runs: jobs for the worker, and a loop inside `serve` on the embedded default.

Worker: ``notify.relay`` is deferred every minute and runs the notify loop until just
before the next tick (``lock`` keeps two from overlapping; with SKIP LOCKED they would be
safe anyway, only wasteful); ``notify.escalate`` runs the escalation check every minute.
Serve: the startup hook ``start_in_process`` runs the same loop as a task of the API
process when the in-process worker would run (the embedded default), and the relay job
then steps aside in that process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Any

import procrastinate

from opscopilot.core.settings import Settings
from opscopilot.jobs.app import register_blueprint
from opscopilot.jobs.runtime import runtime_of
from opscopilot.notify.runner import NotifyLoop, escalate

log = logging.getLogger(__name__)

blueprint = procrastinate.Blueprint()

RELAY_CRON = "* * * * *"
ESCALATE_CRON = "* * * * *"
# The relay job stops this long after its tick, shortly before the next one starts.
RELAY_SPAN_S = 58.0
_local_loops = 0


@blueprint.task(
    name="notify.relay", pass_context=True, queueing_lock="notify.relay", lock="notify.relay"
)
async def relay_job(context: procrastinate.JobContext, timestamp: int) -> str:
    if _local_loops:
        return "in-process loop running"
    runtime = runtime_of(context)
    stop = asyncio.Event()
    span = max(1.0, timestamp + RELAY_SPAN_S - time.time())
    asyncio.get_running_loop().call_later(span, stop.set)
    await NotifyLoop(runtime.database(), runtime.settings).run(stop)
    return "done"


@blueprint.task(name="notify.escalate", pass_context=True, queueing_lock="notify.escalate")
async def escalate_job(context: procrastinate.JobContext, timestamp: int) -> int:
    runtime = runtime_of(context)
    return await escalate(runtime.database(), runtime.settings, now=datetime.now(UTC))


def attach_schedules(app: procrastinate.App, settings: Settings) -> None:
    app.periodic(cron=RELAY_CRON, periodic_id="notify-relay")(app.tasks["notify.relay"])
    app.periodic(cron=ESCALATE_CRON, periodic_id="notify-escalate")(app.tasks["notify.escalate"])


register_blueprint(blueprint, schedule=attach_schedules)


async def start_in_process(state: Any) -> None:
    """STARTUP_HOOK: the notify loop inside the API process, on the embedded default."""
    settings: Settings = state.settings
    wanted = settings.jobs.in_process_worker
    if not (wanted or (wanted is None and state.embedded)):
        return
    stop = asyncio.Event()
    loop = NotifyLoop(state.db, settings)
    state.extras["notify_loop"] = loop
    state.tasks.append(asyncio.create_task(_run_local(loop, stop), name="notify-loop"))


async def _run_local(loop: NotifyLoop, stop: asyncio.Event) -> None:
    global _local_loops
    _local_loops += 1
    running = asyncio.create_task(loop.run(stop))
    try:
        await asyncio.shield(running)
    except asyncio.CancelledError:
        # Shutdown: let deliveries in flight finish and be recorded, briefly, so they are
        # not left to wait out their lease.
        stop.set()
        await asyncio.wait({running}, timeout=min(10.0, loop.settings.jobs.shutdown_timeout_s))
        running.cancel()
        raise
    finally:
        _local_loops -= 1
