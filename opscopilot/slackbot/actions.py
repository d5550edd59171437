"""Button listeners: Approve / Reject, thumbs up / down, and the alert buttons (alerts.py).

Each acknowledges at once (Slack's 3 s deadline) and does the work in a tracked task.
Approvals are decided by the agent's runner (operator role on the approval's site, one
decision, the approver or the refusal audited); a refusal is told only to the presser.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from opscopilot.agent.events import AgentEvent, ApprovalDecision
from opscopilot.core.errors import OpsCopilotError
from opscopilot.slackbot import alerts, blocks, service, suggested
from opscopilot.slackbot.bot import SlackBot
from opscopilot.slackbot.text import escape
from opscopilot.slackbot.turns import SlackPlace, stream_turn


async def tell(respond: AsyncRespond, text: str) -> None:
    """An ephemeral answer to the person who pressed the button."""
    await respond(text=text, response_type="ephemeral", replace_original=False)


def register(bot: SlackBot) -> None:
    app = bot.app

    @app.action(re.compile(f"^({blocks.APPROVE}|{blocks.REJECT})$"))
    async def on_approval(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        bot.spawn(decide(bot, body=body, action=action, respond=respond), name="slack-approval")

    @app.action(re.compile(f"^({blocks.FEEDBACK_UP}|{blocks.FEEDBACK_DOWN})$"))
    async def on_feedback(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        bot.spawn(feedback(bot, body=body, action=action, respond=respond), name="slack-feedback")

    alerts.register(bot)
    suggested.register(bot)


async def feedback(
    bot: SlackBot, *, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
) -> None:
    value = json.loads(str(action.get("value") or "{}"))
    score = 1 if action["action_id"] == blocks.FEEDBACK_UP else -1
    try:
        async with bot.db.sessions() as session:
            await service.record_feedback(
                session,
                thread_id=str(value.get("thread_id")),
                run_id=str(value.get("run_id")),
                user_ref=f"slack:{body['user']['id']}",
                score=score,
            )
            await session.commit()
    except OpsCopilotError as exc:
        await tell(respond, exc.message)
        return
    await tell(respond, "Thanks, your feedback was saved.")


# The runner's answers that mean "not decided by this press": told only to the presser.
_REFUSALS = frozenset({"forbidden", "not_found", "conflict", "busy"})


async def decide(
    bot: SlackBot, *, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
) -> None:
    """Hand the decision to the agent, which checks the role and the site, audits the
    approver (or the refusal) and claims the approval once; then show the outcome."""
    approve = action["action_id"] == blocks.APPROVE
    approval_id = str(action.get("value") or "")
    slack_user = str(body["user"]["id"])
    try:
        async with bot.db.sessions() as session:
            principal = await service.principal_for(
                session, slack_user_id=slack_user, default_site=bot.settings.default_site
            )
            approval, thread = await service.approval_with_thread(session, approval_id=approval_id)
    except OpsCopilotError as exc:
        await tell(respond, exc.message)
        return
    decision = ApprovalDecision(approval_id=approval_id, approve=approve, principal=principal)
    events = bot.runner.resume(decision)
    first = await anext(events, None)
    if first is None:
        return
    if first.type == "error" and first.data.get("code") in _REFUSALS:
        await tell(respond, f"Not done: {first.data.get('message')}.")
        return
    if approval.slack_channel and approval.slack_ts:
        await bot.client.chat_update(
            channel=approval.slack_channel,
            ts=approval.slack_ts,
            text=f"{'Approved' if approve else 'Rejected'}: {escape(approval.description)}",
            blocks=blocks.approval_outcome(
                tool=approval.tool_name,
                description=approval.description,
                approved=approve,
                decided_by=slack_user,
                when=datetime.now(UTC),
            ),
        )
    place = SlackPlace(
        channel=(thread.slack_channel if thread else None)
        or approval.slack_channel
        or str(body["channel"]["id"]),
        thread_ts=(thread.slack_thread_ts if thread else None) or _thread_ts_of(body),
        user_id=slack_user,
        team_id=(body.get("team") or {}).get("id"),
    )
    await stream_turn(bot, place=place, thread_id=approval.thread_id, events=_chain(first, events))


async def _chain(first: AgentEvent, rest: AsyncIterator[AgentEvent]) -> AsyncIterator[AgentEvent]:
    yield first
    async for event in rest:
        yield event


def _thread_ts_of(body: dict[str, Any]) -> str:
    message = body.get("message") or {}
    container = body.get("container") or {}
    return str(message.get("thread_ts") or container.get("thread_ts") or message.get("ts"))
