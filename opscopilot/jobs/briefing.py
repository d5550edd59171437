"""Shift briefings: at each shift start of each plant (sites.shifts, in the site's timezone),
one digest per channel of the open stockout risks with their dates, other open alerts, the
biggest forecast changes of the last day, open approvals and failed or stale ingestion,
written by the agent (agent/scheduled.py) as the site's service user from its read-only
tools' results (facts, nothing invented).

`schedule.briefings` ticks on `settings.schedule.briefing_cron`; each tick posts the shifts
that started within GRACE before it, each once (claim-before-post, period key = local date
and shift name), so overlapping or retried ticks post nothing twice and a long outage does
not post a pile of stale briefings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import procrastinate
from sqlalchemy import select

from opscopilot.agent.scheduled_tasks import ScheduledTask
from opscopilot.core.settings import Settings
from opscopilot.jobs.runtime import runtime_of
from opscopilot.jobs.scheduled_posts import Poster, SessionFactory, post_once
from opscopilot.jobs.schedules import open_writer, service_principal, slack_poster
from opscopilot.store.models import Site

if TYPE_CHECKING:
    from opscopilot.agent.scheduled import ScheduledWriter

log = logging.getLogger(__name__)

blueprint = procrastinate.Blueprint()

BRIEFING_TASK = "schedule.briefings"
BRIEFING_KIND = "briefing"
GRACE = timedelta(hours=1)
# The forecast changes a briefing reports: those of the day before its shift start, so each
# shift of the day sees the nightly run's changes.
CHANGES_WINDOW = timedelta(days=1)


@dataclass(frozen=True)
class ShiftStart:
    site: str
    shift: str
    local_date: date
    at: datetime  # aware, in the site's timezone

    @property
    def period_key(self) -> str:
        return f"{self.local_date.isoformat()}:{self.shift}"


def shift_starts(
    *, site: str, timezone: str, shifts: list[Any], since: datetime, until: datetime
) -> list[ShiftStart]:
    """Shift starts in (since, until], in order. A malformed shift entry is skipped."""
    zone = ZoneInfo(timezone)
    first, last = since.astimezone(zone).date(), until.astimezone(zone).date()
    found = []
    day = first
    while day <= last:
        for shift in shifts:
            try:
                name = str(shift["name"])
                start = time.fromisoformat(str(shift["start"]))
            except (KeyError, TypeError, ValueError):
                continue
            at = datetime.combine(day, start, tzinfo=zone)
            if since < at <= until:
                found.append(ShiftStart(site=site, shift=name, local_date=day, at=at))
        day += timedelta(days=1)
    return sorted(found, key=lambda s: s.at)


async def compose_briefing(
    sessions: SessionFactory, *, start: ShiftStart, writer: ScheduledWriter
) -> str:
    async with sessions() as session:
        principal = await service_principal(session, site=start.site)
        await session.commit()
    task = ScheduledTask.briefing(
        site=start.site,
        shift=start.shift,
        local_start=start.at.strftime("%Y-%m-%d %H:%M %Z"),
        since=start.at - CHANGES_WINDOW,
    )
    return (await writer.write(task, principal=principal)).text


async def post_briefings(
    sessions: SessionFactory,
    *,
    now: datetime,
    channels: list[str],
    poster: Poster,
    writer: ScheduledWriter,
) -> int:
    """Post the briefing of every shift that started within GRACE before `now`, once each."""
    async with sessions() as session:
        sites = (await session.scalars(select(Site).order_by(Site.code))).all()
    posted = 0
    for site in sites:
        starts = shift_starts(
            site=site.code, timezone=site.timezone, shifts=list(site.shifts or []),
            since=now - GRACE, until=now,
        )  # fmt: skip
        for start in starts:
            for channel in channels:

                async def compose(start: ShiftStart = start) -> str:
                    return await compose_briefing(sessions, start=start, writer=writer)

                ts = await post_once(
                    sessions, kind=BRIEFING_KIND, site=start.site, channel=channel,
                    period_key=start.period_key, compose=compose, poster=poster,
                )  # fmt: skip
                posted += ts is not None
    return posted


@blueprint.task(name=BRIEFING_TASK, pass_context=True, queueing_lock=BRIEFING_TASK)
async def briefings_job(context: procrastinate.JobContext, timestamp: int) -> int:
    runtime = runtime_of(context)
    channels = list(runtime.settings.schedule.briefing_channels)
    async with await open_writer(runtime.settings, runtime.database()) as writer:
        posted = await post_briefings(
            runtime.database().sessions,
            now=datetime.fromtimestamp(timestamp, UTC),
            channels=channels,
            poster=slack_poster(runtime.settings),
            writer=writer,
        )
    if posted:
        log.info("shift briefings posted", extra={"count": posted})
    return posted


def attach_schedules(app: procrastinate.App, settings: Settings) -> None:
    # No channels, no tick: an idle periodic job every few minutes would only add noise.
    if not settings.schedule.briefing_channels:
        return
    app.periodic(cron=settings.schedule.briefing_cron, periodic_id="schedule-briefings")(
        app.tasks[BRIEFING_TASK]
    )
