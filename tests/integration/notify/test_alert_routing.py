"""alert.raised events become notifications by the routing rules, once, and reach people."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from opscopilot.notify.escalation import escalate_due
from opscopilot.notify.relay import Relay
from opscopilot.notify.runner import route_and_bundle
from opscopilot.store.engine import Database
from opscopilot.store.models import ForecastAlert, OutboxEvent
from tests.integration.notify.conftest import PNG_MAGIC, Peers, make_alert, rows


async def _setup_plant(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    """Two buyers on call at main, a planner by email, and #plant-ops for critical parts."""
    for user, slack_id, email in (
        ("buyer-1", "U0BUYER1", "b1@plant.example"),
        ("buyer-2", "U0BUYER2", "b2@plant.example"),
    ):
        for channel, address in (("slack", slack_id), ("email", email)):
            r = await client.post(
                "/api/v1/preferences",
                json={"user_id": user, "channel": channel, "address": address},
                headers=admin,
            )
            assert r.status_code == 200, r.text
    r = await client.post(
        "/api/v1/preferences",
        json={
            "user_id": "planner",
            "channel": "email",
            "address": "planner@plant.example",
            "min_severity": "warning",
        },
        headers=admin,
    )
    assert r.status_code == 200
    oc = await client.put(
        "/api/v1/on-call/main/buyer", json={"user_ids": ["buyer-1", "buyer-2"]}, headers=admin
    )
    assert oc.status_code == 200, oc.text
    rules: list[dict[str, Any]] = [
        {
            "name": "critical parts stockout -> buyer on call (slack)",
            "alert_type": "stockout_risk",
            "item_category": "critical-parts",
            "on_call_role": "buyer",
            "channel": "slack",
        },
        {
            "name": "critical parts stockout -> #plant-ops",
            "alert_type": "stockout_risk",
            "item_category": "critical-parts",
            "min_severity": "critical",
            "channel": "slack",
            "address": "#plant-ops",
        },
        {"name": "everything warning+ -> planner", "min_severity": "warning", "user_id": "planner"},
        {"name": "other site", "site": "north", "user_id": "planner", "channel": "email"},
    ]
    for rule in rules:
        r = await client.post("/api/v1/routing-rules", json=rule, headers=admin)
        assert r.status_code == 201, r.text


async def test_a_stockout_reaches_the_buyer_on_call_and_plant_ops_once(
    nclient: httpx.AsyncClient,
    admin_headers: dict[str, str],
    relay: Relay,
    peers: Peers,
    clean_db: Database,
) -> None:
    await _setup_plant(nclient, admin_headers)
    alert_id = await make_alert(clean_db)
    now = datetime.now(UTC)
    await route_and_bundle(clean_db, relay.settings, now=now)
    # The event is read again (a second relay, a replay): nothing new is written.
    async with clean_db.sessions() as s:
        await s.execute(update(OutboxEvent).values(processed_at=None))
        await s.commit()
    await route_and_bundle(clean_db, relay.settings, now=now)

    made = {(r.address, r.channel): r for r in await rows(clean_db, alert_id=alert_id)}
    assert sorted(made) == [
        ("#plant-ops", "slack"),
        ("U0BUYER1", "slack"),
        ("planner@plant.example", "email"),
    ]
    assert all(r.status == "queued" for r in made.values())
    buyer = made[("U0BUYER1", "slack")]
    assert [a["id"] for a in buyer.payload["actions"]] == [
        "alert_ack",
        "alert_snooze_4h",
        "alert_snooze_1d",
        "alert_open_chat",
        "alert_suggested_action",
    ]
    assert json.loads(buyer.payload["actions"][-1]["value"])["kind"] == "purchase_request"

    assert await relay.deliver_due() == 3
    posts = {c.body["channel"]: c.body for c in peers.slack.calls_to("chat.postMessage")}
    assert set(posts) == {"D0BUYER1", "#plant-ops"}
    blocks = posts["D0BUYER1"]["blocks"]
    assert "Stockout risk: ITEM-001 Component A runs out in 4 days" in json.dumps(blocks)
    assert "Demand ran 40% above forecast" in json.dumps(blocks)
    (buttons,) = [b for b in blocks if b["type"] == "actions"]
    assert [e["action_id"] for e in buttons["elements"]][:2] == ["alert_ack", "alert_snooze_4h"]
    assert all(e["value"] for e in buttons["elements"])
    charts = [f for f in peers.slack.files if f.shared]
    assert len(charts) == 2 and all((f.content or b"").startswith(PNG_MAGIC) for f in charts)
    (mail,) = peers.smtp.messages
    assert mail.rcpt_tos == ["planner@plant.example"]
    assert any(p.get_content_type() == "image/png" for p in mail.message.walk())

    sent = await rows(clean_db, alert_id=alert_id, status="sent")
    slack_sent = {
        r.provider_conversation_id: r.provider_message_id for r in sent if r.channel == "slack"
    }
    assert slack_sent == {m.channel: m.ts for m in peers.slack.messages}
    assert await relay.deliver_due() == 0


async def test_an_unacknowledged_critical_alert_escalates_down_the_list(
    nclient: httpx.AsyncClient,
    admin_headers: dict[str, str],
    relay: Relay,
    peers: Peers,
    clean_db: Database,
) -> None:
    await _setup_plant(nclient, admin_headers)
    alert_id = await make_alert(clean_db)
    t0 = datetime.now(UTC)
    await route_and_bundle(clean_db, relay.settings, now=t0)
    await relay.deliver_due()
    after = t0 + timedelta(seconds=relay.settings.notify.escalation_after_s + 5)
    async with clean_db.sessions() as s:
        assert await escalate_due(s, settings=relay.settings, now=t0) == []  # not yet
        created = await escalate_due(s, settings=relay.settings, now=after)
        again = await escalate_due(s, settings=relay.settings, now=after)
        await s.commit()
    assert len(created) == 1 and again == []
    (paged,) = await rows(clean_db, alert_id=alert_id, escalation_level=1)
    assert paged.address == "U0BUYER2" and paged.payload["route"]["position"] == 2
    assert paged.message.startswith("Escalated: not acknowledged within 15 min.")
    await relay.deliver_due(now=after)
    assert {c.body["channel"] for c in peers.slack.calls_to("chat.postMessage")} >= {"D0BUYER2"}

    later = after + timedelta(seconds=relay.settings.notify.escalation_after_s + 5)
    async with clean_db.sessions() as s:
        assert await escalate_due(s, settings=relay.settings, now=later) == []  # end of list
        alert = await s.get(ForecastAlert, alert_id)
        assert alert is not None and alert.escalation_level == 1


async def test_an_acknowledged_alert_does_not_escalate(
    nclient: httpx.AsyncClient, admin_headers: dict[str, str], relay: Relay, clean_db: Database
) -> None:
    await _setup_plant(nclient, admin_headers)
    alert_id = await make_alert(clean_db)
    t0 = datetime.now(UTC)
    await route_and_bundle(clean_db, relay.settings, now=t0)
    async with clean_db.sessions() as s:
        await s.execute(
            update(ForecastAlert)
            .where(ForecastAlert.id == alert_id)
            .values(status="acknowledged", acted_by="buyer-1")
        )
        await s.commit()
        later = t0 + timedelta(hours=2)
        assert await escalate_due(s, settings=relay.settings, now=later) == []


async def test_a_rolled_back_alert_announces_nothing(
    nclient: httpx.AsyncClient,
    admin_headers: dict[str, str],
    relay: Relay,
    peers: Peers,
    clean_db: Database,
) -> None:
    await _setup_plant(nclient, admin_headers)
    await make_alert(clean_db, commit_event=False)
    await route_and_bundle(clean_db, relay.settings, now=datetime.now(UTC))
    assert await relay.deliver_due() == 0
    assert await rows(clean_db) == []
    async with clean_db.sessions() as s:
        assert (await s.scalars(select(OutboxEvent))).all() == []
    assert peers.slack.calls == [] and peers.smtp.messages == []


async def test_unrouted_and_broken_events_are_kept_with_the_reason(
    relay: Relay, clean_db: Database
) -> None:
    await make_alert(clean_db, sku="ITEM-009", category=None)
    async with clean_db.sessions() as s:
        s.add(
            OutboxEvent(
                event_type="alert.raised",
                aggregate_type="forecast_alert",
                aggregate_id="x",
                payload={"alert_id": "not-a-uuid"},
            )
        )
        await s.commit()
    for _ in range(relay.settings.notify.max_attempts):
        await route_and_bundle(clean_db, relay.settings, now=datetime.now(UTC))
    async with clean_db.sessions() as s:
        events = (await s.scalars(select(OutboxEvent).order_by(OutboxEvent.id))).all()
    unrouted, broken = events
    assert unrouted.processed_at is not None and unrouted.last_error == "no routing rule matched"
    assert broken.processed_at is not None and broken.attempts == relay.settings.notify.max_attempts
    assert "alert_id" in (broken.last_error or "")
    assert await rows(clean_db) == []


async def test_rules_and_on_call_admin_routes_check_their_input(
    nclient: httpx.AsyncClient, admin_headers: dict[str, str], operator_headers: dict[str, str]
) -> None:
    await _setup_plant(nclient, admin_headers)
    bad = [
        ({"name": "two targets", "user_id": "planner", "on_call_role": "buyer"}, "user_id"),
        ({"name": "no target"}, "user_id"),
        ({"name": "typo", "alert_type": "stockout", "user_id": "planner"}, "alert_type"),
        ({"name": "nobody", "user_id": "ghost"}, "user_id"),
        (
            {
                "name": "metadata",
                "channel": "webhook",
                "address": "http://169.254.169.254/latest/meta-data/",
            },
            "address",
        ),
        ({"name": "bad channel", "channel": "telex", "address": "x"}, "channel"),
    ]
    for body, field in bad:
        r = await nclient.post("/api/v1/routing-rules", json=body, headers=admin_headers)
        assert r.status_code in (404, 422), (body, r.text)
        assert r.json()["error"]["field"] == field, (body, r.text)
    forbidden = await nclient.post(
        "/api/v1/routing-rules", json={"name": "x", "user_id": "planner"}, headers=operator_headers
    )
    assert forbidden.status_code == 403

    rules = (await nclient.get("/api/v1/routing-rules", headers=admin_headers)).json()
    assert len(rules) == 4
    plant_ops = next(r for r in rules if r["address"] == "#plant-ops")
    changed = await nclient.put(
        f"/api/v1/routing-rules/{plant_ops['id']}",
        json={
            "name": "all stockouts -> #plant-ops",
            "alert_type": "stockout_risk",
            "channel": "slack",
            "address": "#plant-ops",
        },
        headers=admin_headers,
    )
    assert changed.status_code == 200 and changed.json()["item_category"] is None
    gone = await nclient.delete(f"/api/v1/routing-rules/{plant_ops['id']}", headers=admin_headers)
    assert gone.status_code == 204
    assert len((await nclient.get("/api/v1/routing-rules", headers=admin_headers)).json()) == 3

    twice = await nclient.put(
        "/api/v1/on-call/main/buyer",
        json={"user_ids": ["buyer-1", "buyer-1"]},
        headers=admin_headers,
    )
    assert twice.status_code == 422
    listed = (await nclient.get("/api/v1/on-call", headers=admin_headers)).json()
    assert listed == [{"site": "main", "role": "buyer", "user_ids": ["buyer-1", "buyer-2"]}]
