"""Who may ask where, what shutdown does to an answer in flight, and `opscopilot slack` as a
process (Socket Mode against the loopback websocket, stopped by SIGTERM)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from slack_bolt.request.async_request import AsyncBoltRequest
from sqlalchemy import select

from opscopilot.agent.runtime import GraphAgentRunner
from opscopilot.core.settings import Settings
from opscopilot.slackbot.bot import SlackBot, create_bot
from opscopilot.slackbot.service import thread_id_for
from opscopilot.store.engine import Database
from opscopilot.store.models import ChatRun, User
from tests.e2e.procs import base_env, opscopilot, stop
from tests.integration.slackbot.conftest import runs_of
from tests.integration.slackbot.scripted import answer, mention, new_channel, slash_command
from tests.peers.slack import SlackStandIn
from tests.peers.slack_socket import SocketModeStandIn


async def dispatch(bot: SlackBot, body: dict[str, object]) -> None:
    response = await bot.app.async_dispatch(AsyncBoltRequest(mode="socket_mode", body=body))
    assert response.status == 200


def one_question_a_minute(settings: Settings, db: Database, runner: GraphAgentRunner) -> SlackBot:
    api = settings.api.model_copy(update={"rate_limit_chat_per_min": 1})
    limited = settings.model_copy(update={"api": api})
    return create_bot(settings=limited, db=db, runner=runner, mode="socket")


async def test_questions_past_the_rate_limit_get_a_notice(
    slack_settings: Settings,
    clean_db: Database,
    offline_runner: GraphAgentRunner,
    slack: SlackStandIn,
) -> None:
    bot = one_question_a_minute(slack_settings, clean_db, offline_runner)
    channel = new_channel()
    first, second = mention("hi", channel=channel), mention("again", channel=channel)
    await dispatch(bot, first)
    await bot.drain(30)
    await dispatch(bot, second)
    await bot.drain(30)
    [notice] = [m for m in slack.messages if m.thread_ts == second["event"]["ts"]]
    assert "slow down" in notice.text and "rate limit" in notice.text
    assert await runs_of(clean_db, thread_id_for(channel, str(second["event"]["ts"]))) == 0


async def test_commands_past_the_rate_limit_get_a_private_notice_and_no_run(
    slack_settings: Settings,
    clean_db: Database,
    offline_runner: GraphAgentRunner,
    slack: SlackStandIn,
) -> None:
    bot = one_question_a_minute(slack_settings, clean_db, offline_runner)
    for text, to in (("what can you do?", "first"), ("and now?", "second")):
        url = slack.response_url(to)
        command: dict[str, object] = {
            **slash_command(text, user="U0FAST001", channel="C0FAST001", response_url=url)
        }
        await dispatch(bot, command)
        await bot.drain(30)
    [notice] = slack.calls_to("response_url:second")
    assert notice.body["response_type"] == "ephemeral"
    assert "slow down" in notice.body["text"] and "Try again in" in notice.body["text"]
    async with clean_db.sessions() as session:
        runs = (await session.scalars(select(ChatRun.thread_id))).all()
    assert len(runs) == 1 and runs[0].startswith("slack-command:")  # the first one only


async def test_a_thread_about_another_site_is_refused(
    make_bot: Callable[..., SlackBot], slack: SlackStandIn, clean_db: Database
) -> None:
    async with clean_db.sessions() as session:
        session.add(
            User(external_id="pia", role="operator", sites=["plant2"], slack_user_id="U0PIA0001")
        )
        await session.commit()
    bot = make_bot()
    channel = new_channel()
    started = mention("what can you do?", channel=channel)
    await dispatch(bot, started)
    await bot.drain(30)
    parent = str(started["event"]["ts"])
    await dispatch(bot, mention("and me?", channel=channel, thread_ts=parent, user="U0PIA0001"))
    await bot.drain(30)
    texts = [m.text for m in slack.messages if m.thread_ts == parent]
    assert len(texts) == 2 and "site main" in texts[1]
    assert await runs_of(clean_db, thread_id_for(channel, parent)) == 1


async def test_two_people_talk_to_the_bot_in_one_thread(
    make_bot: Callable[..., SlackBot], slack: SlackStandIn, clean_db: Database
) -> None:
    async with clean_db.sessions() as session:
        session.add(User(external_id="alice", role="viewer", slack_user_id="U0ALICE01"))
        session.add(User(external_id="bob", role="viewer", slack_user_id="U0BOB0001"))
        await session.commit()
    bot = make_bot()
    channel = new_channel()
    started = mention("what can you do?", channel=channel)
    await dispatch(bot, started)
    await bot.drain(30)
    parent = str(started["event"]["ts"])
    await dispatch(bot, mention("and alerts?", channel=channel, thread_ts=parent, user="U0BOB0001"))
    await bot.drain(30)
    assert await runs_of(clean_db, thread_id_for(channel, parent)) == 2


async def test_shutdown_interrupts_an_answer_visibly(
    make_bot: Callable[..., SlackBot],
    scripted: Callable[..., GraphAgentRunner],
    slack: SlackStandIn,
    clean_db: Database,
) -> None:
    async with scripted(answer("too late"), delay_s=30) as runner:
        bot = make_bot(runner)
        body = mention("think hard", channel=new_channel())
        await dispatch(bot, body)
        await asyncio.sleep(0.5)
        started = time.monotonic()
        await bot.close(grace_s=0.2)
        assert time.monotonic() - started < 10
    assert not bot.tasks
    [message] = slack.messages
    assert message.thread_ts == body["event"]["ts"]
    assert "Interrupted" in message.text and "too late" not in message.text
    async with clean_db.sessions() as session:
        statuses = (await session.scalars(select(ChatRun.status))).all()
    assert statuses == ["cancelled"]


@pytest.fixture
def socket_peer(slack: SlackStandIn) -> Iterator[SocketModeStandIn]:
    with SocketModeStandIn(slack) as peer:
        yield peer


async def test_opscopilot_slack_process_answers_and_stops_on_sigterm(
    migrated: str,
    clean_db: Database,
    slack: SlackStandIn,
    socket_peer: SocketModeStandIn,
    tmp_path: Path,
) -> None:
    env = base_env(
        DATABASE_URL=migrated,
        OPSCOPILOT_DB__AUTO_UPGRADE="false",
        OPSCOPILOT_SLACK__BOT_TOKEN=slack.token,
        OPSCOPILOT_SLACK__APP_TOKEN=slack.app_token,
        OPSCOPILOT_SLACK__BASE_URL=slack.base_url,
        OPSCOPILOT_JOBS__SHUTDOWN_TIMEOUT_S="5",
    )
    log = tmp_path / "slack.log"
    proc = opscopilot("slack", env=env, log=log)
    try:
        await asyncio.to_thread(socket_peer.wait_connected, 90)
        channel = new_channel()
        body = mention("what can you do?", channel=channel)
        envelope = socket_peer.send_event(body)
        deadline = time.monotonic() + 60
        while not slack.calls_to("chat.stopStream") and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert socket_peer.acked(envelope)
    finally:
        await asyncio.to_thread(stop, proc)
    assert proc.returncode == 0, log.read_text()
    [reply] = [m for m in slack.messages if m.thread_ts == body["event"]["ts"]]
    assert "offline" in reply.text.lower()
    assert await runs_of(clean_db, thread_id_for(channel, str(body["event"]["ts"]))) == 1
