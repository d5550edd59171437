"""Agent turns in Slack threads: a question (or an approval decision) in, the agent's
events out as one streamed reply, approval messages and feedback buttons.

This is the Slack edge: a failure of the agent or of Slack ends in a short notice in the
thread (and the log), never in silence.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from opscopilot.access.ratelimit import hit
from opscopilot.agent.events import AgentEvent, TurnRequest
from opscopilot.core.errors import OpsCopilotError
from opscopilot.core.logging import thread_id_var
from opscopilot.slackbot import blocks, service
from opscopilot.slackbot.bot import SlackBot
from opscopilot.slackbot.reply import ThreadReply
from opscopilot.slackbot.text import escape, question_from, refusal

log = logging.getLogger(__name__)

_FAILED = "\n\n:warning: Something went wrong while answering. Please ask again."
_INTERRUPTED = "\n\n:warning: Interrupted: the bot restarted. Please ask again."


@dataclass(frozen=True)
class SlackPlace:
    """Where an answer goes, and to whom it streams."""

    channel: str
    thread_ts: str
    user_id: str
    team_id: str | None


def place_of(event: dict[str, Any], team_id: str | None) -> SlackPlace:
    # A reply always goes under the thread's parent, never under a reply.
    return SlackPlace(
        channel=str(event["channel"]),
        thread_ts=str(event.get("thread_ts") or event["ts"]),
        user_id=str(event["user"]),
        team_id=team_id,
    )


async def answer_question(
    bot: SlackBot, *, event: dict[str, Any], team_id: str | None, bot_user_id: str | None
) -> None:
    """A mention or a DM: find or start the agent thread and stream the answer into it."""
    place = place_of(event, team_id)
    question = question_from(str(event.get("text") or ""), bot_user_id=bot_user_id)
    if not question:
        await post_notice(bot, place, "Ask me about stock, forecasts, alerts or ingestion.")
        return
    settings = bot.settings
    try:
        async with bot.db.sessions() as session:
            principal = await service.principal_for(
                session, slack_user_id=place.user_id, default_site=settings.default_site
            )
            await hit(
                session,
                key=f"chat:slack:{place.user_id}",
                limit=settings.api.rate_limit_chat_per_min,
            )
            thread = await service.open_thread(
                session,
                channel=place.channel,
                thread_ts=place.thread_ts,
                principal=principal,
                default_site=settings.default_site,
                title=question,
            )
            await session.commit()
    except OpsCopilotError as exc:
        await post_notice(bot, place, refusal(exc))
        return
    request = TurnRequest(
        thread_id=thread.id,
        message=question,
        principal=principal,
        site=thread.site or settings.default_site,
        surface="slack",
    )
    await stream_turn(bot, place=place, thread_id=thread.id, events=bot.runner.run(request))


async def stream_turn(
    bot: SlackBot, *, place: SlackPlace, thread_id: str, events: AsyncIterator[AgentEvent]
) -> None:
    """Render one run of the agent into the thread at `place`."""
    token = thread_id_var.set(thread_id)
    reply = ThreadReply(
        bot.client,
        channel=place.channel,
        thread_ts=place.thread_ts,
        recipient_user_id=place.user_id,
        recipient_team_id=place.team_id,
    )
    run_id: str | None = None
    answer = ""
    failed = False
    try:
        async for event in events:
            data = event.data
            if event.type == "token":
                await reply.write(str(data.get("text") or ""))
            elif event.type == "status":
                await reply.status(str(data.get("text") or ""))
            elif event.type == "approval_required":
                await post_approval(bot, place=place, data=data)
            elif event.type == "done":
                run_id = str(data.get("run_id") or "") or None
                answer = str(data.get("answer") or "")
            elif event.type == "error":
                failed = True
                await reply.write(f"\n\n:warning: {data.get('message') or 'the agent stopped'}")
    except asyncio.CancelledError:
        await reply.write(_INTERRUPTED)
        await reply.finish()
        raise
    except Exception:
        log.exception("agent turn failed in slack thread %s", thread_id)
        failed = True
        await reply.write(_FAILED)
    finally:
        # A turn left early (Slack failed) must end now, releasing the thread's lease.
        close = getattr(events, "aclose", None)
        if close is not None:
            await close()
        thread_id_var.reset(token)
    if not reply.written and answer:
        await reply.write(answer)
    if run_id is not None and not failed:
        await reply.finish(blocks=blocks.feedback(thread_id=thread_id, run_id=run_id))
    else:
        await reply.finish()


async def post_approval(bot: SlackBot, *, place: SlackPlace, data: dict[str, Any]) -> None:
    """The Approve / Reject message for a write the agent proposed, in the same thread."""
    approval_id = str(data["approval_id"])
    description = str(data.get("description") or "")
    posted = await bot.client.chat_postMessage(
        channel=place.channel,
        thread_ts=place.thread_ts,
        text=f"Approval needed: {escape(description)}",
        blocks=blocks.approval_request(
            approval_id=approval_id,
            tool=str(data.get("tool") or ""),
            description=description,
            arguments=dict(data.get("arguments") or {}),
            requested_by=place.user_id,
        ),
        unfurl_links=False,
        unfurl_media=False,
    )
    async with bot.db.sessions() as session:
        await service.attach_approval_message(
            session, approval_id=approval_id, channel=str(posted["channel"]), ts=str(posted["ts"])
        )
        await session.commit()


async def post_notice(bot: SlackBot, place: SlackPlace, text: str) -> None:
    await bot.client.chat_postMessage(
        channel=place.channel,
        thread_ts=place.thread_ts,
        text=escape(text),
        blocks=blocks.notice(text),
    )
