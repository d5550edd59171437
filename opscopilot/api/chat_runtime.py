"""The app's `ChatRuns`, with the agent runner behind it, built on first use.

Built lazily rather than in the lifespan: apps that never chat (most tests, workers) never
open the checkpointer's pool or import a model client. Tests may put a runner of their own
in `state.extras["agent_runner"]` before the first chat.
"""

from __future__ import annotations

import asyncio
import inspect
import logging

from opscopilot.api.chat_runs import ChatRuns
from opscopilot.api.state import AppState
from opscopilot.core.errors import ServiceUnavailable

log = logging.getLogger(__name__)

_KEY = "chat_runs"


async def chat_runtime(state: AppState) -> ChatRuns:
    """This process's `ChatRuns` (built by the first request that needs it)."""
    runs = state.extras.get(_KEY)
    if isinstance(runs, ChatRuns):
        return runs
    building: asyncio.Task[ChatRuns] | None = state.extras.get(_KEY + "_building")
    if building is None or (building.done() and building.exception() is not None):
        building = asyncio.create_task(_build(state), name="chat-runtime-build")
        state.extras[_KEY + "_building"] = building
    try:
        # Shielded: a client leaving must not abort a build other requests wait for.
        return await asyncio.shield(building)
    except ServiceUnavailable:
        raise
    except Exception as exc:
        log.exception("the agent runner could not be built")
        raise ServiceUnavailable(f"the chat agent is unavailable: {type(exc).__name__}") from exc


async def _build(state: AppState) -> ChatRuns:
    runner = state.extras.get("agent_runner")
    if runner is None:
        from opscopilot.agent.runtime import build_runner

        built = build_runner(state.settings, state.db)
        runner = await built if inspect.isawaitable(built) else built
        state.extras["agent_runner"] = runner
    start = getattr(runner, "start", None)
    if start is not None:  # the checkpointer pool and the model, before the first turn
        await start()
    api = state.settings.api
    runs = ChatRuns(
        db=state.db,
        runner=runner,
        grace_s=2 * api.sse_ping_s,
        shutdown_timeout_s=state.settings.jobs.shutdown_timeout_s,
        default_site=state.settings.default_site,
        stale_s=max(300.0, 2 * state.settings.llm.call_deadline_s),
    )
    state.extras[_KEY] = runs
    state.tasks.append(asyncio.create_task(_close_at_shutdown(runs), name="chat-runs-closer"))
    return runs


async def _close_at_shutdown(runs: ChatRuns) -> None:
    # The app cancels its tasks at shutdown; this one turns that into an orderly close.
    try:
        await asyncio.Event().wait()
    finally:
        await runs.close()
