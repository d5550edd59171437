"""Socket Mode: Bolt's dispatch entry point, and the full AsyncSocketModeHandler against a
loopback websocket (hello, events_api envelopes, acks, redeliveries)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest
from slack_bolt.adapter.socket_mode.async_internals import run_async_bolt_app
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.socket_mode.request import SocketModeRequest

from opscopilot.slackbot.bot import SlackBot
from opscopilot.slackbot.service import thread_id_for
from opscopilot.slackbot.socket import SocketModeConnection
from opscopilot.store.engine import Database
from tests.integration.slackbot.conftest import runs_of
from tests.integration.slackbot.scripted import direct_message, mention, new_channel
from tests.peers.slack import SlackStandIn
from tests.peers.slack_socket import SocketModeStandIn


@pytest.fixture
def socket_peer(slack: SlackStandIn) -> Iterator[SocketModeStandIn]:
    with SocketModeStandIn(slack) as peer:
        yield peer


def envelope(body: dict[str, object], attempt: int) -> SocketModeRequest:
    request = SocketModeRequest.from_dict(
        {
            "type": "events_api",
            "envelope_id": f"env-{attempt}",
            "payload": body,
            "accepts_response_payload": False,
            "retry_attempt": attempt,
            "retry_reason": "timeout" if attempt else "",
        }
    )
    assert request is not None
    return request


async def test_dispatch_runs_a_mention_without_any_signature(
    make_bot: Callable[..., SlackBot], slack: SlackStandIn, clean_db: Database
) -> None:
    bot = make_bot()
    channel = new_channel()
    body = mention("what can you do?", channel=channel)
    response = await bot.app.async_dispatch(AsyncBoltRequest(mode="socket_mode", body=body))
    assert response.status == 200
    await bot.drain(30)
    ts = body["event"]["ts"]
    assert [m.thread_ts for m in slack.messages] == [ts]
    assert await runs_of(clean_db, thread_id_for(channel, ts)) == 1


async def test_redelivered_envelopes_run_the_agent_once(
    make_bot: Callable[..., SlackBot], slack: SlackStandIn, clean_db: Database
) -> None:
    bot = make_bot()
    channel = new_channel()
    body = mention("what can you do?", channel=channel)
    statuses = []
    for attempt in range(4):
        response = await run_async_bolt_app(bot.app, envelope(body, attempt))
        statuses.append(response.status)
    await bot.drain(30)
    assert statuses == [200, 200, 200, 200]
    ts = body["event"]["ts"]
    assert len([m for m in slack.messages if m.thread_ts == ts]) == 1
    assert await runs_of(clean_db, thread_id_for(channel, ts)) == 1


async def test_own_and_other_bots_messages_are_ignored(
    make_bot: Callable[..., SlackBot], slack: SlackStandIn
) -> None:
    bot = make_bot()
    channel = "D" + new_channel()[1:]
    own = direct_message("hello", channel=channel, user="U0000BOT1")
    own["event"]["bot_id"] = "B00000001"
    other = direct_message("beep", channel=channel, user="U0OTHERBOT")
    other["event"]["bot_id"] = "B0OTHER01"
    subtype = direct_message("edited", channel=channel)
    subtype["event"]["subtype"] = "message_changed"
    for body in (own, other, subtype):
        await bot.app.async_dispatch(AsyncBoltRequest(mode="socket_mode", body=body))
    await bot.drain(30)
    assert not [c for c in slack.calls if c.method.startswith("chat.")]


async def test_a_direct_message_is_answered_in_its_thread(
    make_bot: Callable[..., SlackBot], slack: SlackStandIn
) -> None:
    bot = make_bot()
    channel = "D" + new_channel()[1:]
    body = direct_message("what can you do?", channel=channel)
    await bot.app.async_dispatch(AsyncBoltRequest(mode="socket_mode", body=body))
    await bot.drain(30)
    [reply] = slack.messages
    assert (reply.channel, reply.thread_ts) == (channel, body["event"]["ts"])
    assert "offline" in reply.text.lower()


async def test_socket_mode_handler_acks_answers_and_ignores_redelivery(
    make_bot: Callable[..., SlackBot],
    slack: SlackStandIn,
    socket_peer: SocketModeStandIn,
    clean_db: Database,
) -> None:
    bot = make_bot()
    connection = SocketModeConnection(bot)
    await connection.connect()
    try:
        await asyncio.to_thread(socket_peer.wait_connected)
        channel = new_channel()
        body = mention("what can you do?", channel=channel)
        first = socket_peer.send_event(body)
        await _until(lambda: socket_peer.acked(first))
        await _until(lambda: bool(slack.calls_to("chat.stopStream")))
        again = socket_peer.send_event(body, retry_attempt=1)
        await _until(lambda: socket_peer.acked(again))
        await bot.drain(30)
    finally:
        await connection.close(grace_s=10)
    ts = body["event"]["ts"]
    assert len([m for m in slack.messages if m.thread_ts == ts]) == 1
    assert await runs_of(clean_db, thread_id_for(channel, ts)) == 1
    assert len(slack.calls_to("apps.connections.open")) >= 1


async def _until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.02)
