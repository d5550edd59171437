"""Issue 8's "done when", end to end: a critical stockout found by the scheduled run reaches the
Slack channel its routing rule names, once, with its explanation, chart and buttons; the next
scheduled run posts no second copy; pressing Acknowledge acknowledges the alert.

Nothing is made by hand between the links: the plant's data goes in through ingestion, the
rule through the admin API, the run through a real procrastinate worker as the site's service
user, the delivery through notify's routing and relay, the click through the Bolt app."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from slack_bolt.request.async_request import AsyncBoltRequest
from sqlalchemy import select

from opscopilot.core.settings import Settings
from opscopilot.forecasting.alerts import chart_url
from opscopilot.jobs.schedules import RUN_TASK, service_external_id
from opscopilot.notify.relay import Relay
from opscopilot.notify.runner import route_and_bundle
from opscopilot.slackbot import alerts
from opscopilot.slackbot.bot import SlackBot
from opscopilot.store.engine import Database
from opscopilot.store.models import (
    AuditEvent,
    ForecastAlert,
    ForecastRun,
    Notification,
    User,
)
from tests.conftest import make_settings
from tests.integration.forecasting.conftest import ingest, item, sales, weeks_before
from tests.integration.notify.conftest import PNG_MAGIC, PUBLIC_URL
from tests.integration.schedules.conftest import CHANNELS, add_site, run_ticks
from tests.integration.slackbot.conftest import (  # noqa: F401  (fixtures)
    checkpointer,
    make_bot,
    offline_runner,
)
from tests.integration.slackbot.scripted import SIGNING_SECRET, pressed
from tests.peers.slack import SlackMessage, SlackStandIn

SITE = "north"
SKU = "VALVE-9"
PLANT_OPS = "C0PLANTOPS"  # the #plant-ops channel
OSCAR = "U0OSCAR01"  # an operator of the plant
BUTTONS = [
    alerts.ACKNOWLEDGE,
    alerts.SNOOZE_4H,
    alerts.SNOOZE_1D,
    alerts.OPEN_IN_CHAT,
    alerts.SUGGESTED_ACTION,
]


@pytest.fixture
def slack_settings(migrated: str, slack: SlackStandIn) -> Settings:
    """One configuration for the worker, the API, the relay and the bot (as one deployment)."""
    return make_settings(
        migrated,
        slack={
            "bot_token": slack.token,
            "app_token": slack.app_token,
            "signing_secret": SIGNING_SECRET,
            "base_url": slack.base_url,
        },
        api={"public_url": PUBLIC_URL, "rate_limit_write_per_min": 0},
        schedule={"summary_channels": CHANNELS},
        notify={"backoff_base_s": 0.05, "backoff_max_s": 0.5, "relay_poll_s": 0.05},
    )


@pytest.fixture
async def api(slack_settings: Settings, clean_db: Database) -> AsyncIterator[httpx.AsyncClient]:
    from opscopilot.api.app import create_app

    app: FastAPI = create_app(slack_settings, database=clean_db)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


@pytest.fixture
async def relay(clean_db: Database, slack_settings: Settings) -> AsyncIterator[Relay]:
    r = Relay(clean_db, slack_settings, seed=7)
    yield r
    await r.aclose()


async def seed_running_out(db: Database, settings: Settings) -> None:
    """100 a week for 30 weeks up to today, 150 on hand, four weeks' lead time and a safety
    stock of 100: stock falls under the safety stock within the lead time (critical)."""
    today = datetime.now(UTC).date()
    await add_site(db, SITE)
    await item(db, settings, SKU, site=SITE, lead_time_days=28, safety_stock=100,
               reorder_point=500)  # fmt: skip
    await ingest(db, settings, site=SITE,
                 sales=sales(SKU, weeks_before(today, 30), [100.0] * 30, prefix=SITE))  # fmt: skip
    now = datetime.now(UTC) - timedelta(hours=1)
    await ingest(db, settings, site=SITE,
                 inventory=[{"sku": SKU, "on_hand": 150, "as_of": now.isoformat()}])  # fmt: skip


async def deliver(db: Database, relay: Relay) -> int:
    """What the notify loop does each turn: route new events, then deliver what is due."""
    await route_and_bundle(db, relay.settings, now=datetime.now(UTC))
    return await relay.deliver_due()


async def runs_done(db: Database) -> int:
    """Scheduled forecast runs that succeeded with every item forecast."""
    async with db.sessions() as session:
        runs = (await session.scalars(select(ForecastRun))).all()
    return sum(r.trigger == "schedule" and r.status == "succeeded" and r.items_done > 0
               for r in runs)  # fmt: skip


def alert_posts(slack: SlackStandIn) -> list[SlackMessage]:
    return [m for m in slack.messages if m.channel == PLANT_OPS]


async def test_a_scheduled_critical_stockout_reaches_the_channel_once_and_can_be_acknowledged(
    clean_db: Database,
    slack_settings: Settings,
    slack: SlackStandIn,
    api: httpx.AsyncClient,
    admin_headers: dict[str, str],
    relay: Relay,
    make_bot: Callable[..., SlackBot],  # noqa: F811  (the imported fixture)
) -> None:
    await seed_running_out(clean_db, slack_settings)
    rule = {"name": "critical stockouts at north -> plant ops", "site": SITE,
            "alert_type": "stockout_risk", "min_severity": "critical", "channel": "slack",
            "address": PLANT_OPS}  # fmt: skip
    created = await api.post("/api/v1/routing-rules", json=rule, headers=admin_headers)
    assert created.status_code == 201, created.text

    await run_ticks(clean_db, slack_settings, RUN_TASK, [int(datetime.now(UTC).timestamp())])
    await deliver(clean_db, relay)  # a no-op when the worker's notify.relay job was first

    async with clean_db.sessions() as session:
        (alert,) = (
            await session.scalars(
                select(ForecastAlert).where(ForecastAlert.alert_type == "stockout_risk")
            )
        ).all()
        service = await session.scalar(
            select(User).where(User.external_id == service_external_id(SITE))
        )
    assert (alert.site, alert.sku, alert.severity) == (SITE, SKU, "critical")
    assert service is not None and service.is_service  # the run acted as the service user

    (posted,) = alert_posts(slack)
    text = json.dumps(posted.blocks)
    assert SKU in text and "Stockout risk" in text
    explanation = alert.details["explanation"]
    assert explanation and explanation in text
    (buttons,) = [b for b in posted.blocks or [] if b["type"] == "actions"]
    assert [e["action_id"] for e in buttons["elements"]] == BUTTONS
    assert all(e["value"] for e in buttons["elements"])
    suggestion = json.loads(buttons["elements"][-1]["value"])
    assert suggestion["alert_id"] == str(alert.id) and suggestion["kind"] == "purchase_request"
    (chart,) = [f for f in slack.files if f.shared]
    # Drawn by the relay from the stored forecast (no request to the API, which needs a key).
    assert (chart.content or b"").startswith(PNG_MAGIC) and chart.channel == PLANT_OPS
    # The summaries went to their own channels and carry the alert as a line, not a copy.
    summaries = [m for m in slack.messages if m.channel != PLANT_OPS]
    assert sorted(m.channel for m in summaries) == sorted(CHANNELS)
    assert all(SKU in json.dumps(m.blocks) for m in summaries)

    # The next scheduled run forecasts again: same facts, the alert is not announced again.
    first_runs = await runs_done(clean_db)
    assert first_runs >= 1
    later = int((datetime.now(UTC) + timedelta(minutes=1)).timestamp())
    await run_ticks(clean_db, slack_settings, RUN_TASK, [later])
    await deliver(clean_db, relay)
    assert await runs_done(clean_db) == 2 * first_runs  # it did forecast the item again
    assert len(alert_posts(slack)) == 1
    again = [m for m in slack.messages if m.channel != PLANT_OPS and m not in summaries]
    assert len(again) == len(CHANNELS) and not any(SKU in json.dumps(m.blocks) for m in again)
    assert len([f for f in slack.files if f.shared]) == 1
    async with clean_db.sessions() as session:
        sent = (await session.scalars(select(Notification))).all()
    assert [(n.address, n.status) for n in sent] == [(PLANT_OPS, "sent")]
    # The chart shown is the alert's own forecast.
    assert sent[0].payload["chart_url"] == chart_url(SKU, "inventory", "weekly", SITE)

    # An operator presses Acknowledge on that message.
    async with clean_db.sessions() as session:
        session.add(User(external_id="oscar", role="operator", slack_user_id=OSCAR, sites=[SITE]))
        await session.commit()
    bot = make_bot()
    click = pressed(slack, posted, alerts.ACKNOWLEDGE, user=OSCAR)
    response = await bot.app.async_dispatch(AsyncBoltRequest(mode="socket_mode", body=click))
    assert response.status == 200
    await bot.drain(30)
    async with clean_db.sessions() as session:
        acked = await session.get(ForecastAlert, alert.id, populate_existing=True)
        audited = await session.scalar(
            select(AuditEvent).where(AuditEvent.event_type == "alert.acknowledged")
        )
    assert acked is not None and (acked.status, acked.acted_by) == ("acknowledged", "oscar")
    assert audited is not None and audited.actor == "oscar"
    updated = next(m for m in slack.messages if m.ts == posted.ts)
    assert "Acknowledged by <@U0OSCAR01>" in json.dumps(updated.blocks)
    assert not any(b["type"] == "actions" for b in updated.blocks or [])
