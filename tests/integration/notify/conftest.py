"""Notify against a real Postgres and real loopback peers: SMTP, webhook receiver, Slack and
SMS stand-ins. Alert charts are drawn by the relay from a stored forecast."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from opscopilot.core.settings import Settings
from opscopilot.notify.relay import Relay
from opscopilot.store.engine import Database
from opscopilot.store.models import Forecast, ForecastAlert, ManufacturingItem, Notification
from tests.conftest import make_settings
from tests.peers.slack import SlackStandIn
from tests.peers.sms import SMSStandIn
from tests.peers.smtp import SMTPPeer
from tests.peers.webhook import EXAMPLE_SECRET, WebhookReceiver

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Where the API says it lives: alert events link their chart under it.
PUBLIC_URL = "http://opscopilot.test"


@dataclass
class Peers:
    smtp: SMTPPeer
    webhook: WebhookReceiver
    slack: SlackStandIn
    sms: SMSStandIn


@pytest.fixture
def peers() -> Iterator[Peers]:
    with (
        SMTPPeer() as smtp,
        WebhookReceiver(secret=EXAMPLE_SECRET) as webhook,
        SlackStandIn() as slack,
        SMSStandIn() as sms,
    ):
        yield Peers(smtp=smtp, webhook=webhook, slack=slack, sms=sms)


def peer_settings(url: str, peers: Peers, **notify: Any) -> Settings:
    return make_settings(
        url,
        smtp={
            "host": "127.0.0.1",
            "port": peers.smtp.port,
            "sender": "ops@plant.example",
            "timeout_s": 2,
        },
        slack={"bot_token": peers.slack.token, "base_url": peers.slack.base_url},
        sms={
            "base_url": peers.sms.url,
            "account_sid": peers.sms.account_sid,
            "auth_token": peers.sms.auth_token,
            "from_number": "+15550001111",
        },
        api={"public_url": PUBLIC_URL, "rate_limit_write_per_min": 0},
        notify={
            "webhook_secret": EXAMPLE_SECRET,
            "webhook_allowlist": ["127.0.0.1"],
            "backoff_base_s": 0.05,
            "backoff_max_s": 0.5,
            "relay_poll_s": 0.05,
            "max_attempts": 6,
            "escalation_after_s": 900,
        }
        | notify,
    )


@pytest.fixture
def nsettings(clean_db: Database, peers: Peers) -> Settings:
    return peer_settings(clean_db.url, peers)


@pytest.fixture
async def relay(clean_db: Database, nsettings: Settings) -> AsyncIterator[Relay]:
    r = Relay(clean_db, nsettings, seed=7)
    yield r
    await r.aclose()


@pytest.fixture
async def napp(nsettings: Settings, clean_db: Database) -> AsyncIterator[FastAPI]:
    from opscopilot.api.app import create_app

    application = create_app(nsettings, database=clean_db)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def nclient(napp: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=napp)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def make_alert(
    db: Database,
    *,
    sku: str = "ITEM-001",
    alert_type: str = "stockout_risk",
    severity: str = "critical",
    site: str = "main",
    category: str | None = "critical-parts",
    details: dict[str, Any] | None = None,
    commit_event: bool = True,
) -> uuid.UUID:
    """An item, an alert and its alert.raised event in one transaction, as forecasting does."""
    from opscopilot.notify.events import SuggestedAction, alert_raised_event

    async with db.sessions() as s:
        item = await s.scalar(select(ManufacturingItem).where(ManufacturingItem.sku == sku))
        if item is None:
            item = ManufacturingItem(sku=sku, name="Component A", category=category)
            s.add(item)
            await s.flush()
        s.add(_inventory_forecast(item, site=site))
        alert = ForecastAlert(
            id=uuid.uuid4(),
            site=site,
            item_id=item.id,
            sku=sku,
            alert_type=alert_type,
            severity=severity,
            message=f"Projected stock for {sku} falls below zero in 4 days.",
            details=details
            if details is not None
            else {
                "explanation": "Demand ran 40% above forecast for three weeks.",
                "on_hand": 40,
                "days_until_stockout": 4,
                "stockout_date": "2024-01-19",
                "reorder_point": 100,
                "lead_time_days": 10,
            },
        )
        s.add(alert)
        s.add(
            alert_raised_event(
                alert,
                item_name="Component A",
                item_category=category,
                chart_url=f"/api/v1/forecasts/{item.id}/inventory/chart.png",
                suggested_action=SuggestedAction(
                    kind="purchase_request",
                    label="Draft purchase request",
                    details={"quantity": 500},
                ),
            )
        )
        if commit_event:
            await s.commit()
        else:
            await s.rollback()
        return alert.id


def _inventory_forecast(item: ManufacturingItem, *, site: str) -> Forecast:
    """The forecast the alert's chart shows: projected stock falling below zero."""
    today = date.today()
    days = [today + timedelta(days=d) for d in range(-14, 15)]
    history = [{"ds": d.isoformat(), "y": 200.0 - 5 * i} for i, d in enumerate(days[:14])]
    points = [
        {"ds": d.isoformat(), "yhat": y, "lo80": y - 30, "hi80": y + 30}
        for d, y in zip(days[14:], range(130, -400, -30), strict=False)
    ]
    return Forecast(
        site=site, entity_id=item.id, sku=item.sku, forecast_type="inventory", period="daily",
        horizon=len(points), model="projection", points=points, history=history,
    )  # fmt: skip


async def rows(db: Database, **where: Any) -> list[Notification]:
    async with db.sessions() as s:
        stmt = select(Notification).order_by(Notification.created_at, Notification.channel)
        for name, value in where.items():
            stmt = stmt.where(getattr(Notification, name) == value)
        return list((await s.scalars(stmt)).all())


async def wait_for(
    check: Callable[[], Awaitable[bool]], *, timeout: float = 15.0, every: float = 0.05
) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(every)
