"""Where the relay runs: inside `serve` on the embedded default, and as a worker job."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from opscopilot.jobs.app import build_app, worker_options
from opscopilot.notify.service import send_notification, set_preferences
from opscopilot.store.engine import Database
from tests.integration.notify.conftest import Peers, peer_settings, rows, wait_for


@pytest.fixture
async def serving(clean_db: Database, peers: Peers) -> AsyncIterator[FastAPI]:
    from opscopilot.api.app import create_app

    settings = peer_settings(clean_db.url, peers)
    settings.jobs.in_process_worker = True
    application = create_app(settings, database=clean_db)
    async with application.router.lifespan_context(application):
        yield application


async def test_serve_delivers_without_a_separate_worker(
    serving: FastAPI, operator_headers: dict[str, str], peers: Peers, clean_db: Database
) -> None:
    transport = httpx.ASGITransport(app=serving)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        r = await client.post(
            "/api/v1/preferences",
            json={"user_id": "user123", "channel": "email", "address": "b@plant.example"},
            headers=operator_headers,
        )
        assert r.status_code == 200
        sent = await client.post(
            "/api/v1/send",
            json={
                "user_id": "user123",
                "title": "Inventory Alert",
                "severity": "critical",
                "message": "Stock level critical for ITEM-001",
                "channel": "email",
            },
            headers=operator_headers,
        )
        notification_id = sent.json()["notification_id"]

        async def delivered() -> bool:
            got = await client.get(
                f"/api/v1/notifications/{notification_id}", headers=operator_headers
            )
            return bool(got.json()["status"] == "sent")

        await wait_for(delivered, timeout=20)
    assert [m.rcpt_tos for m in peers.smtp.messages] == [["b@plant.example"]]


async def test_the_worker_relay_job_delivers(clean_db: Database, peers: Peers) -> None:
    settings = peer_settings(clean_db.url, peers)
    async with clean_db.sessions() as s:
        await set_preferences(s, user_id="op", channel="sms", address="+14155550100")
        await send_notification(
            s, user_id="op", title="Line 2 down", message="Jam", severity="critical", channel="sms"
        )
        await s.commit()
    jobs = build_app(clean_db.libpq_url, settings)
    jobs.oc.attach(clean_db)  # type: ignore[attr-defined]
    async with jobs.open_async():
        # A tick 57 s ago: the job runs the notify loop for the second left of its minute.
        await jobs.configure_task("notify.relay", queue="notify-test").defer_async(
            timestamp=int(time.time()) - 57
        )
        options = worker_options(settings, in_process=True)
        options.update(queues=["notify-test"], wait=False, fetch_job_polling_interval=0.1)
        await asyncio.wait_for(jobs.run_worker_async(**options), 30)
    (row,) = await rows(clean_db)
    assert row.status == "sent" and [m.to for m in peers.sms.messages] == ["+14155550100"]
