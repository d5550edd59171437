"""The Slack stand-in speaks enough of the Web API for slack_sdk (shared with the bot's tests)."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.peers.slack import SlackStandIn


def client(peer: SlackStandIn) -> AsyncWebClient:
    return AsyncWebClient(token=peer.token, base_url=peer.base_url, retry_handlers=[])


async def test_auth_test_identifies_the_bot(slack: SlackStandIn) -> None:
    answer = await client(slack).auth_test()
    assert (answer["user_id"], answer["team_id"]) == (slack.bot_user_id, slack.team_id)


async def test_streamed_reply_accumulates_into_one_threaded_message(slack: SlackStandIn) -> None:
    web = client(slack)
    parent = await web.chat_postMessage(channel="C0PLANT01", text="question")
    stream = await web.chat_stream(
        channel="C0PLANT01",
        thread_ts=parent["ts"],
        recipient_team_id=slack.team_id,
        recipient_user_id="U0123ABCD",
        buffer_size=8,
    )
    for piece in ("Stock of ", "ITEM-001 ", "lasts 4 days."):
        await stream.append(markdown_text=piece)
    await stream.stop()

    methods = [c.method for c in slack.calls]
    assert methods[:2] == ["chat.postMessage", "chat.startStream"]
    assert methods[-1] == "chat.stopStream"
    reply = next(m for m in slack.messages if m.thread_ts == parent["ts"])
    assert reply.text == "Stock of ITEM-001 lasts 4 days."
    assert not reply.streaming


async def test_update_status_view_and_reactions_are_recorded(slack: SlackStandIn) -> None:
    web = client(slack)
    posted = await web.chat_postMessage(channel="C0PLANT01", text="draft")
    await web.chat_update(channel=posted["channel"], ts=posted["ts"], text="final")
    await web.assistant_threads_setStatus(
        channel_id="D0123ABCD", thread_ts=posted["ts"], status="is thinking…"
    )
    await web.views_publish(user_id="U0123ABCD", view={"type": "home", "blocks": []})
    await web.reactions_add(channel=posted["channel"], timestamp=posted["ts"], name="eyes")

    [message] = slack.messages
    assert (message.text, message.edits) == ("final", 1)
    assert slack.calls_to("assistant.threads.setStatus")[0].body["status"] == "is thinking…"
    assert slack.calls_to("views.publish")[0].body["view"]["type"] == "home"
    assert slack.calls_to("reactions.add")[0].body["name"] == "eyes"


async def test_failures_on_demand_then_recovery(slack: SlackStandIn) -> None:
    slack.fail_next(2, status=500, method="chat.update")
    web = client(slack)
    posted = await web.chat_postMessage(channel="C0PLANT01", text="a")
    for _ in range(2):
        with pytest.raises(SlackApiError) as caught:
            await web.chat_update(channel=posted["channel"], ts=posted["ts"], text="b")
        assert caught.value.response.status_code == 500
    await web.chat_update(channel=posted["channel"], ts=posted["ts"], text="b")
    assert [c.status for c in slack.calls_to("chat.update")] == [500, 500, 200]
