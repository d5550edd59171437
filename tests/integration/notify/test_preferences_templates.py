"""Preferences and templates over HTTP: validation at save time, use at send time."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from opscopilot.notify.relay import Relay
from opscopilot.store.engine import Database
from opscopilot.store.models import User
from tests.integration.notify.conftest import Peers, peer_settings, rows


async def _post(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> httpx.Response:
    return await client.post("/api/v1/preferences", json=body, headers=headers)


async def test_a_preference_creates_the_user_and_reads_back(
    nclient: httpx.AsyncClient, operator_headers: dict[str, str], clean_db: Database
) -> None:
    r = await _post(
        nclient,
        operator_headers,
        user_id="new-buyer",
        channel="EMAIL",
        address="  Buyer@Plant.Example ",
        min_severity="high",
        quiet_hours_start="22:00",
        quiet_hours_end="06:30",
        timezone="Europe/Berlin",
        digest="daily",
    )
    assert r.status_code == 200, r.text
    assert r.json()["address"] == "Buyer@plant.example"
    assert r.json()["min_severity"] == "critical"
    async with clean_db.sessions() as s:
        user = await s.scalar(select(User).where(User.external_id == "new-buyer"))
    assert user is not None and user.timezone == "Europe/Berlin"
    got = await nclient.get("/api/v1/preferences/new-buyer", headers=operator_headers)
    (email,) = got.json()["channels"]
    assert email["quiet_hours_start"] == "22:00:00" and email["digest"] == "daily"
    assert got.json()["timezone"] == "Europe/Berlin"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"channel": "email", "address": "not-an-email"}, "address"),
        ({"channel": "sms", "address": "0176 1234"}, "address"),
        ({"channel": "slack", "address": "#general"}, "address"),
        ({"channel": "webhook", "address": "ftp://example.org/x"}, "address"),
        ({"channel": "webhook"}, "address"),
        ({"channel": "fax", "address": "x"}, "channel"),
        ({"channel": "email", "min_severity": "loud"}, "severity"),
        ({"channel": "email", "quiet_hours_start": "22:00"}, "quiet_hours_start"),
        ({"channel": "email", "timezone": "Mars/Olympus"}, "timezone"),
        ({"channel": "email", "digest": "weekly"}, "digest"),
    ],
)
async def test_bad_preferences_are_422(
    nclient: httpx.AsyncClient,
    operator_headers: dict[str, str],
    clean_db: Database,
    body: dict[str, Any],
    field: str,
) -> None:
    r = await _post(nclient, operator_headers, user_id="u1", **body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field
    async with clean_db.sessions() as s:
        assert await s.scalar(select(User).where(User.external_id == "u1")) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/hook",
        "http://192.168.0.10:8080/hook",
    ],
)
async def test_private_webhook_urls_are_refused_at_save(
    nclient: httpx.AsyncClient, operator_headers: dict[str, str], url: str
) -> None:
    r = await _post(nclient, operator_headers, user_id="u2", channel="webhook", address=url)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "address"
    assert r.json()["error"]["details"]["reason"] in ("private", "cloud metadata", "link-local")


@pytest.mark.parametrize(
    "url", ["http://localhost/hook", "http://[::1]/hook", "http://0x7f000001/hook"]
)
async def test_loopback_is_refused_unless_allow_listed(clean_db: Database, url: str) -> None:
    from opscopilot.core.errors import ValidationFailed
    from opscopilot.notify.service import set_preferences

    async with clean_db.sessions() as s:
        with pytest.raises(ValidationFailed) as refused:
            await set_preferences(s, user_id="u2", channel="webhook", address=url)
        assert refused.value.details["reason"] == "loopback"
        saved = await set_preferences(
            s,
            user_id="u2",
            channel="webhook",
            address=url,
            webhook_allowlist=["127.0.0.0/8", "::1"],
        )
        assert saved.address is not None


async def test_an_allowlisted_hook_is_refused_at_send_when_the_allowlist_no_longer_has_it(
    nclient: httpx.AsyncClient,
    operator_headers: dict[str, str],
    peers: Peers,
    clean_db: Database,
) -> None:
    target = f"{peers.webhook.url}/hooks/u3"
    ok = await _post(nclient, operator_headers, user_id="u3", channel="webhook", address=target)
    assert ok.status_code == 200, ok.text  # the test settings allow-list 127.0.0.1
    sent = await nclient.post(
        "/api/v1/send",
        json={"user_id": "u3", "title": "t", "message": "m", "channel": "webhook"},
        headers=operator_headers,
    )
    assert sent.json()["status"] == "queued"
    strict = Relay(clean_db, peer_settings(clean_db.url, peers, webhook_allowlist=[]))
    try:
        assert await strict.deliver_due() == 1
    finally:
        await strict.aclose()
    (row,) = await rows(clean_db)
    assert row.status == "failed" and "loopback" in (row.last_error or "")
    assert peers.webhook.requests == []


async def test_users_may_set_their_own_preferences_only(
    nclient: httpx.AsyncClient, key_factory: Any
) -> None:
    viewer = await key_factory("viewer", "vera")
    own = await _post(nclient, viewer, user_id="vera", channel="email", address="v@plant.example")
    assert own.status_code == 200
    other = await _post(nclient, viewer, user_id="bob", channel="email", address="b@plant.example")
    assert other.status_code == 403
    assert (await nclient.get("/api/v1/preferences", headers=viewer)).json()["user_id"] == "vera"


TEMPLATE = {
    "name": "stockout-email",
    "notification_type": "stockout_risk",
    "channel": "email",
    "subject": "Stockout {{ sku }} in {{ days_until_stockout }} d",
    "text": "{{ message }}\nWhy: {{ explanation }}",
}


async def test_template_errors_are_422_with_line_or_variable(
    nclient: httpx.AsyncClient, admin_headers: dict[str, str], operator_headers: dict[str, str]
) -> None:
    broken = TEMPLATE | {"text": "line one\n{{ message }\nline three"}
    r = await nclient.post("/api/v1/templates", json=broken, headers=admin_headers)
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["line"] == 2
    assert "line 2" in r.json()["error"]["message"]

    unknown = TEMPLATE | {"subject": "{{ sku }} {{ supplier_phone }}"}
    r = await nclient.post("/api/v1/templates", json=unknown, headers=admin_headers)
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["variable"] == "supplier_phone"

    r = await nclient.post(
        "/api/v1/templates", json=TEMPLATE | {"channel": "pigeon"}, headers=admin_headers
    )
    assert r.status_code == 422
    forbidden = await nclient.post("/api/v1/templates", json=TEMPLATE, headers=operator_headers)
    assert forbidden.status_code == 403


async def test_stored_templates_are_versioned_and_used_then_retired(
    nclient: httpx.AsyncClient,
    admin_headers: dict[str, str],
    operator_headers: dict[str, str],
    relay: Relay,
    peers: Peers,
) -> None:
    from tests.integration.notify.conftest import make_alert

    first = await nclient.post("/api/v1/templates", json=TEMPLATE, headers=admin_headers)
    assert first.status_code == 201 and first.json()["version"] == 1
    second = await nclient.post(
        "/api/v1/templates",
        json=TEMPLATE | {"subject": "v2: {{ sku }} out in {{ days_until_stockout }} days"},
        headers=admin_headers,
    )
    assert second.json()["version"] == 2
    versions = await nclient.get("/api/v1/templates/stockout-email", headers=admin_headers)
    assert [(v["version"], v["is_active"]) for v in versions.json()] == [(1, False), (2, True)]

    await _post(
        nclient, operator_headers, user_id="buyer", channel="email", address="buyer@plant.example"
    )
    rule = {
        "name": "stockouts to buyer",
        "alert_type": "stockout_risk",
        "user_id": "buyer",
        "channel": "email",
    }
    r = await nclient.post("/api/v1/routing-rules", json=rule, headers=admin_headers)
    assert r.status_code == 201, r.text
    await make_alert(relay.db)
    from opscopilot.notify.runner import route_and_bundle

    await route_and_bundle(relay.db, relay.settings, now=_now())
    await relay.deliver_due()
    (mail,) = peers.smtp.messages
    assert mail.message["Subject"] == "v2: ITEM-001 out in 4 days"
    assert "Why: Demand ran 40% above forecast" in (mail.part("text/plain") or "")

    gone = await nclient.delete("/api/v1/templates/stockout-email", headers=admin_headers)
    assert gone.status_code == 204
    assert (await nclient.get("/api/v1/templates", headers=admin_headers)).json() == []


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)
