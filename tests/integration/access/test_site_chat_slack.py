"""A site-limited user's chats and Slack questions: the agent's tools get the caller's
sites and return nothing from another site. Slack users without a user row are viewers
of the default site."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from slack_bolt.request.async_request import AsyncBoltRequest

from opscopilot.access.service import authenticate, create_key, get_or_create_user
from opscopilot.agent.eval.scripted import ScriptedChatModel, calls, say
from opscopilot.core.settings import Settings
from opscopilot.slackbot.bot import create_bot
from opscopilot.store.engine import Database
from tests.agent_support.harness import new_thread, runner_for, turn
from tests.integration.access.sites import ON_HAND, SKU, seed_two_plants
from tests.integration.slackbot.conftest import bot_settings
from tests.integration.slackbot.scripted import mention, new_channel, scripted_runner
from tests.peers.slack import SlackStandIn

SOUTH_MARKS = (str(ON_HAND["south"]), "model-south", "short at south", "south-bin")
NORTH_MARKS = (str(ON_HAND["north"]), "short at north")
LOOKUPS = (
    ("get_inventory", {"sku": SKU}),
    ("get_item", {"sku": SKU}),
    ("active_alerts", {}),
    ("get_forecast", {"sku": SKU}),
)


def _tool_text(messages: list[BaseMessage]) -> str:
    return "\n".join(str(m.content) for m in messages if isinstance(m, ToolMessage))


async def test_a_north_chat_tools_return_nothing_of_south(
    settings: Settings, clean_db: Database
) -> None:
    await seed_two_plants(clean_db)
    async with clean_db.sessions() as session:
        await get_or_create_user(session, external_id="nora", role="viewer", sites=["north"])
        raw = (await create_key(session, user="nora", role="viewer")).key
        principal = await authenticate(session, raw_key=raw)
        await session.commit()
    assert principal.sites == ("north",)
    model = ScriptedChatModel(
        responses=[calls(*LOOKUPS, ("get_inventory", {"sku": SKU, "site": "south"})), say("ok")]
    )
    async with runner_for(settings, clean_db, model=model) as runner:
        events = await turn(
            runner, "pump?", thread_id=new_thread(), principal=principal, site="north"
        )
        seen = _tool_text(model.seen[-1])
        assert events[-1].type == "done"
        assert all(mark in seen for mark in NORTH_MARKS), seen
        assert not any(mark in seen for mark in SOUTH_MARKS), seen
        assert "you do not have access to site south" in seen
        # Nor may the chat itself be on south.
        other = await turn(
            runner, "pump?", thread_id=new_thread(), principal=principal, site="south"
        )
    assert other[-1].type == "error" and other[-1].data["code"] == "forbidden"


# -- Slack ---------------------------------------------------------------------------------


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as peer:
        yield peer


@pytest.fixture
async def checkpointer(settings: Settings) -> AsyncIterator[Any]:
    from opscopilot.agent.memory import open_checkpointer

    assert settings.db.url
    async with open_checkpointer(settings.db.url, max_size=4) as saver:
        yield saver


def _look_up_then_echo(messages: list[BaseMessage]) -> AIMessage:
    """Call the lookups, then answer with everything they returned (the worst case: a model
    that repeats every tool result to the person)."""
    text = _tool_text(messages)
    return calls(*LOOKUPS) if not text else AIMessage(content=text)


async def _ask_on_slack(
    settings: Settings, db: Database, checkpointer: Any, slack: SlackStandIn, user: str
) -> str:
    runner = scripted_runner(settings, db, checkpointer, _look_up_then_echo)
    async with runner:
        bot = create_bot(settings=settings, db=db, runner=runner, mode="socket")
        try:
            body = mention("how is the pump?", channel=new_channel(), user=user)
            await bot.app.async_dispatch(AsyncBoltRequest(mode="socket_mode", body=body))
            await bot.drain(60)
        finally:
            await bot.close(grace_s=30)
    ts = str(body["event"]["ts"])
    return "\n".join(m.text for m in slack.messages if m.thread_ts == ts)


async def test_a_north_slack_user_gets_nothing_of_south(
    migrated: str, clean_db: Database, checkpointer: Any, slack: SlackStandIn
) -> None:
    await seed_two_plants(clean_db)
    async with clean_db.transaction() as session:
        user = await get_or_create_user(session, external_id="nils", role="viewer", sites=["north"])
        user.slack_user_id = "U0NORTH01"
    settings = bot_settings(migrated, slack, default_site="north")
    said = await _ask_on_slack(settings, clean_db, checkpointer, slack, "U0NORTH01")
    assert all(mark in said for mark in NORTH_MARKS), said
    assert not any(mark in said for mark in SOUTH_MARKS), said


async def test_a_slack_user_without_a_row_is_a_viewer_of_the_default_site(
    migrated: str, clean_db: Database, checkpointer: Any, slack: SlackStandIn
) -> None:
    await seed_two_plants(clean_db)
    # The default site is main: a stranger sees neither plant's stock or alerts.
    settings = bot_settings(migrated, slack)
    said = await _ask_on_slack(settings, clean_db, checkpointer, slack, "U0STRANGR")
    assert said
    assert not any(mark in said for mark in SOUTH_MARKS + NORTH_MARKS), said
