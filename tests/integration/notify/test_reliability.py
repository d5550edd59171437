"""Faults at the delivery edge: a relay killed mid-send, rate limits, a mail server that is
down for a while, and one that never comes back. (The rolled-back alert is in
test_alert_routing.)"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from opscopilot.core.settings import Settings
from opscopilot.notify.relay import Relay
from opscopilot.notify.service import send_notification, set_preferences
from opscopilot.store.engine import Database
from tests.integration.notify.conftest import Peers, peer_settings, rows, wait_for
from tests.peers.webhook import EXAMPLE_SECRET

RELAY_SCRIPT = """
import asyncio
from opscopilot.core.settings import get_settings
from opscopilot.notify.relay import Relay
from opscopilot.store.engine import open_database

async def main():
    settings = get_settings()
    relay = Relay(open_database(settings), settings, lease_s=1.5)
    print("relay up", flush=True)
    await relay.deliver_due()

asyncio.run(main())
"""


async def _queue(db: Database, channel: str, address: str, title: str = "Line 2 down") -> str:
    async with db.sessions() as s:
        await set_preferences(
            s, user_id="op", channel=channel, address=address, webhook_allowlist=["127.0.0.1"]
        )
        sent = await send_notification(
            s,
            user_id="op",
            title=title,
            message="Conveyor jam at station 4",
            severity="critical",
            channel=channel,
        )
        await s.commit()
    assert sent.status == "queued"
    return str(sent.notification_id)


@asynccontextmanager
async def running(relay: Relay) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run_deliveries(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_relay_killed_after_the_provider_accepted_resends_with_the_same_key(
    clean_db: Database, peers: Peers, relay: Relay
) -> None:
    notification_id = await _queue(clean_db, "webhook", f"{peers.webhook.url}/hooks/op")
    peers.webhook.delay_s = 30.0  # the receiver applies the effect, then answers late
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPSCOPILOT_", "DB_"))} | {
        "OPSCOPILOT_DB__URL": clean_db.url,
        "OPSCOPILOT_DB__AUTO_UPGRADE": "false",
        "OPSCOPILOT_ENVIRONMENT": "test",
        "OPSCOPILOT_LOG_JSON": "false",
        "OPSCOPILOT_NOTIFY__WEBHOOK_SECRET": EXAMPLE_SECRET,
        "OPSCOPILOT_NOTIFY__WEBHOOK_ALLOWLIST": json.dumps(["127.0.0.1"]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", RELAY_SCRIPT],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:

        async def accepted() -> bool:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            return notification_id in peers.webhook.effects

        await wait_for(accepted, timeout=60)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # before the relay could record anything
        proc.wait(10)
    (row,) = await rows(clean_db)
    assert row.status == "sending" and row.attempts == 1 and row.sent_at is None

    peers.webhook.delay_s = 0.0

    async def redelivered() -> bool:
        await relay.deliver_due()
        return (await rows(clean_db))[0].status == "sent"

    await wait_for(redelivered, timeout=15, every=0.2)  # after the 1.5 s lease
    (row,) = await rows(clean_db)
    assert row.attempts == 2 and row.provider_message_id == notification_id
    ids = [r.headers["webhook-id"] for r in peers.webhook.requests]
    assert ids == [notification_id, notification_id]
    assert [r.verdict for r in peers.webhook.requests] == ["ok", "duplicate"]
    assert list(peers.webhook.effects) == [notification_id] and peers.webhook.duplicates == 1


def _event_waiters() -> set[asyncio.Task[object]]:
    return {t for t in asyncio.all_tasks() if "Event.wait" in repr(t.get_coro())}


async def test_a_relay_cancelled_while_idle_leaves_no_waiter_behind(relay: Relay) -> None:
    # A waiter left pending is collected later as "Task was destroyed but it is pending",
    # which runs a logging call in the middle of whatever the process is doing.
    before = _event_waiters()  # the test loop may be shared with other tests
    task = asyncio.create_task(relay.run_deliveries(asyncio.Event()))

    async def idle() -> bool:
        return len(_event_waiters() - before) == 2  # the wake-up and the stop waiter

    await wait_for(idle, timeout=15)
    waiters = _event_waiters() - before
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)  # the waiters' cancellation runs
    assert all(w.done() for w in waiters)


async def test_slack_429_with_retry_after_then_200_posts_once_after_the_wait(
    clean_db: Database, peers: Peers, relay: Relay
) -> None:
    await _queue(clean_db, "slack", "U0OPER1")
    peers.slack.fail_next(1, status=429, retry_after=1, method="chat.postMessage")
    started, before = time.monotonic(), datetime.now(UTC)
    assert await relay.deliver_due() == 1
    (row,) = await rows(clean_db)
    assert row.status == "queued" and row.attempts == 1
    assert "rate limited" in (row.last_error or "")
    assert row.next_attempt_at is not None
    assert row.next_attempt_at >= before + timedelta(seconds=1)
    assert await relay.deliver_due() == 0  # not before Retry-After

    async with running(relay):

        async def sent() -> bool:
            return (await rows(clean_db))[0].status == "sent"

        await wait_for(sent)
    assert time.monotonic() - started >= 1.0
    posts = peers.slack.calls_to("chat.postMessage")
    assert [c.status for c in posts] == [429, 200]
    (message,) = peers.slack.messages
    (row,) = await rows(clean_db)
    assert row.attempts == 2 and row.provider_message_id == message.ts


def _patient(clean_db: Database, peers: Peers, attempts: int) -> Settings:
    return peer_settings(clean_db.url, peers, max_attempts=attempts, backoff_max_s=0.4)


async def test_smtp_down_then_back_is_delivered_within_the_retry_bound(
    clean_db: Database, peers: Peers
) -> None:
    settings = _patient(clean_db, peers, attempts=15)
    relay = Relay(clean_db, settings, seed=3)
    peers.smtp.stop()
    notification_id = await _queue(clean_db, "email", "op@plant.example")
    try:
        async with running(relay):
            await asyncio.sleep(1.5)
            (row,) = await rows(clean_db)
            assert row.status in ("queued", "sending") and row.attempts >= 2
            assert "smtp unreachable" in (row.last_error or "")
            peers.smtp.start()

            async def sent() -> bool:
                return (await rows(clean_db))[0].status == "sent"

            await wait_for(sent, timeout=10)
    finally:
        await relay.aclose()
    (row,) = await rows(clean_db)
    assert 2 < row.attempts <= settings.notify.max_attempts
    (mail,) = peers.smtp.messages
    assert mail.message_id == f"<notification-{notification_id}@plant.example>"


async def test_a_provider_that_never_returns_fails_with_the_last_error(
    clean_db: Database, peers: Peers
) -> None:
    relay = Relay(clean_db, _patient(clean_db, peers, attempts=3), seed=5)
    peers.smtp.stop()
    await _queue(clean_db, "email", "op@plant.example")
    try:
        async with running(relay):

            async def failed() -> bool:
                return (await rows(clean_db))[0].status == "failed"

            await wait_for(failed)
    finally:
        await relay.aclose()
    (row,) = await rows(clean_db)
    assert row.attempts == 3 and row.next_attempt_at is None
    assert (row.last_error or "").startswith("gave up after 3 attempts: smtp unreachable")


async def test_a_permanent_refusal_fails_at_once(
    clean_db: Database, peers: Peers, relay: Relay
) -> None:
    peers.slack.unknown_ids.add("U0GONE1")
    await _queue(clean_db, "slack", "U0GONE1")
    assert await relay.deliver_due() == 1
    (row,) = await rows(clean_db)
    assert row.status == "failed" and row.attempts == 1
    assert row.last_error == "slack refused: user_not_found"


async def test_slack_post_accepted_but_chart_failed_is_edited_not_posted_again(
    clean_db: Database, peers: Peers, relay: Relay
) -> None:
    from opscopilot.notify.routing import create_rule
    from opscopilot.notify.runner import route_and_bundle
    from opscopilot.notify.schemas import RoutingRuleWrite
    from tests.integration.notify.conftest import make_alert

    async with clean_db.sessions() as s:
        await set_preferences(s, user_id="buyer", channel="slack", address="U0BUYER1")
        await create_rule(
            s,
            rule=RoutingRuleWrite(name="stockouts", user_id="buyer", channel="slack"),
            webhook_allowlist=[],
        )
        await s.commit()
    await make_alert(clean_db)
    await route_and_bundle(clean_db, relay.settings, now=datetime.now(UTC))
    peers.slack.fail_next(1, status=500, method="files.getUploadURLExternal")
    assert await relay.deliver_due() == 1
    (row,) = await rows(clean_db)
    assert row.status == "queued" and row.provider_message_id is not None
    (posted,) = peers.slack.messages

    async with running(relay):

        async def sent() -> bool:
            return (await rows(clean_db))[0].status == "sent"

        await wait_for(sent)
    (message,) = peers.slack.messages
    assert message.ts == posted.ts and message.edits == 1
    assert len(peers.slack.calls_to("chat.postMessage")) == 1
    assert [f.shared for f in peers.slack.files] == [True]
