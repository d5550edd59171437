"""Socket Mode: `opscopilot slack` holds one websocket to Slack (no public URL needed).

Slack delivers events and button presses over it; the handler acks each envelope after
Bolt's dispatch, which returns as soon as the listener has acknowledged (the agent runs
afterwards in the bot's tasks). Redeliveries carry `retry_attempt` and are deduplicated
on the event id like HTTP retries.
"""

from __future__ import annotations

import logging

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from opscopilot.core.errors import ServiceUnavailable
from opscopilot.slackbot.bot import SlackBot

log = logging.getLogger(__name__)


class SocketModeConnection:
    def __init__(self, bot: SlackBot) -> None:
        app_token = bot.settings.slack.app_token
        if app_token is None:
            raise ServiceUnavailable(
                "Socket Mode needs an app-level token: set OPSCOPILOT_SLACK__APP_TOKEN (xapp-…)"
            )
        self.bot = bot
        self.handler = AsyncSocketModeHandler(bot.app, app_token=app_token.get_secret_value())

    async def connect(self) -> None:
        await self.handler.connect_async()  # type: ignore[no-untyped-call]
        log.info("slack socket mode connected")

    async def close(self, *, grace_s: float) -> None:
        """Stop taking events, then give the answers in flight `grace_s` to finish."""
        await self.handler.close_async()  # type: ignore[no-untyped-call]
        await self.bot.close(grace_s=grace_s)
        log.info("slack socket mode closed")
