"""An alert's suggested action as an approval: the button drafts an action request
(actions.service), posts it in the alert's thread with Approve / Reject, and an operator's
Approve decides and exports it. The rules (roles, sites, one decision, the audit trail,
an export that is safe to repeat) are the action service's; this is only the Slack side.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from opscopilot.access.roles import Principal
from opscopilot.actions import service as actions
from opscopilot.actions.schemas import ActionRead
from opscopilot.core.errors import NotFoundError, OpsCopilotError
from opscopilot.slackbot import blocks, service
from opscopilot.slackbot.bot import SlackBot
from opscopilot.slackbot.text import escape
from opscopilot.store.models import ForecastAlert

APPROVE = "action_request_approve"
REJECT = "action_request_reject"


def register(bot: SlackBot) -> None:
    @bot.app.action(re.compile(f"^({APPROVE}|{REJECT})$"))
    async def on_decision(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        bot.spawn(decide(bot, body=body, action=action, respond=respond), name="slack-action")


async def draft_for_alert(
    bot: SlackBot,
    *,
    alert_id: uuid.UUID,
    kind: str,
    details: dict[str, Any],
    principal: Principal,
    slack_user: str,
    channel: str,
    thread_ts: str,
) -> None:
    """Draft the suggested action once per alert and kind; show it for approval."""
    async with bot.db.sessions() as session:
        alert = await session.get(ForecastAlert, alert_id)
        if alert is None or not principal.sees_site(alert.site):
            raise NotFoundError("no such alert")
        draft = await service.open_draft_for_alert(session, alert_id=alert_id, kind=kind)
        if draft is None:
            draft = await actions.draft_action(
                session,
                principal=principal,
                site=alert.site,
                kind=kind,
                sku=alert.sku,
                reason=alert.message,
                details=details,
                thread_id=service.thread_id_for(channel, thread_ts),
                alert_id=alert_id,
            )
            await session.commit()
    await bot.client.chat_postMessage(
        channel=channel,
        thread_ts=thread_ts,
        text=f"Drafted: {escape(_summary(draft))}",
        blocks=action_request_blocks(draft, drafted_by=slack_user),
        unfurl_links=False,
    )


async def decide(
    bot: SlackBot, *, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
) -> None:
    approve = action["action_id"] == APPROVE
    action_id = str(action.get("value") or "")
    slack_user = str(body["user"]["id"])
    try:
        async with bot.db.sessions() as session:
            principal = await service.principal_for(
                session, slack_user_id=slack_user, default_site=bot.settings.default_site
            )
            decided = await actions.decide_action(
                session, principal=principal, action_id=action_id, approve=approve
            )
            await session.commit()
    except OpsCopilotError as exc:
        await respond(
            text=f"Not done: {exc.message}.", response_type="ephemeral", replace_original=False
        )
        return
    outcome = f"{'approved' if approve else 'rejected'} by {blocks.mention(slack_user)}"
    if approve:
        try:
            decided = await actions.export_action(
                bot.db, settings=bot.settings, principal=principal, action_id=action_id
            )
            outcome += f", exported ({escape(decided.export_ref or 'done')})"
        except OpsCopilotError as exc:
            outcome += f", but the export failed: {escape(exc.message)}"
    message = body.get("message") or {}
    if message.get("ts"):
        await bot.client.chat_update(
            channel=str(body["channel"]["id"]),
            ts=str(message["ts"]),
            text=f"{_summary(decided)}: {outcome}",
            blocks=action_request_blocks(decided, outcome=outcome),
        )


def _summary(action: ActionRead) -> str:
    numbers = ", ".join(f"{k} {v}" for k, v in action.payload.items())
    kind = action.kind.replace("_", " ")
    return f"{kind} for {action.sku} at site {action.site}" + (f" ({numbers})" if numbers else "")


def action_request_blocks(
    action: ActionRead, *, drafted_by: str | None = None, outcome: str | None = None
) -> list[blocks.Block]:
    shown: list[blocks.Block] = [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f":memo: *Action request* {escape(_summary(action))}\n"
                f"{escape(action.reason)[:2500]}",
            },
        }
    ]
    if outcome is not None:
        when = datetime.now(UTC)
        shown.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"{outcome} at {when:%H:%M} UTC"}],
            }
        )
        return shown
    shown.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"drafted by {blocks.mention(drafted_by)} · an operator can approve",
                }
            ],
        }
    )
    shown.append(
        {
            "type": "actions",
            "block_id": f"action_request:{action.id}",
            "elements": [
                blocks.button(APPROVE, "Approve and export", action.id, "primary"),
                blocks.button(REJECT, "Reject", action.id, "danger"),
            ],
        }
    )
    return shown
