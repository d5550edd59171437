"""The Slack bot against the loopback Slack stand-in, with the real agent runner (the offline
model, or a scripted model at the LLM edge) on the test database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from opscopilot.agent.runtime import GraphAgentRunner
from opscopilot.core.settings import Settings
from opscopilot.slackbot.bot import SlackBot, create_bot
from opscopilot.store.engine import Database
from opscopilot.store.models import ChatRun
from tests.conftest import make_settings
from tests.integration.slackbot.scripted import SIGNING_SECRET, Script, scripted_runner, signed
from tests.peers.slack import SlackStandIn

PUBLIC_URL = "http://copilot.plant.example"


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as peer:
        yield peer


def bot_settings(url: str, peer: SlackStandIn, **overrides: Any) -> Settings:
    return make_settings(
        url,
        slack={
            "bot_token": peer.token,
            "app_token": peer.app_token,
            "signing_secret": SIGNING_SECRET,
            "base_url": peer.base_url,
        },
        api={"public_url": PUBLIC_URL},
        **overrides,
    )


@pytest.fixture
def slack_settings(migrated: str, slack: SlackStandIn) -> Settings:
    return bot_settings(migrated, slack)


@pytest.fixture(scope="session")
async def checkpointer(settings: Settings) -> AsyncIterator[Any]:
    from opscopilot.agent.memory import open_checkpointer

    assert settings.db.url
    async with open_checkpointer(settings.db.url, max_size=4) as saver:
        yield saver


@pytest.fixture(scope="session")
async def offline_runner(
    settings: Settings, db: Database, checkpointer: Any
) -> AsyncIterator[GraphAgentRunner]:
    async with GraphAgentRunner(settings, db, checkpointer=checkpointer) as runner:
        yield runner


@pytest.fixture
def scripted(
    settings: Settings, clean_db: Database, checkpointer: Any
) -> Callable[..., GraphAgentRunner]:
    """`scripted(script, delay_s=0)`: the real runner on a scripted model."""

    def make(script: Script, *, delay_s: float = 0.0) -> GraphAgentRunner:
        return scripted_runner(settings, clean_db, checkpointer, script, delay_s=delay_s)

    return make


@pytest.fixture
async def make_bot(
    slack_settings: Settings, clean_db: Database, offline_runner: GraphAgentRunner
) -> AsyncIterator[Callable[..., SlackBot]]:
    """`make_bot(runner=None, mode="socket")`: a bot on the stand-in, closed after the test."""
    made: list[SlackBot] = []

    def make(runner: Any = None, *, mode: str = "socket") -> SlackBot:
        bot = create_bot(
            settings=slack_settings,
            db=clean_db,
            runner=runner or offline_runner,
            mode=mode,  # type: ignore[arg-type]
        )
        made.append(bot)
        return bot

    yield make
    for bot in made:
        await bot.close(grace_s=30)


class SlackAPI:
    """The API app with Slack's HTTP events, called in-process."""

    def __init__(self, app: FastAPI, client: httpx.AsyncClient) -> None:
        self.app = app
        self.client = client

    def use_runner(self, runner: Any) -> None:
        self.app.state.oc.extras["agent_runner"] = runner

    @property
    def bot(self) -> SlackBot:
        slack_http = self.app.state.oc.extras["slack_http"]
        assert slack_http.bot is not None
        return slack_http.bot  # type: ignore[no-any-return]

    async def post(
        self,
        body: str,
        content_type: str,
        *,
        age_s: float = 0.0,
        secret: str = SIGNING_SECRET,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        sent = signed(body, secret=secret, age_s=age_s, content_type=content_type)
        return await self.client.post("/slack/events", content=body, headers=sent | (headers or {}))


@pytest.fixture
async def api(
    slack_settings: Settings, clean_db: Database, offline_runner: GraphAgentRunner
) -> AsyncIterator[SlackAPI]:
    from opscopilot.api.app import create_app

    app = create_app(slack_settings, database=clean_db)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            slack_api = SlackAPI(app, client)
            slack_api.use_runner(offline_runner)
            yield slack_api


async def runs_of(db: Database, thread_id: str) -> int:
    async with db.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(ChatRun).where(ChatRun.thread_id == thread_id)
        )
    return int(count or 0)
