"""Pure pieces of delivery: backoff, digest times, rule matching, render fallbacks."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime

import pytest

from opscopilot.notify.filters import Severity
from opscopilot.notify.preferences import digest_due_at
from opscopilot.notify.relay import MAX_RETRY_AFTER_S, backoff_delay
from opscopilot.notify.render import ClaimedRow, build_message
from opscopilot.notify.routing import AlertFacts, rule_matches
from opscopilot.notify.templates import NotificationTemplate, default_template
from opscopilot.store.models import RoutingRule


def test_backoff_doubles_within_its_upper_half_and_is_capped() -> None:
    rng = random.Random(1)
    for attempt, ceiling in ((1, 2.0), (2, 4.0), (3, 8.0), (4, 16.0), (9, 300.0), (30, 300.0)):
        for _ in range(50):
            delay = backoff_delay(attempt, base=2.0, cap=300.0, rng=rng)
            assert ceiling / 2 <= delay <= ceiling


def test_backoff_never_comes_back_before_retry_after() -> None:
    rng = random.Random(2)
    assert backoff_delay(1, base=0.05, cap=0.5, retry_after=7.0, rng=rng) == 7.0
    assert backoff_delay(1, base=0.05, cap=0.5, retry_after=1e9, rng=rng) == MAX_RETRY_AFTER_S
    assert backoff_delay(5, base=2.0, cap=300.0, retry_after=0.5, rng=rng) >= 16.0


@pytest.mark.parametrize(
    ("period", "at", "zone", "due"),
    [
        ("hourly", "2026-03-10T23:30:00+00:00", "UTC", "2026-03-11T00:00:00+00:00"),
        ("hourly", "2026-03-10T23:00:00+00:00", "UTC", "2026-03-11T00:00:00+00:00"),
        # India is UTC+5:30: the local top of the hour is half past in UTC.
        ("hourly", "2026-03-10T23:10:00+00:00", "Asia/Kolkata", "2026-03-10T23:30:00+00:00"),
        ("daily", "2026-03-10T23:30:00+00:00", "UTC", "2026-03-11T08:00:00+00:00"),
        ("daily", "2026-03-11T07:59:00+00:00", "UTC", "2026-03-11T08:00:00+00:00"),
        ("daily", "2026-03-11T08:00:00+00:00", "UTC", "2026-03-12T08:00:00+00:00"),
        # 08:00 in Berlin (CET, UTC+1) is 07:00 UTC.
        ("daily", "2026-03-10T23:30:00+00:00", "Europe/Berlin", "2026-03-11T07:00:00+00:00"),
    ],
)
def test_digest_times(period: str, at: str, zone: str, due: str) -> None:
    got = digest_due_at(period, at=datetime.fromisoformat(at), timezone=zone)
    assert got == datetime.fromisoformat(due)


def _rule(**values: object) -> RoutingRule:
    base: dict[str, object] = {
        "site": "main",
        "name": "r",
        "alert_type": None,
        "min_severity": "info",
        "item_category": None,
        "enabled": True,
    }
    return RoutingRule(**(base | values))


@pytest.mark.parametrize(
    ("rule", "matches"),
    [
        ({}, True),
        ({"site": "*"}, True),
        ({"site": "north"}, False),
        ({"enabled": False}, False),
        ({"alert_type": "stockout_risk"}, True),
        ({"alert_type": "excess_stock"}, False),
        ({"item_category": "critical-parts"}, True),
        ({"item_category": "fasteners"}, False),
        ({"min_severity": "warning"}, True),
        ({"min_severity": "critical"}, False),
    ],
)
def test_rule_matching(rule: dict[str, object], matches: bool) -> None:
    facts = AlertFacts(
        site="main",
        alert_type="stockout_risk",
        severity=Severity.WARNING,
        item_category="critical-parts",
    )
    assert rule_matches(_rule(**rule), facts) is matches


def _row(**values: object) -> ClaimedRow:
    base: dict[str, object] = {
        "id": uuid.uuid4(),
        "channel": "email",
        "address": "a@plant.example",
        "title": "Stockout risk: ITEM-001",
        "message": "Runs out Friday.",
        "notification_type": "stockout_risk",
        "severity": "critical",
        "site": "main",
        "payload": {"vars": {"sku": "ITEM-001"}},
        "attempts": 1,
        "created_at": datetime(2026, 3, 10, 23, 30, tzinfo=UTC),
        "provider_message_id": None,
        "provider_conversation_id": None,
        "recipient_name": "Ana",
        "timezone": "Europe/Berlin",
    }
    return ClaimedRow(**(base | values))  # type: ignore[arg-type]


def test_a_template_missing_variables_falls_back_to_the_generic_one() -> None:
    message = build_message(_row(), default_template("stockout_risk"))
    assert message.title == "[CRITICAL] Stockout risk: ITEM-001"
    assert "Runs out Friday." in message.text and "2026-03-11 00:30 CET" in message.text
    assert message.html is not None and message.slack_blocks is None


def test_only_the_channels_parts_are_rendered() -> None:
    broken_html = NotificationTemplate(
        name="generic", subject="{{ title }}", text="{{ message }}", html="{{ nope.x }}"
    )
    sms = build_message(_row(channel="sms", address="+14155550100"), broken_html)
    assert sms.html is None and sms.text == "Runs out Friday."
