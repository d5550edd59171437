"""`/copilot <question>`: a quick answer only the asker sees.

Acknowledged at once with "Thinking…"; the answer follows through the command's
response_url (ephemeral, split in parts of at most TEXT_LIMIT characters; Slack accepts
five posts per response_url). Each command is its own agent thread.
"""

from __future__ import annotations

import uuid
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from opscopilot.access.ratelimit import hit
from opscopilot.agent.events import TurnRequest
from opscopilot.core.errors import OpsCopilotError
from opscopilot.slackbot import service
from opscopilot.slackbot.bot import SlackBot
from opscopilot.slackbot.text import escape, refusal, split
from opscopilot.store.models import ChatThread

COMMAND = "/copilot"
HELP = (
    "Ask me something, e.g. `/copilot how much ITEM-001 is in stock?` or "
    "`/copilot active alerts`. Mention me in a channel for a threaded answer."
)
_MAX_RESPONSES = 5


def register(bot: SlackBot) -> None:
    @bot.app.command(COMMAND)
    async def on_copilot(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        question = str(command.get("text") or "").strip()
        if not question:
            await ack(text=HELP, response_type="ephemeral")
            return
        await ack(text=f"Thinking about: {escape(question)[:300]}", response_type="ephemeral")
        bot.spawn(
            quick_answer(bot, command=command, question=question, respond=respond),
            name="slack-command",
        )


async def quick_answer(
    bot: SlackBot, *, command: dict[str, Any], question: str, respond: AsyncRespond
) -> None:
    slack_user = str(command["user_id"])
    settings = bot.settings
    try:
        async with bot.db.sessions() as session:
            principal = await service.principal_for(
                session, slack_user_id=slack_user, default_site=settings.default_site
            )
            await hit(
                session, key=f"chat:slack:{slack_user}", limit=settings.api.rate_limit_chat_per_min
            )
            site = service.home_site(principal, settings.default_site)
            thread = ChatThread(
                id=f"slack-command:{uuid.uuid4().hex}",
                user_id=principal.user_id,
                surface="slack",
                title=question[:120],
                site=site,
            )
            session.add(thread)
            await session.commit()
    except OpsCopilotError as exc:
        await respond(text=escape(refusal(exc)), response_type="ephemeral")
        return
    request = TurnRequest(
        thread_id=thread.id, message=question, principal=principal, site=site, surface="slack"
    )
    tokens: list[str] = []
    answer = ""
    notes: list[str] = []
    async for event in bot.runner.run(request):
        if event.type == "token":
            tokens.append(str(event.data.get("text") or ""))
        elif event.type == "done":
            answer = str(event.data.get("answer") or "")
        elif event.type == "error":
            notes.append(f":warning: {event.data.get('message') or 'the agent stopped'}")
        elif event.type == "approval_required":
            notes.append(
                f":lock: This needs an operator's approval ({event.data.get('description')}). "
                "Mention me in a channel to get Approve / Reject buttons."
            )
    text = "".join(tokens) or answer
    parts = split(escape("\n\n".join(p for p in (text, *notes) if p)))
    if len(parts) > _MAX_RESPONSES:
        parts = [*parts[: _MAX_RESPONSES - 1], escape("… the answer goes on: ask in a thread.")]
    for part in parts:
        await respond(
            text=part,
            blocks=[{"type": "markdown", "text": part}],
            response_type="ephemeral",
            replace_original=False,
        )
