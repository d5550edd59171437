"""Slack's HTTP events at POST /slack/events of the API: signatures, threads, retries, acks."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import httpx
from sqlalchemy import func, select

from opscopilot.agent.runtime import GraphAgentRunner
from opscopilot.slackbot.service import thread_id_for
from opscopilot.store.engine import Database
from opscopilot.store.models import ChatThread, SlackEventSeen
from tests.integration.slackbot.conftest import SlackAPI, runs_of
from tests.integration.slackbot.scripted import answer, as_json, mention, new_channel
from tests.peers.slack import SlackStandIn

CHAT_METHODS = ("chat.postMessage", "chat.startStream", "chat.appendStream", "chat.stopStream")


def replies(slack: SlackStandIn, channel: str, thread_ts: str) -> list[str]:
    return [m.text for m in slack.messages if m.channel == channel and m.thread_ts == thread_ts]


async def test_a_mention_gets_a_streamed_answer_in_its_thread(
    api: SlackAPI, slack: SlackStandIn, clean_db: Database
) -> None:
    channel = new_channel()
    body = mention("what can you do?", channel=channel)
    response = await api.post(*as_json(body))
    assert response.status_code == 200
    await api.bot.drain(30)

    ts = body["event"]["ts"]
    started = slack.calls_to("chat.startStream")
    assert len(started) == 1
    assert started[0].body["thread_ts"] == ts
    assert started[0].body["recipient_user_id"] == "U0ALICE01"
    assert started[0].body["recipient_team_id"] == "T00000001"
    stopped = slack.calls_to("chat.stopStream")
    assert len(stopped) == 1
    assert [b["block_id"] for b in stopped[0].body["blocks"]] == ["feedback"]
    [text] = replies(slack, channel, ts)
    assert "offline" in text.lower()
    async with clean_db.sessions() as session:
        thread = await session.get(ChatThread, thread_id_for(channel, ts))
    assert thread is not None and thread.surface == "slack" and thread.site == "main"
    assert await runs_of(clean_db, thread.id) == 1


async def test_a_reply_in_the_thread_continues_the_same_agent_thread(
    api: SlackAPI, slack: SlackStandIn, clean_db: Database
) -> None:
    channel = new_channel()
    first = mention("what can you do?", channel=channel)
    await api.post(*as_json(first))
    await api.bot.drain(30)
    parent = first["event"]["ts"]
    follow_up = mention("and alerts?", channel=channel, thread_ts=parent)
    await api.post(*as_json(follow_up))
    await api.bot.drain(30)

    assert len(replies(slack, channel, parent)) == 2
    assert all(c.body["thread_ts"] == parent for c in slack.calls_to("chat.startStream"))
    assert await runs_of(clean_db, thread_id_for(channel, parent)) == 2
    async with clean_db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ChatThread)) == 1


async def test_the_same_event_four_times_runs_the_agent_once(
    api: SlackAPI, slack: SlackStandIn, clean_db: Database
) -> None:
    channel = new_channel()
    body = mention("what can you do?", channel=channel)
    statuses = [(await api.post(*as_json(body))).status_code]
    for attempt in (1, 2, 3):
        retry = {"X-Slack-Retry-Num": str(attempt), "X-Slack-Retry-Reason": "http_timeout"}
        statuses.append((await api.post(*as_json(body), headers=retry)).status_code)
    await api.bot.drain(30)

    assert statuses == [200, 200, 200, 200]
    ts = body["event"]["ts"]
    assert len(replies(slack, channel, ts)) == 1
    assert len(slack.calls_to("chat.startStream")) == 1
    assert await runs_of(clean_db, thread_id_for(channel, ts)) == 1
    async with clean_db.sessions() as session:
        seen = (await session.scalars(select(SlackEventSeen.event_id))).all()
    assert seen == [body["event_id"]]


async def test_bad_signature_or_stale_timestamp_is_refused_before_any_listener(
    api: SlackAPI, slack: SlackStandIn, clean_db: Database
) -> None:
    channel = new_channel()
    forged = await api.post(*as_json(mention("hi", channel=channel)), secret="not-the-secret")
    stale = await api.post(*as_json(mention("hi", channel=channel)), age_s=6 * 60)
    body, content_type = as_json(mention("hi", channel=channel))
    unsigned = await api.client.post(
        "/slack/events", content=body, headers={"Content-Type": content_type}
    )
    await asyncio.sleep(0.3)

    assert (forged.status_code, stale.status_code, unsigned.status_code) == (401, 401, 401)
    assert not any(c.method in CHAT_METHODS for c in slack.calls)
    async with clean_db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(SlackEventSeen)) == 0
        assert await session.scalar(select(func.count()).select_from(ChatThread)) == 0


async def test_url_verification_echoes_the_challenge(api: SlackAPI) -> None:
    body = {"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3", "type": "url_verification"}
    response = await api.post(*as_json(body))
    assert response.status_code == 200
    assert json.loads(response.text) == {"challenge": body["challenge"]}


async def test_slow_answer_is_acknowledged_at_once_and_arrives_later(
    api: SlackAPI, slack: SlackStandIn, scripted: Callable[..., GraphAgentRunner]
) -> None:
    async with scripted(answer("Done thinking."), delay_s=10) as runner:
        api.use_runner(runner)
        channel = new_channel()
        body = mention("think hard", channel=channel)
        started = time.monotonic()
        response = await api.post(*as_json(body))
        acked_after = time.monotonic() - started
        assert response.status_code == 200
        assert acked_after < 3.0
        assert replies(slack, channel, body["event"]["ts"]) == []
        await api.bot.drain(60)
        assert time.monotonic() - started >= 10
        assert replies(slack, channel, body["event"]["ts"]) == ["Done thinking."]


async def test_events_endpoint_is_off_without_a_signing_secret(
    client: httpx.AsyncClient,
) -> None:
    body, content_type = as_json(mention("hi", channel=new_channel()))
    response = await client.post(
        "/slack/events", content=body, headers={"Content-Type": content_type}
    )
    assert response.status_code == 404
