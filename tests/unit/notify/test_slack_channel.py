"""Slack adapter (slack_sdk AsyncWebClient) against the loopback Slack Web API stand-in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from opscopilot.notify.channels.base import (
    Action,
    OutgoingMessage,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from opscopilot.notify.channels.slack import SlackChannel
from tests.peers._http import free_port
from tests.peers.slack import SlackStandIn

MakeMessage = Callable[..., OutgoingMessage]
CHART = b"\x89PNG\r\n\x1a\n" + b"chart-bytes" * 100
ACTIONS = (
    Action(id="ack", label="Acknowledge", value="alert-1:ack", style="primary"),
    Action(id="snooze", label="Snooze 1 day", value="alert-1:snooze"),
)


def channel(peer: SlackStandIn, token: str | None = None) -> SlackChannel:
    return SlackChannel(token=token or peer.token, base_url=peer.base_url, timeout=5)


def blocks_of(peer: SlackStandIn) -> list[dict[str, Any]]:
    [message] = peer.messages
    assert message.blocks is not None
    return message.blocks


async def test_dm_with_title_severity_text_and_buttons(
    slack: SlackStandIn, make_message: MakeMessage
) -> None:
    message = make_message(recipient="U0123ABCD", actions=ACTIONS)

    result = await channel(slack).deliver(message)

    assert [c.method for c in slack.calls] == ["conversations.open", "chat.postMessage"]
    assert slack.calls[0].body["users"] == "U0123ABCD"
    [posted] = slack.messages
    assert posted.channel == "D0123ABCD"
    assert (result.provider_message_id, result.conversation_id) == (posted.ts, posted.channel)
    assert posted.text == f"[CRITICAL] {message.title}"
    assert posted.metadata is not None
    assert posted.metadata["event_payload"]["notification_id"] == str(message.notification_id)
    header, context, section, actions = blocks_of(slack)
    assert header == {"type": "header", "text": {"type": "plain_text", "text": message.title}}
    assert "*CRITICAL*" in context["elements"][0]["text"]
    assert section["text"]["text"] == message.text
    assert actions["block_id"] == f"notification:{message.notification_id}"
    assert [
        (b["action_id"], b["text"]["text"], b["value"], b.get("style")) for b in actions["elements"]
    ] == [
        ("ack", "Acknowledge", "alert-1:ack", "primary"),
        ("snooze", "Snooze 1 day", "alert-1:snooze", None),
    ]


async def test_channel_post_without_buttons(slack: SlackStandIn, make_message: MakeMessage) -> None:
    await channel(slack).deliver(make_message(recipient="#plant-ops"))

    assert [c.method for c in slack.calls] == ["chat.postMessage"]
    assert slack.calls[0].body["channel"] == "#plant-ops"
    assert [b["type"] for b in blocks_of(slack)] == ["header", "context", "section"]


async def test_chart_is_uploaded_into_the_same_conversation(
    slack: SlackStandIn, make_message: MakeMessage
) -> None:
    message = make_message(recipient="U0123ABCD", chart_png=CHART)

    result = await channel(slack).deliver(message)

    assert [c.method for c in slack.calls] == [
        "conversations.open",
        "chat.postMessage",
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]
    [file] = slack.files
    assert file.content == CHART
    assert file.shared and file.channel == result.conversation_id
    assert file.title == message.title
    assert file.filename.endswith(".png")


async def test_text_cannot_ping_the_channel(slack: SlackStandIn, make_message: MakeMessage) -> None:
    await channel(slack).deliver(make_message(recipient="C0PLANT01", text="<!channel> & <x|y>"))

    section = blocks_of(slack)[2]
    assert section["text"]["text"] == "&lt;!channel&gt; &amp; &lt;x|y&gt;"


async def test_template_blocks_are_used_and_long_headers_fitted(
    slack: SlackStandIn, make_message: MakeMessage
) -> None:
    blocks = (
        {"type": "header", "text": {"type": "plain_text", "text": "H" * 200}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "from the template"}},
    )
    await channel(slack).deliver(
        make_message(recipient="C0PLANT01", slack_blocks=blocks, actions=ACTIONS[:1])
    )

    header, section, actions = blocks_of(slack)
    assert len(header["text"]["text"]) == 150
    assert section["text"]["text"] == "from the template"
    assert actions["type"] == "actions"


async def test_429_gives_retry_after_and_the_retry_posts_once(
    slack: SlackStandIn, make_message: MakeMessage
) -> None:
    slack.fail_next(1, status=429, retry_after=3, method="chat.postMessage")
    message = make_message(recipient="C0PLANT01")
    sender = channel(slack)

    with pytest.raises(TransientDeliveryError) as caught:
        await sender.deliver(message)
    assert caught.value.retry_after == 3.0
    assert slack.messages == []

    await sender.deliver(message)
    assert len(slack.messages) == 1
    assert [c.status for c in slack.calls_to("chat.postMessage")] == [429, 200]


async def test_500_is_transient(slack: SlackStandIn, make_message: MakeMessage) -> None:
    slack.fail_next(1, status=500)
    with pytest.raises(TransientDeliveryError) as caught:
        await channel(slack).deliver(make_message(recipient="C0PLANT01"))
    assert caught.value.retry_after is None
    assert slack.messages == []


@pytest.mark.parametrize(
    ("recipient", "token", "error"),
    [
        ("U0GONE001", None, "user_not_found"),
        ("C0GONE001", None, "channel_not_found"),
        ("C0PLANT01", "xoxb-wrong", "invalid_auth"),
    ],
)
async def test_refusals_are_permanent(
    recipient: str, token: str | None, error: str, slack: SlackStandIn, make_message: MakeMessage
) -> None:
    slack.unknown_ids |= {"U0GONE001", "C0GONE001"}
    with pytest.raises(PermanentDeliveryError, match=error):
        await channel(slack, token=token).deliver(make_message(recipient=recipient))
    assert slack.messages == []


async def test_failed_chart_upload_keeps_ts_and_retry_edits_instead_of_reposting(
    slack: SlackStandIn, make_message: MakeMessage
) -> None:
    slack.fail_next(1, status=500, method="files.getUploadURLExternal")
    message = make_message(recipient="C0PLANT01", chart_png=CHART)
    sender = channel(slack)

    with pytest.raises(TransientDeliveryError) as caught:
        await sender.deliver(message)
    partial = caught.value.partial
    assert partial is not None

    result = await sender.deliver(
        make_message(
            notification_id=message.notification_id,
            recipient="C0PLANT01",
            chart_png=CHART,
            previous=partial,
        )
    )

    assert result == partial
    assert len(slack.calls_to("chat.postMessage")) == 1
    [posted] = slack.messages
    assert (posted.ts, posted.edits) == (partial.provider_message_id, 1)
    assert [f.content for f in slack.files if f.shared] == [CHART]


async def test_slack_unreachable_is_transient(make_message: MakeMessage) -> None:
    sender = SlackChannel(token="xoxb-1", base_url=f"http://127.0.0.1:{free_port()}/api/")
    with pytest.raises(TransientDeliveryError, match="unreachable"):
        await sender.deliver(make_message(recipient="C0PLANT01"))
