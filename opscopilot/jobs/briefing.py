"""Shift briefings: at each shift start of each plant (sites.shifts, in the site's timezone),
one digest per channel of the open stockout risks with their dates, other open alerts, open
approvals and failed or stale ingestion, read from the services (facts, nothing invented).

`schedule.briefings` ticks on `settings.schedule.briefing_cron`; each tick posts the shifts
that started within GRACE before it, each once (claim-before-post, period key = local date
and shift name), so overlapping or retried ticks post nothing twice and a long outage does
not post a pile of stale briefings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import procrastinate
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.core.settings import Settings
from opscopilot.forecasting.service import list_active_alerts
from opscopilot.ingest.health import ingestion_health
from opscopilot.jobs.runtime import runtime_of
from opscopilot.jobs.scheduled_posts import Poster, SessionFactory, post_once
from opscopilot.jobs.schedules import service_principal, slack_poster
from opscopilot.prompts import render
from opscopilot.store.models import Approval, Site

log = logging.getLogger(__name__)

blueprint = procrastinate.Blueprint()

BRIEFING_TASK = "schedule.briefings"
BRIEFING_KIND = "briefing"
GRACE = timedelta(hours=1)
MAX_LINES = 10


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


async def compose_briefing(session: AsyncSession, *, start: ShiftStart) -> str:
    principal = await service_principal(session, site=start.site)
    alerts = await list_active_alerts(session, principal=principal, site=start.site, limit=50)
    stockouts = [
        {"severity": a.severity, "sku": a.sku, "message": a.message,
         "date": a.details.get("stockout_date") or a.details.get("date") or "unknown"}
        for a in alerts if a.alert_type == "stockout_risk"
    ]  # fmt: skip
    others = [a for a in alerts if a.alert_type != "stockout_risk"]
    approvals = (
        await session.scalars(
            select(Approval.description)
            .where(Approval.site == start.site, Approval.status == "pending")
            .order_by(Approval.created_at)
        )
    ).all()
    health = await ingestion_health(session, sites=(start.site,))
    await session.commit()  # ingestion_health expires stale leases; the service user is kept
    return render(
        "schedule/briefing",
        site=start.site,
        shift=start.shift.capitalize(),
        local_start=start.at.strftime("%Y-%m-%d %H:%M %Z"),
        stockouts=stockouts[:MAX_LINES],
        other_alerts=others[:MAX_LINES],
        approvals=list(approvals),
        ingestion={"status": health.status, "failed": len(health.failed_batches),
                   "stale": health.stale_sources},
    )  # fmt: skip


async def post_briefings(
    sessions: SessionFactory, *, now: datetime, channels: list[str], poster: Poster
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
                    async with sessions() as session:
                        return await compose_briefing(session, start=start)

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
    posted = await post_briefings(
        runtime.database().sessions,
        now=datetime.fromtimestamp(timestamp, UTC),
        channels=channels,
        poster=slack_poster(runtime.settings),
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
