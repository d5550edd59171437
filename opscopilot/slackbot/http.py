"""Slack's HTTP events inside the API (`POST /slack/events`), for deployments behind a load
balancer. Bolt checks each request's signature and age (5 minutes) before any listener.

The bot is built on the first request and shares the process's agent runner with the web
chat (`state.extras["agent_runner"]`); at shutdown its answers get the grace period.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler

from opscopilot.agent.events import AgentRunner
from opscopilot.api.state import AppState
from opscopilot.core.errors import NotFoundError
from opscopilot.slackbot.bot import SlackBot, create_bot

if TYPE_CHECKING:
    from opscopilot.agent.runtime import GraphAgentRunner

_KEY = "slack_http"
RUNNER_KEY = "agent_runner"


class SlackHTTP:
    def __init__(self, state: AppState) -> None:
        self._state = state
        self._lock = asyncio.Lock()
        self._handler: AsyncSlackRequestHandler | None = None
        self.bot: SlackBot | None = None

    async def handler(self) -> AsyncSlackRequestHandler:
        async with self._lock:
            if self._handler is None:
                state = self._state
                runner, own = await self._runner()
                self.bot = create_bot(
                    settings=state.settings, db=state.db, runner=runner, mode="http"
                )
                self._handler = AsyncSlackRequestHandler(self.bot.app)
                state.tasks.append(
                    asyncio.create_task(self._close_at_shutdown(own), name="slack-http-closer")
                )
        return self._handler

    async def _runner(self) -> tuple[AgentRunner, GraphAgentRunner | None]:
        """The process's runner, and the runner this endpoint built (it closes that one)."""
        runner: AgentRunner | None = self._state.extras.get(RUNNER_KEY)
        if runner is not None:
            return runner, None
        from opscopilot.agent.runtime import build_runner

        built = build_runner(self._state.settings, self._state.db)
        self._state.extras[RUNNER_KEY] = built
        return built, built

    async def _close_at_shutdown(self, own_runner: GraphAgentRunner | None) -> None:
        # The app cancels its tasks at shutdown; this one turns that into an orderly close.
        try:
            await asyncio.Event().wait()
        finally:
            if self.bot is not None:
                await self.bot.close(grace_s=self._state.settings.jobs.shutdown_timeout_s)
            if own_runner is not None:
                await own_runner.aclose()


def slack_http(state: AppState) -> SlackHTTP:
    """This process's Slack HTTP endpoint; 404 when no signing secret is configured."""
    if state.settings.slack.signing_secret is None or state.settings.slack.bot_token is None:
        raise NotFoundError(
            "Slack HTTP events are off: set OPSCOPILOT_SLACK__SIGNING_SECRET and "
            "OPSCOPILOT_SLACK__BOT_TOKEN"
        )
    found = state.extras.get(_KEY)
    if not isinstance(found, SlackHTTP):
        found = SlackHTTP(state)
        state.extras[_KEY] = found
    return found
