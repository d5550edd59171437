"""The Slack stand-in and settings that post summaries to it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import text

from opscopilot.agent.scheduled import ScheduledWriter
from opscopilot.core.settings import Settings
from opscopilot.jobs.app import build_app, worker_options
from opscopilot.notify.events import AGGREGATE, ALERT_RAISED
from opscopilot.store.engine import Database
from opscopilot.store.models import OutboxEvent, Site
from tests.conftest import make_settings
from tests.peers.slack import SlackStandIn

CHANNELS = ["C0PLANNING", "C0OPS"]


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as peer:
        yield peer


def schedule_settings(url: str, peer: SlackStandIn, **overrides: Any) -> Settings:
    return make_settings(
        url,
        slack={"bot_token": peer.token, "base_url": peer.base_url},
        schedule={"summary_channels": CHANNELS, **overrides},
    )


@pytest.fixture
def sched_settings(migrated: str, slack: SlackStandIn) -> Settings:
    return schedule_settings(migrated, slack)


@pytest.fixture
async def writer(clean_db: Database, sched_settings: Settings) -> AsyncIterator[ScheduledWriter]:
    """The agent that writes summaries and briefings (the offline model: no LLM set)."""
    async with ScheduledWriter(sched_settings, clean_db) as scheduled:
        yield scheduled


async def _waiting(db: Database) -> int:
    async with db.sessions() as session:
        count = await session.scalar(
            text("SELECT count(*) FROM jobs.procrastinate_jobs "
                 "WHERE task_name LIKE 'schedule.%' AND status IN ('todo', 'doing')")
        )  # fmt: skip
    return int(count or 0)


async def run_ticks(db: Database, settings: Settings, task: str, stamps: list[int]) -> None:
    """Defer `task` for each tick (a repeated stamp is a retried job) and run a real worker
    until no schedule job is waiting (a run defers its summary)."""
    jobs = build_app(db.libpq_url, settings)
    jobs.oc.attach(db)  # type: ignore[attr-defined]
    options = worker_options(settings, in_process=True)
    options.update(wait=False, fetch_job_polling_interval=0.1)
    async with jobs.open_async():
        for stamp in stamps:
            await jobs.configure_task(task).defer_async(timestamp=stamp)
            # Generous budgets (a hang guard, not a speed check): on a loaded box one pass
            # (bulk forecast, agent-written summary, Slack post) can take tens of seconds.
            deadline = time.monotonic() + 180
            while await _waiting(db) and time.monotonic() < deadline:
                await asyncio.wait_for(jobs.run_worker_async(**options), 120)
                await asyncio.sleep(0.2)  # a summary waiting on its runs comes back in seconds
            assert not await _waiting(db)


async def add_site(db: Database, code: str = "north") -> None:
    async with db.sessions() as session:
        session.add(Site(code=code, name=code.title(), timezone="UTC", shifts=[]))
        await session.commit()


async def announce(db: Database, *, site: str, sku: str, severity: str, alert_id: str) -> None:
    """An `alert.raised` outbox row, as the forecast's alert rules write it."""
    async with db.sessions() as session:
        session.add(
            OutboxEvent(
                event_type=ALERT_RAISED,
                aggregate_type=AGGREGATE,
                aggregate_id=alert_id,
                site=site,
                payload={"alert_id": alert_id, "site": site, "sku": sku,
                         "alert_type": "stockout_risk", "severity": severity,
                         "message": f"{sku} runs out in 5 days"},
            )
        )  # fmt: skip
        await session.commit()
