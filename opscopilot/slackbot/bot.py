"""The composition root of the Slack bot: the Web API client, the Bolt app, the agent runner
and the background tasks that answer after Slack has been acknowledged."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any, Literal

from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from opscopilot.agent.events import AgentRunner
from opscopilot.core.errors import ServiceUnavailable
from opscopilot.core.settings import Settings
from opscopilot.store.engine import Database

log = logging.getLogger(__name__)

Mode = Literal["socket", "http"]


def make_client(settings: Settings, *, rate_limit_retries: int = 3) -> AsyncWebClient:
    """A Web API client that waits out 429s (Retry-After) and retries dropped connections.

    Not 5xx: Slack may have posted a message it answered 500 for, and a retry would show
    it twice; the reply falls back or reports instead.
    """
    token = settings.slack.bot_token
    if token is None:
        raise ServiceUnavailable("Slack is not configured: set OPSCOPILOT_SLACK__BOT_TOKEN")
    return AsyncWebClient(
        token=token.get_secret_value(),
        base_url=settings.slack.base_url,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=rate_limit_retries),
        ],
    )


class SlackBot:
    """What every listener shares. The work runs as tracked tasks after Slack's 3 s ack,
    so tests can wait for it and shutdown can give it a grace period, then cancel it."""

    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        runner: AgentRunner,
        client: AsyncWebClient,
        mode: Mode,
    ) -> None:
        self.settings = settings
        self.db = db
        self.runner = runner
        self.client = client
        self.mode = mode
        self.tasks: set[asyncio.Task[None]] = set()
        signing_secret = settings.slack.signing_secret
        if mode == "http" and signing_secret is None:
            raise ServiceUnavailable(
                "Slack HTTP events need OPSCOPILOT_SLACK__SIGNING_SECRET to verify requests"
            )
        self.app = AsyncApp(
            name="opscopilot",
            client=client,
            # Socket Mode requests are not signed; HTTP ones are always checked.
            signing_secret=signing_secret.get_secret_value() if signing_secret else "",
            request_verification_enabled=mode == "http",
            # Listeners only acknowledge and spawn a tracked task, so they may run before the
            # response: every accepted request's work is then in `tasks` when Slack gets 200.
            process_before_response=True,
        )

    def spawn(self, work: Coroutine[Any, Any, None], *, name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self.tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("slack task %s failed", task.get_name(), exc_info=task.exception())

    async def drain(self, timeout: float | None = None) -> None:
        """Wait for the running answers (including ones they start), up to `timeout`."""
        async with asyncio.timeout(timeout):
            while self.tasks:
                await asyncio.wait(list(self.tasks))

    async def close(self, *, grace_s: float) -> None:
        """Let running answers finish for `grace_s`, then cancel what is left."""
        with contextlib.suppress(TimeoutError):
            await self.drain(grace_s)
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=5)


def create_bot(
    *,
    settings: Settings,
    db: Database,
    runner: AgentRunner,
    mode: Mode,
    client: AsyncWebClient | None = None,
) -> SlackBot:
    """Build the bot and register every listener; nothing happens until Slack calls."""
    from opscopilot.slackbot import actions, commands, events

    bot = SlackBot(
        settings=settings, db=db, runner=runner, client=client or make_client(settings), mode=mode
    )
    events.register(bot)
    actions.register(bot)
    commands.register(bot)
    return bot
