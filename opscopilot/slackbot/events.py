"""Events API listeners: mentions in channels and threads, direct messages, the App Home.

Slack re-delivers an event it thinks was not handled (HTTP `X-Slack-Retry-Num`, Socket
Mode `retry_attempt`) and Bolt does not deduplicate: the `dedupe` middleware claims each
`event_id` in Postgres before any listener runs, so every replica and both modes agree
that the first delivery wins. A database error there answers 500, and Slack retries.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.response import BoltResponse

from opscopilot.slackbot import home, service
from opscopilot.slackbot.bot import SlackBot
from opscopilot.slackbot.turns import answer_question

log = logging.getLogger(__name__)


def _from_a_bot(event: dict[str, Any]) -> bool:
    return bool(event.get("bot_id") or event.get("bot_profile")) or (
        event.get("subtype") == "bot_message"
    )


def register(bot: SlackBot) -> None:
    app = bot.app

    @app.middleware
    async def dedupe(body: dict[str, Any], next: Callable[[], Awaitable[None]]) -> Any:
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id:
            async with bot.db.sessions() as session:
                first = await service.claim_event(session, event_id=str(event_id))
                await session.commit()
            if not first:
                log.info("slack event %s delivered again; already handled", event_id)
                return BoltResponse(status=200, body="")
        await next()
        return None

    @app.event("app_mention")
    async def on_mention(
        event: dict[str, Any], body: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        if _from_a_bot(event) or not event.get("user"):
            return
        bot.spawn(
            _answer(event, body.get("team_id"), context.bot_user_id),
            name=f"slack-mention-{event.get('ts')}",
        )

    @app.event("message")
    async def on_message(
        event: dict[str, Any], body: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        # Channel messages reach the bot as app_mention; here only plain DMs are answered
        # (edits, joins and other subtypes are not questions).
        if event.get("channel_type") != "im" or event.get("subtype") or _from_a_bot(event):
            return
        if not event.get("user"):
            return
        bot.spawn(
            _answer(event, body.get("team_id"), context.bot_user_id),
            name=f"slack-dm-{event.get('ts')}",
        )

    @app.event("app_home_opened")
    async def on_home_opened(event: dict[str, Any]) -> None:
        if event.get("tab") == "home" and event.get("user"):
            bot.spawn(home.publish(bot, slack_user_id=str(event["user"])), name="slack-home")

    async def _answer(event: dict[str, Any], team_id: Any, bot_user_id: str | None) -> None:
        await answer_question(
            bot,
            event=event,
            team_id=str(team_id) if team_id else None,
            bot_user_id=bot_user_id,
        )
