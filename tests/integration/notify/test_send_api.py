"""POST /api/v1/send and the tracking routes, delivered by the relay to loopback peers."""

from __future__ import annotations

from typing import Any

import httpx

from opscopilot.notify.relay import Relay
from opscopilot.store.engine import Database
from tests.integration.notify.conftest import Peers, rows

EXAMPLE = {
    "user_id": "user123",
    "title": "Inventory Alert",
    "message": "Stock level critical for ITEM-001",
    "notification_type": "alert",
    "severity": "critical",
    "channel": "email",
}


async def _prefs(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> None:
    r = await client.post("/api/v1/preferences", json=body, headers=headers)
    assert r.status_code == 200, r.text


async def test_original_example_without_an_address_is_recorded_failed(
    nclient: httpx.AsyncClient, operator_headers: dict[str, str], clean_db: Database
) -> None:
    r = await nclient.post("/api/v1/send", json=EXAMPLE, headers=operator_headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "failed"
    (row,) = await rows(clean_db)
    assert str(row.id) == body["notification_id"]
    assert row.status == "failed" and row.reason == "no email address for user 'user123'"
    detail = await nclient.get(f"/api/v1/notifications/{row.id}", headers=operator_headers)
    assert detail.json()["last_error"] == row.reason


async def test_original_example_is_delivered_by_email_once(
    nclient: httpx.AsyncClient,
    operator_headers: dict[str, str],
    relay: Relay,
    peers: Peers,
    clean_db: Database,
) -> None:
    await _prefs(
        nclient, operator_headers, user_id="user123", channel="email", address="buyer@plant.example"
    )
    r = await nclient.post("/api/v1/send", json=EXAMPLE, headers=operator_headers)
    assert r.json()["status"] == "queued"
    notification_id = r.json()["notification_id"]

    assert await relay.deliver_due() == 1
    assert await relay.deliver_due() == 0
    (mail,) = peers.smtp.messages
    assert mail.rcpt_tos == ["buyer@plant.example"]
    assert mail.message["Subject"] == "[CRITICAL] Inventory Alert"
    assert mail.message_id == f"<notification-{notification_id}@plant.example>"
    assert "Stock level critical for ITEM-001" in (mail.part("text/plain") or "")
    assert "Stock level critical" in (mail.part("text/html") or "")

    got = await nclient.get(f"/api/v1/notifications/{notification_id}", headers=operator_headers)
    detail = got.json()
    assert detail["status"] == "sent" and detail["attempts"] == 1
    assert detail["provider_message_id"] == mail.message_id
    assert detail["sent_at"] is not None and detail["user_id"] == "user123"
    listed = await nclient.get(
        "/api/v1/notifications",
        params={"user_id": "user123", "status": "sent"},
        headers=operator_headers,
    )
    assert [n["id"] for n in listed.json()["items"]] == [notification_id]
    none_failed = await nclient.get(
        "/api/v1/notifications",
        params={"user_id": "user123", "status": "failed"},
        headers=operator_headers,
    )
    assert none_failed.json()["items"] == []


async def test_without_channel_every_enabled_channel_that_passes_the_filters(
    nclient: httpx.AsyncClient,
    operator_headers: dict[str, str],
    relay: Relay,
    peers: Peers,
    clean_db: Database,
) -> None:
    h = operator_headers
    await _prefs(nclient, h, user_id="ana", channel="email", address="ana@plant.example")
    await _prefs(
        nclient, h, user_id="ana", channel="sms", address="+14155550100", min_severity="critical"
    )
    await _prefs(nclient, h, user_id="ana", channel="slack", address="U0ANA1", enabled=False)
    await _prefs(
        nclient, h, user_id="ana", channel="webhook", address=f"{peers.webhook.url}/hooks/ana"
    )
    r = await nclient.post(
        "/api/v1/send",
        json={
            "user_id": "ana",
            "title": "Line 3 slow",
            "message": "OEE at 61%",
            "severity": "warning",
        },
        headers=h,
    )
    outcome = {n["channel"]: (n["status"], n["reason"]) for n in r.json()["notifications"]}
    assert outcome == {
        "email": ("queued", None),
        "sms": ("suppressed", "below_min_severity"),
        "slack": ("suppressed", "channel_disabled"),
        "webhook": ("queued", None),
    }
    assert await relay.deliver_due() == 2
    assert len(peers.smtp.messages) == 1 and peers.sms.messages == []
    assert peers.slack.calls_to("chat.postMessage") == []
    (effect,) = peers.webhook.effects.values()
    assert effect["data"]["title"].endswith("Line 3 slow")


async def test_bad_channel_and_severity_are_422_listing_the_valid_ones(
    nclient: httpx.AsyncClient, operator_headers: dict[str, str], clean_db: Database
) -> None:
    r = await nclient.post(
        "/api/v1/send", json=EXAMPLE | {"channel": "pager"}, headers=operator_headers
    )
    assert r.status_code == 422
    assert r.json()["error"]["details"]["valid"] == ["email", "sms", "slack", "webhook"]
    assert "email, sms, slack, webhook" in r.json()["error"]["message"]
    r = await nclient.post(
        "/api/v1/send", json=EXAMPLE | {"severity": "urgent"}, headers=operator_headers
    )
    assert r.status_code == 422
    assert {"info", "warning", "critical"} <= set(r.json()["error"]["details"]["valid"])
    r = await nclient.get(
        "/api/v1/notifications", params={"status": "lost"}, headers=operator_headers
    )
    assert r.status_code == 422 and "queued" in r.json()["error"]["message"]
    assert await rows(clean_db) == []


async def test_a_repeat_is_suppressed_as_duplicate_and_idempotency_key_returns_the_first(
    nclient: httpx.AsyncClient, operator_headers: dict[str, str], clean_db: Database
) -> None:
    await _prefs(
        nclient, operator_headers, user_id="user123", channel="email", address="buyer@plant.example"
    )
    first = await nclient.post("/api/v1/send", json=EXAMPLE, headers=operator_headers)
    again = await nclient.post("/api/v1/send", json=EXAMPLE, headers=operator_headers)
    assert first.json()["status"] == "queued"
    assert again.json()["notifications"][0]["reason"] == "duplicate"
    assert again.json()["status"] == "suppressed"

    keyed = {**operator_headers, "Idempotency-Key": "req-42"}
    body = EXAMPLE | {"title": "Another alert"}
    one = await nclient.post("/api/v1/send", json=body, headers=keyed)
    two = await nclient.post("/api/v1/send", json=body, headers=keyed)
    assert one.json() == two.json() and one.json()["status"] == "queued"
    assert len(await rows(clean_db)) == 3


async def test_viewers_cannot_send_and_see_only_their_own(
    nclient: httpx.AsyncClient, operator_headers: dict[str, str], key_factory: Any
) -> None:
    viewer = await key_factory("viewer", "vic")
    assert (await nclient.post("/api/v1/send", json=EXAMPLE, headers=viewer)).status_code == 403
    await nclient.post("/api/v1/send", json=EXAMPLE, headers=operator_headers)
    mine = await nclient.get("/api/v1/notifications", headers=viewer)
    assert mine.status_code == 200 and mine.json()["items"] == []
    others = await nclient.get(
        "/api/v1/notifications", params={"user_id": "user123"}, headers=viewer
    )
    assert others.status_code == 403
