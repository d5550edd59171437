"""Buttons on forecast alert messages (posted by notify/): acknowledge, snooze 4 h or 1 day,
open in the web chat, and the suggested action, drafted as an action request to approve.

The contract is notify's (`notify.events.alert_actions`): the buttons carry the action
ids below and the alert id as their value (the suggested action: JSON with the alert id,
its kind and details). Acknowledge and snooze belong to the alert service
(`forecasting.service`, audited there); this module routes a click to them and shows the
outcome on the message.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from opscopilot.access.roles import Principal
from opscopilot.core.errors import NotFoundError, OpsCopilotError, PermissionDenied
from opscopilot.forecasting import service as alert_service
from opscopilot.slackbot import blocks, service, suggested
from opscopilot.slackbot.bot import SlackBot

ACKNOWLEDGE = "alert_ack"
SNOOZE_4H = "alert_snooze_4h"
SNOOZE_1D = "alert_snooze_1d"
OPEN_IN_CHAT = "alert_open_chat"
SUGGESTED_ACTION = "alert_suggested_action"
SNOOZES = {SNOOZE_4H: timedelta(hours=4), SNOOZE_1D: timedelta(days=1)}
STATUS_BLOCK = "alert_status"


@dataclass(frozen=True)
class AlertClick:
    action_id: str
    alert_id: uuid.UUID
    slack_user: str
    principal: Principal
    channel: str
    message: dict[str, Any]
    team_id: str | None
    respond: AsyncRespond
    details: dict[str, Any] = field(default_factory=dict)


Handler = Callable[[SlackBot, AlertClick], Awaitable[None]]


def register(bot: SlackBot) -> None:
    @bot.app.action(re.compile(r"^alert_"))
    async def on_alert_button(
        ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        bot.spawn(dispatch(bot, body=body, action=action, respond=respond), name="slack-alert")


async def dispatch(
    bot: SlackBot, *, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
) -> None:
    action_id = str(action.get("action_id"))
    handler = HANDLERS.get(action_id)
    try:
        if handler is None:
            raise NotFoundError(f"unknown alert button {action_id}")
        alert_id, details = _parse_value(str(action.get("value") or ""))
        slack_user = str(body["user"]["id"])
        async with bot.db.sessions() as session:
            principal = await service.principal_for(
                session, slack_user_id=slack_user, default_site=bot.settings.default_site
            )
        click = AlertClick(
            action_id=action_id,
            alert_id=alert_id,
            slack_user=slack_user,
            principal=principal,
            channel=str(body["channel"]["id"]),
            message=dict(body.get("message") or {}),
            team_id=(body.get("team") or {}).get("id"),
            respond=respond,
            details=details,
        )
        await handler(bot, click)
    except OpsCopilotError as exc:
        await respond(text=exc.message, response_type="ephemeral", replace_original=False)


def _parse_value(value: str) -> tuple[uuid.UUID, dict[str, Any]]:
    """The alert id, and the suggested action's kind and details when the value is JSON."""
    try:
        if value.startswith("{"):
            parsed = json.loads(value)
            return uuid.UUID(str(parsed.get("alert_id"))), parsed
        return uuid.UUID(value), {}
    except (ValueError, AttributeError):
        raise NotFoundError("this button does not name an alert") from None


def _require_operator(click: AlertClick) -> None:
    # The same gate as the REST routes (the Writer dependency); the service checks the site.
    if not click.principal.can("operator"):
        raise PermissionDenied(
            f"only an operator can change an alert; you are {click.principal.role}"
        )


async def acknowledge(bot: SlackBot, click: AlertClick) -> None:
    _require_operator(click)
    async with bot.db.sessions() as session:
        await alert_service.acknowledge_alert(
            session, alert_id=click.alert_id, principal=click.principal
        )
        await session.commit()
    await _show_status(
        bot,
        click,
        f":white_check_mark: Acknowledged by {blocks.mention(click.slack_user)}",
        keep_buttons=False,
    )


async def snooze(bot: SlackBot, click: AlertClick) -> None:
    _require_operator(click)
    until = datetime.now(UTC) + SNOOZES[click.action_id]
    async with bot.db.sessions() as session:
        await alert_service.snooze_alert(
            session, alert_id=click.alert_id, until=until, principal=click.principal
        )
        await session.commit()
    await _show_status(
        bot,
        click,
        f":zzz: Snoozed until {until:%Y-%m-%d %H:%M} UTC by {blocks.mention(click.slack_user)}",
        keep_buttons=True,
    )


async def open_in_chat(bot: SlackBot, click: AlertClick) -> None:
    base = bot.settings.api.public_url.rstrip("/")
    await click.respond(
        text=f"<{base}/?alert={click.alert_id}|Open this alert in the web chat>",
        response_type="ephemeral",
        replace_original=False,
    )


async def suggested_action(bot: SlackBot, click: AlertClick) -> None:
    ts = str(click.message.get("ts") or "")
    if not ts:
        raise NotFoundError("this button is not on a message")
    await suggested.draft_for_alert(
        bot,
        alert_id=click.alert_id,
        kind=str(click.details.get("kind") or "purchase_request"),
        details=dict(click.details.get("details") or {}),
        principal=click.principal,
        slack_user=click.slack_user,
        channel=click.channel,
        thread_ts=str(click.message.get("thread_ts") or ts),
    )


async def _show_status(bot: SlackBot, click: AlertClick, line: str, *, keep_buttons: bool) -> None:
    """The alert message with its outcome line (and without its buttons once settled)."""
    ts = click.message.get("ts")
    if not ts:
        return
    kept = [
        b
        for b in click.message.get("blocks") or []
        if b.get("block_id") != STATUS_BLOCK and (keep_buttons or b.get("type") != "actions")
    ]
    status = {
        "type": "context",
        "block_id": STATUS_BLOCK,
        "elements": [{"type": "mrkdwn", "text": f"{line} at {datetime.now(UTC):%H:%M} UTC"}],
    }
    await bot.client.chat_update(
        channel=click.channel,
        ts=str(ts),
        text=str(click.message.get("text") or "Alert"),
        blocks=[*kept, status],
    )


HANDLERS: dict[str, Handler] = {
    ACKNOWLEDGE: acknowledge,
    SNOOZE_4H: snooze,
    SNOOZE_1D: snooze,
    OPEN_IN_CHAT: open_in_chat,
    SUGGESTED_ACTION: suggested_action,
}
