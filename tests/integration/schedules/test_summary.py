"""The scheduled run's summary: once per channel and period, whatever retries happen."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from sqlalchemy import func, select

from opscopilot.agent.scheduled import ScheduledWriter
from opscopilot.core.settings import Settings
from opscopilot.jobs.schedules import (
    RUN_TASK,
    post_summaries,
    service_external_id,
    slack_poster,
)
from opscopilot.store.engine import Database
from opscopilot.store.models import ForecastRun, ScheduledPost, User
from tests.integration.forecasting.conftest import (
    ingest,
    item,
    sales,
    seasonal,
    weeks_before,
)
from tests.integration.schedules.conftest import CHANNELS, add_site, announce, run_ticks
from tests.peers.slack import SlackStandIn


async def _summarise(db: Database, settings: Settings, period_key: str) -> int:
    async with ScheduledWriter(settings, db) as writer:
        return await post_summaries(
            db.sessions, site="north", channels=CHANNELS, period_key=period_key, run_ids=[],
            poster=slack_poster(settings), writer=writer,
        )  # fmt: skip


async def test_one_summary_per_channel_and_a_retry_posts_none(
    clean_db: Database, sched_settings: Settings, slack: SlackStandIn
) -> None:
    await add_site(clean_db)
    await announce(clean_db, site="north", sku="BOLT-7", severity="critical",
                   alert_id=str(uuid.uuid4()))  # fmt: skip
    assert await _summarise(clean_db, sched_settings, "p1") == 2
    # The job delivered again (its worker died after posting): nothing new is posted.
    assert await _summarise(clean_db, sched_settings, "p1") == 0
    messages = slack.messages
    assert sorted(m.channel for m in messages) == sorted(CHANNELS)
    assert all("BOLT-7" in m.blocks[2]["text"]["text"] for m in messages if m.blocks)
    async with clean_db.sessions() as session:
        rows = (await session.scalars(select(ScheduledPost))).all()
    assert {r.message_ts for r in rows} == {m.ts for m in messages}


async def test_a_claim_without_ts_is_posted_and_one_with_ts_is_not(
    clean_db: Database, sched_settings: Settings, slack: SlackStandIn
) -> None:
    async with clean_db.sessions() as session:
        # The first channel's worker died before posting; the second's after.
        session.add(
            ScheduledPost(
                kind="summary", site="north", channel=CHANNELS[0], period_key="p1", status="claimed"
            )
        )
        session.add(
            ScheduledPost(
                kind="summary",
                site="north",
                channel=CHANNELS[1],
                period_key="p1",
                status="posted",
                message_ts="1.000",
            )
        )
        await session.commit()  # fmt: skip
    assert await _summarise(clean_db, sched_settings, "p1") == 1
    assert [m.channel for m in slack.messages] == [CHANNELS[0]]


async def test_the_next_summary_repeats_no_alert(
    clean_db: Database, sched_settings: Settings, slack: SlackStandIn
) -> None:
    await announce(clean_db, site="north", sku="OLD-1", severity="warning",
                   alert_id=str(uuid.uuid4()))  # fmt: skip
    await _summarise(clean_db, sched_settings, "p1")
    await asyncio.sleep(0.05)
    await announce(clean_db, site="north", sku="NEW-2", severity="critical",
                   alert_id=str(uuid.uuid4()))  # fmt: skip
    await _summarise(clean_db, sched_settings, "p2")
    second = [m for m in slack.messages if m.channel == CHANNELS[0]][-1]
    text = second.blocks[2]["text"]["text"] if second.blocks else second.text
    assert "NEW-2" in text
    assert "OLD-1" not in text


async def test_the_scheduled_job_posts_once_as_the_service_user(
    clean_db: Database, sched_settings: Settings, slack: SlackStandIn
) -> None:
    await add_site(clean_db)
    stamp = int(datetime.now(UTC).timestamp())
    # The same tick delivered twice: the retried job (its worker was SIGKILLed after posting).
    await run_ticks(clean_db, sched_settings, RUN_TASK, [stamp, stamp])
    assert sorted(m.channel for m in slack.messages) == sorted(CHANNELS)
    async with clean_db.sessions() as session:
        user = await session.scalar(
            select(User).where(User.external_id == service_external_id("north"))
        )
        posts = await session.scalar(select(func.count()).select_from(ScheduledPost))
    assert user is not None and user.is_service and user.role == "operator"
    assert user.sites == ["north"]
    assert posts == len(CHANNELS)


async def test_the_run_forecasts_the_site_before_the_summary(
    clean_db: Database, sched_settings: Settings, slack: SlackStandIn
) -> None:
    await add_site(clean_db)
    today = datetime.now(UTC).date()
    await item(clean_db, sched_settings, "GSK-1", site="north")
    await ingest(clean_db, sched_settings, site="north",
                 sales=sales("GSK-1", weeks_before(today, 80), seasonal(80)))  # fmt: skip
    await run_ticks(clean_db, sched_settings, RUN_TASK, [int(datetime.now(UTC).timestamp())])
    async with clean_db.sessions() as session:
        runs = (await session.scalars(select(ForecastRun))).all()
    assert runs and all(r.status == "succeeded" and r.trigger == "schedule" for r in runs)
    done = sum(r.items_done for r in runs)
    assert done >= 1
    texts = [m.blocks[2]["text"]["text"] for m in slack.messages if m.blocks]
    assert len(texts) == len(CHANNELS)
    assert all(f"{done} of {sum(r.items_total for r in runs)} items forecast" in t for t in texts)
