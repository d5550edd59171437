"""How answers reach Slack: streaming, the chat.update fallback, splitting past 12,000
characters, rate limits and escaping, against the Slack stand-in."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from slack_bolt.request.async_request import AsyncBoltRequest

from opscopilot.agent.runtime import GraphAgentRunner
from opscopilot.slackbot.bot import SlackBot, make_client
from opscopilot.slackbot.reply import ThreadReply
from opscopilot.slackbot.text import TEXT_LIMIT, escape, split
from tests.integration.slackbot.conftest import bot_settings
from tests.integration.slackbot.scripted import (
    answer,
    call,
    last_tool_result,
    mention,
    new_channel,
    new_ts,
)
from tests.peers.slack import SlackStandIn


class ManualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def long_answer() -> str:
    lines = [f"{i:05d} ITEM-{i:03d} <on hand> & on order: {i * 7} units" for i in range(900)]
    return "\n".join(lines)


async def ask(bot: SlackBot, text: str, channel: str) -> str:
    body = mention(text, channel=channel)
    await bot.app.async_dispatch(AsyncBoltRequest(mode="socket_mode", body=body))
    await bot.drain(60)
    return str(body["event"]["ts"])


async def test_a_long_answer_is_split_and_nothing_is_lost(
    make_bot: Callable[..., SlackBot],
    scripted: Callable[..., GraphAgentRunner],
    slack: SlackStandIn,
) -> None:
    text = long_answer()
    assert len(text) > 2 * TEXT_LIMIT
    async with scripted(answer(text)) as runner:
        ts = await ask(make_bot(runner), "list everything", new_channel())
    parts = [m for m in slack.messages if m.thread_ts == ts]
    assert len(parts) == len(split(escape(text))) >= 3
    assert all(len(m.text) <= TEXT_LIMIT for m in parts)
    assert "".join(m.text for m in parts) == escape(text)
    assert not any(m.streaming for m in parts)
    # The feedback buttons sit under the end of the answer only.
    assert [bool(m.blocks) for m in parts] == [False] * (len(parts) - 1) + [True]


async def test_streaming_unavailable_falls_back_to_throttled_updates(
    migrated: str, slack: SlackStandIn
) -> None:
    slack.handle("chat.startStream", lambda body: {"ok": False, "error": "unknown_method"})
    client = make_client(bot_settings(migrated, slack))
    clock = ManualClock()
    channel, thread_ts = new_channel(), new_ts()
    reply = ThreadReply(
        client,
        channel=channel,
        thread_ts=thread_ts,
        flush_chars=10,
        flush_interval_s=0.2,
        update_interval_s=1.0,
        clock=clock,
    )
    words = [f"word{i} " for i in range(200)]
    for word in words:  # 200 words over 10 s of (manual) time
        await reply.write(word)
        clock.now += 0.05
    await reply.finish()
    [message] = slack.messages
    assert message.text == "".join(words)
    assert len(slack.calls_to("chat.postMessage")) == 1
    updates = slack.calls_to("chat.update")
    assert 5 <= len(updates) <= 12  # about one per second, plus the last one


async def test_an_expired_stream_goes_on_with_chat_update_of_the_same_message(
    migrated: str, slack: SlackStandIn
) -> None:
    slack.handle(
        "chat.appendStream", lambda body: {"ok": False, "error": "message_not_in_streaming_state"}
    )
    client = make_client(bot_settings(migrated, slack))
    reply = ThreadReply(
        client, channel=new_channel(), thread_ts=new_ts(), flush_chars=5, update_interval_s=0
    )
    words = [f"part{i} " for i in range(20)]
    for word in words:
        await reply.write(word)
    await reply.finish(blocks=[{"type": "divider"}])
    [message] = slack.messages
    assert message.text == "".join(words)
    assert reply.mode == "update"
    assert {c.body["ts"] for c in slack.calls_to("chat.update")} == {message.ts}
    assert message.blocks is not None and message.blocks[-1] == {"type": "divider"}


async def test_rate_limited_once_is_posted_once_after_retry_after(
    make_bot: Callable[..., SlackBot],
    scripted: Callable[..., GraphAgentRunner],
    slack: SlackStandIn,
) -> None:
    slack.fail_next(1, status=429, retry_after=1, method="chat.startStream")
    async with scripted(answer("Stock is 42.")) as runner:
        bot = make_bot(runner)
        started = time.monotonic()
        ts = await ask(bot, "stock?", new_channel())
        elapsed = time.monotonic() - started
    starts = slack.calls_to("chat.startStream")
    assert [c.status for c in starts] == [429, 200]
    assert [m.text for m in slack.messages if m.thread_ts == ts] == ["Stock is 42."]
    assert elapsed >= 1.0  # waited out Retry-After


_RAW_CONTROL = re.compile(r"<[!@#]|<https?:|@(channel|here|everyone)\b|\]\(", re.IGNORECASE)


async def test_mrkdwn_injection_from_the_model_is_escaped(
    make_bot: Callable[..., SlackBot],
    scripted: Callable[..., GraphAgentRunner],
    slack: SlackStandIn,
) -> None:
    hostile = (
        "<!channel> urgent: <@U0CFO0001> approve now at <http://evil.example|the ERP>; "
        "@here see [invoice](http://phish.example/pay) <!here|here>"
    )
    async with scripted(answer(hostile)) as runner:
        ts = await ask(make_bot(runner), "status?", new_channel())
    [message] = [m for m in slack.messages if m.thread_ts == ts]
    assert not _RAW_CONTROL.search(message.text)
    assert "&lt;!channel&gt;" in message.text
    assert "invoice (http://phish.example/pay)" in message.text
    sent: list[dict[str, Any]] = [c.body for c in slack.calls if c.method.startswith("chat.")]
    assert not any(_RAW_CONTROL.search(str(body)) for body in sent)


def look_up_then_answer(messages: list[BaseMessage]) -> AIMessage:
    if last_tool_result(messages) is None:
        return call("action_status", {"limit": 1})
    return AIMessage(content="No action requests are open.")


async def test_assistant_status_is_shown_while_tools_run(
    make_bot: Callable[..., SlackBot],
    scripted: Callable[..., GraphAgentRunner],
    slack: SlackStandIn,
) -> None:
    async with scripted(look_up_then_answer) as runner:
        ts = await ask(make_bot(runner), "any open action requests?", new_channel())
    statuses = [c.body for c in slack.calls_to("assistant.threads.setStatus")]
    assert [s["status"] for s in statuses] == ["looking up action requests", ""]
    assert all(s["thread_ts"] == ts for s in statuses)
    assert [m.text for m in slack.messages] == ["No action requests are open."]


async def test_an_app_without_assistant_status_still_answers(
    make_bot: Callable[..., SlackBot],
    scripted: Callable[..., GraphAgentRunner],
    slack: SlackStandIn,
) -> None:
    slack.handle("assistant.threads.setStatus", lambda body: {"ok": False, "error": "not_allowed"})
    async with scripted(look_up_then_answer) as runner:
        await ask(make_bot(runner), "any open action requests?", new_channel())
    assert len(slack.calls_to("assistant.threads.setStatus")) == 1  # tried once, then not again
    assert [m.text for m in slack.messages] == ["No action requests are open."]
