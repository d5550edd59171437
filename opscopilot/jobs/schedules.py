"""The scheduled run: per site, acting as the site's service user, the bulk forecast (its
partitions spread over the workers; the alert rules run inside each partition, and notify's
routing delivers each new or worse alert once), then ONE summary per configured channel of
what is new or worse since the previous summary.

`schedule.run` is periodic (cron `settings.schedule.summary_cron`; procrastinate defers it
once per tick however many workers run). It starts the runs and defers `schedule.summary`,
which waits for the runs to finish (re-deferring itself, up to `summary_wait_s`) and posts
with claim-before-post (jobs/scheduled_posts.py), so a retried job never posts twice.

The agent writes the summary (agent/scheduled.py), as the site's service user with read-only
tools: the runs' progress (`forecast_run_status`) and the alerts announced as new or worse
since the channel's previous summary (`alert_changes`; only new or worse alerts emit
`alert.raised`), so it repeats no alert. Its facts come from those tools, nothing invented.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import procrastinate
from procrastinate.types import JSONValue
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.access.roles import Principal
from opscopilot.agent.scheduled_tasks import ScheduledTask
from opscopilot.core.settings import Settings
from opscopilot.forecasting import queries
from opscopilot.forecasting.runs import start_scheduled_runs
from opscopilot.jobs.runtime import runtime_of
from opscopilot.jobs.scheduled_posts import Poster, SessionFactory, post_once
from opscopilot.store.engine import Database
from opscopilot.store.models import ForecastRun, ScheduledPost, Site, User

if TYPE_CHECKING:
    from opscopilot.agent.scheduled import ScheduledWriter

log = logging.getLogger(__name__)

blueprint = procrastinate.Blueprint()

RUN_TASK = "schedule.run"
SUMMARY_TASK = "schedule.summary"
SUMMARY_KIND = "summary"
# With no earlier summary in the channel, the first one looks back this far.
FIRST_LOOKBACK = timedelta(days=1)
WAIT_STEP_S = 5


def service_external_id(site: str) -> str:
    return f"service:{site}"


async def service_principal(session: AsyncSession, *, site: str) -> Principal:
    """The site's service user (created when missing): an operator of that one site."""
    external_id = service_external_id(site)
    await session.execute(
        insert(User)
        .values(id=uuid.uuid4(), external_id=external_id, name=f"Scheduled runs ({site})",
                role="operator", sites=[site], is_service=True)
        .on_conflict_do_nothing(index_elements=["external_id"])
    )  # fmt: skip
    user = await session.scalar(select(User).where(User.external_id == external_id))
    assert user is not None
    return Principal(
        user_id=user.id, external_id=user.external_id, role="operator", sites=tuple(user.sites)
    )


async def start_site_runs(
    sessions: SessionFactory, *, queue: Any, site: str, settings: Settings
) -> list[uuid.UUID]:
    """One bulk run per forecast type with items at the site, as its service user (the only
    scheduled forecasting path: forecasting has no schedule of its own)."""
    async with sessions() as session:
        principal = await service_principal(session, site=site)
        await session.commit()
    return await start_scheduled_runs(
        sessions, queue=queue, site=site, principal=principal, settings=settings
    )


async def _previous_summary_at(
    session: AsyncSession, *, site: str, channel: str, period_key: str
) -> datetime | None:
    return await session.scalar(
        select(func.max(ScheduledPost.updated_at)).where(
            ScheduledPost.kind == SUMMARY_KIND,
            ScheduledPost.site == site,
            ScheduledPost.channel == channel,
            ScheduledPost.period_key != period_key,
            ScheduledPost.message_ts.is_not(None),
        )
    )


async def post_summaries(
    sessions: SessionFactory,
    *,
    site: str,
    channels: list[str],
    period_key: str,
    run_ids: list[uuid.UUID],
    poster: Poster,
    writer: ScheduledWriter,
) -> int:
    """One summary per channel for this period, written by the agent; returns how many
    were posted now."""
    posted = 0
    for channel in channels:

        async def compose(channel: str = channel) -> str:
            async with sessions() as session:
                previous = await _previous_summary_at(
                    session, site=site, channel=channel, period_key=period_key
                )
                principal = await service_principal(session, site=site)
                await session.commit()
            since = previous or datetime.now(UTC) - FIRST_LOOKBACK
            task = ScheduledTask.summary(site=site, since=since, run_ids=[str(r) for r in run_ids])
            return (await writer.write(task, principal=principal)).text

        ts = await post_once(
            sessions, kind=SUMMARY_KIND, site=site, channel=channel, period_key=period_key,
            compose=compose, poster=poster,
        )  # fmt: skip
        posted += ts is not None
    return posted


def _new_writer(settings: Settings, db: Database) -> ScheduledWriter:
    from opscopilot.agent.scheduled import ScheduledWriter

    return ScheduledWriter(settings, db)


async def open_writer(settings: Settings, db: Database) -> ScheduledWriter:
    """The agent that writes summaries and briefings. Built in a thread: the first time, it
    imports the agent and its tools (seconds on a busy machine), which on the worker's loop
    would stall its heartbeats and periodic deferrals."""
    return await asyncio.to_thread(_new_writer, settings, db)


def slack_poster(settings: Settings) -> Poster:
    """Posts with the notify Slack channel and the shared Slack settings."""
    from opscopilot.notify.channels.base import OutgoingMessage
    from opscopilot.notify.channels.slack import SlackChannel
    from opscopilot.notify.filters import Severity

    if settings.slack.bot_token is None:
        raise RuntimeError("summary channels are set but OPSCOPILOT_SLACK__BOT_TOKEN is not")
    slack = SlackChannel(
        token=settings.slack.bot_token.get_secret_value(), base_url=settings.slack.base_url
    )

    async def post(channel: str, text: str) -> str:
        result = await slack.deliver(
            OutgoingMessage(
                notification_id=uuid.uuid4(),
                recipient=channel,
                title="Scheduled run summary",
                text=text,
                severity=Severity.INFO,
                notification_type="schedule.summary",
            )
        )
        return result.provider_message_id

    return post


async def _runs_pending(sessions: SessionFactory, run_ids: list[uuid.UUID]) -> bool:
    async with sessions() as session:
        pending = await session.scalar(
            select(func.count())
            .select_from(ForecastRun)
            .where(ForecastRun.id.in_(run_ids), ForecastRun.status == "running")
        )
    return bool(pending)


@blueprint.task(name=SUMMARY_TASK, pass_context=True, retry=procrastinate.RetryStrategy(
    max_attempts=5, exponential_wait=2))  # fmt: skip
async def summary_job(
    context: procrastinate.JobContext,
    site: str,
    period_key: str,
    run_ids: list[str],
    deadline: float,
) -> int:
    runtime = runtime_of(context)
    sessions = runtime.database().sessions
    ids = [uuid.UUID(r) for r in run_ids]
    if await _runs_pending(sessions, ids) and datetime.now(UTC).timestamp() < deadline:
        again: list[JSONValue] = list(run_ids)
        await context.app.configure_task(
            SUMMARY_TASK, schedule_in={"seconds": WAIT_STEP_S}
        ).defer_async(site=site, period_key=period_key, run_ids=again, deadline=deadline)
        return 0
    async with await open_writer(runtime.settings, runtime.database()) as writer:
        return await post_summaries(
            sessions,
            site=site,
            channels=list(runtime.settings.schedule.summary_channels),
            period_key=period_key,
            run_ids=ids,
            poster=slack_poster(runtime.settings),
            writer=writer,
        )


@blueprint.task(name=RUN_TASK, pass_context=True, queueing_lock=RUN_TASK)
async def run_job(context: procrastinate.JobContext, timestamp: int) -> int:
    runtime = runtime_of(context)
    sessions = runtime.database().sessions
    settings = runtime.settings
    async with sessions() as session:
        # Plants on record, and any site with data that has no `sites` row yet.
        known = set((await session.scalars(select(Site.code))).all())
        sites = sorted(known | set(await queries.sites_with_data(session)))
    period_key = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    for site in sites:
        run_ids = await start_site_runs(sessions, queue=context.app, site=site, settings=settings)
        if settings.schedule.summary_channels:
            await context.app.configure_task(
                SUMMARY_TASK, queueing_lock=f"summary:{site}:{period_key}"
            ).defer_async(
                site=site,
                period_key=period_key,
                run_ids=[str(r) for r in run_ids],
                deadline=timestamp + settings.schedule.summary_wait_s,
            )
    log.info("scheduled run started", extra={"sites": len(sites), "period": period_key})
    return len(sites)


def attach_schedules(app: procrastinate.App, settings: Settings) -> None:
    app.periodic(cron=settings.schedule.summary_cron, periodic_id="schedule-run")(
        app.tasks[RUN_TASK]
    )
