"""Shift briefings: one per channel per shift start, from the services' facts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from opscopilot.agent.scheduled import ScheduledWriter
from opscopilot.core.settings import Settings
from opscopilot.jobs.briefing import BRIEFING_TASK, post_briefings, shift_starts
from opscopilot.jobs.schedules import slack_poster
from opscopilot.store.engine import Database
from opscopilot.store.models import Approval, ForecastAlert, ManufacturingItem, Site
from tests.integration.schedules.conftest import CHANNELS, run_ticks, schedule_settings
from tests.peers.slack import SlackStandIn

TZ = "America/Chicago"


def test_shift_starts_in_the_site_timezone_across_midnight() -> None:
    shifts = [{"name": "night", "start": "22:00"}, {"name": "early", "start": "06:00"},
              {"name": "broken"}]  # fmt: skip
    zone = ZoneInfo(TZ)
    since = datetime(2026, 3, 2, 21, 0, tzinfo=zone)
    found = shift_starts(site="s", timezone=TZ, shifts=shifts, since=since,
                         until=since + timedelta(hours=10))  # fmt: skip
    assert [s.period_key for s in found] == ["2026-03-02:night", "2026-03-03:early"]
    assert found[1].at.astimezone(UTC).hour == 12  # 06:00 CST


async def _plant(db: Database, *, shift_start: str) -> None:
    item_id = uuid.uuid4()
    async with db.sessions() as session:
        session.add(
            Site(
                code="north",
                name="North",
                timezone=TZ,
                shifts=[{"name": "early", "start": shift_start}],
            )
        )
        session.add(ManufacturingItem(id=item_id, sku="BOLT-7", name="Bolt"))
        await session.flush()
        session.add(
            ForecastAlert(
                site="north",
                item_id=item_id,
                sku="BOLT-7",
                alert_type="stockout_risk",
                severity="critical",
                message="BOLT-7 runs out before the next delivery",
                details={"date": "2026-12-05"},
                status="active",
            )
        )
        session.add(
            Approval(
                thread_id="t1",
                site="north",
                tool_name="notify",
                description="Email the buyer about BOLT-7",
                idempotency_key=str(uuid.uuid4()),
            )
        )
        await session.commit()  # fmt: skip


async def test_a_briefing_posts_once_per_shift_start(
    clean_db: Database, sched_settings: Settings, slack: SlackStandIn, writer: ScheduledWriter
) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    started = (now - timedelta(minutes=2)).astimezone(ZoneInfo(TZ))
    await _plant(clean_db, shift_start=started.strftime("%H:%M"))
    poster = slack_poster(sched_settings)
    assert await post_briefings(clean_db.sessions, now=now, channels=CHANNELS,
                                poster=poster, writer=writer) == len(CHANNELS)  # fmt: skip
    # Later ticks (and a retried tick) within the same shift post nothing more.
    for later in (now, now + timedelta(minutes=5)):
        assert await post_briefings(clean_db.sessions, now=later, channels=CHANNELS,
                                    poster=poster, writer=writer) == 0  # fmt: skip
    messages = slack.messages
    assert sorted(m.channel for m in messages) == sorted(CHANNELS)
    body = messages[0].blocks[2]["text"]["text"] if messages[0].blocks else ""
    assert "Early shift briefing at north" in body
    assert "BOLT-7: out by 2026-12-05" in body
    assert "Email the buyer about BOLT-7" in body
    assert "Ingestion: ok." in body


async def test_no_briefing_before_the_shift_starts(
    clean_db: Database, sched_settings: Settings, slack: SlackStandIn, writer: ScheduledWriter
) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    later = (now + timedelta(minutes=10)).astimezone(ZoneInfo(TZ))
    await _plant(clean_db, shift_start=later.strftime("%H:%M"))
    posted = await post_briefings(clean_db.sessions, now=now, channels=CHANNELS,
                                  poster=slack_poster(sched_settings), writer=writer)  # fmt: skip
    assert posted == 0 and slack.messages == []


async def test_the_briefing_tick_posts_once_through_the_worker(
    clean_db: Database, migrated: str, slack: SlackStandIn
) -> None:
    settings = schedule_settings(migrated, slack, briefing_channels=CHANNELS)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    started = (now - timedelta(minutes=2)).astimezone(ZoneInfo(TZ))
    await _plant(clean_db, shift_start=started.strftime("%H:%M"))
    stamp = int(now.timestamp())
    await run_ticks(clean_db, settings, BRIEFING_TASK, [stamp, stamp, stamp + 300])
    assert sorted(m.channel for m in slack.messages) == sorted(CHANNELS)
