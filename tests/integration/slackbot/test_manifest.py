"""The shipped Slack app manifest and the bot agree: every event and command it subscribes
to has a listener (an unhandled one would answer 404, and Slack would retry it)."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import Any

import yaml
from slack_bolt.request.async_request import AsyncBoltRequest

from opscopilot.slackbot.bot import SlackBot
from opscopilot.slackbot.commands import COMMAND
from tests.integration.slackbot.scripted import event_body, new_channel, new_ts
from tests.peers.slack import SlackStandIn

EVENTS: dict[str, dict[str, Any]] = {
    "app_home_opened": {"type": "app_home_opened", "user": "U0VERA001", "tab": "messages"},
    "app_mention": {"type": "app_mention", "user": "U0VERA001", "text": "<@U0000BOT1>"},
    "message.im": {"type": "message", "channel_type": "im", "subtype": "message_changed"},
}


def manifest() -> dict[str, Any]:
    text = (resources.files("opscopilot.slackbot") / "manifest.yaml").read_text()
    loaded: dict[str, Any] = yaml.safe_load(text)
    return loaded


async def test_every_subscribed_event_and_command_has_a_listener(
    make_bot: Callable[..., SlackBot], slack: SlackStandIn
) -> None:
    app = manifest()
    subscribed = app["settings"]["event_subscriptions"]["bot_events"]
    assert sorted(subscribed) == sorted(EVENTS)
    bot = make_bot()
    for name in subscribed:
        event = EVENTS[name] | {"channel": new_channel(), "ts": new_ts()}
        request = AsyncBoltRequest(mode="socket_mode", body=event_body(event))
        assert (await bot.app.async_dispatch(request)).status == 200, name
    [command] = app["features"]["slash_commands"]
    assert command["command"] == COMMAND
    body = {"command": COMMAND, "text": "", "user_id": "U0VERA001", "team_id": "T00000001"}
    request = AsyncBoltRequest(mode="socket_mode", body=body)
    assert (await bot.app.async_dispatch(request)).status == 200
    await bot.drain(30)
