"""1,000 notifications to 100 users with mixed preferences, against a table written by hand.

Ten preference profiles, ten users each; every user gets the same ten sends at 23:30 UTC
on Tuesday 10 March 2026 (00:30 in Berlin, 19:30 in New York). EXPECTED says what a person
would get from each send; it was worked out by hand from the profiles, not by our filter.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, time
from typing import Any

import pytest

from opscopilot.notify.relay import Relay
from opscopilot.notify.runner import route_and_bundle
from opscopilot.notify.service import send_notification, set_preferences
from opscopilot.store.engine import Database
from tests.integration.notify.conftest import Peers, rows

T0 = datetime(2026, 3, 10, 23, 30, tzinfo=UTC)  # the sends
T1 = datetime(2026, 3, 11, 6, 5, tzinfo=UTC)  # 07:05 in Berlin: quiet hours are over
T2 = datetime(2026, 3, 11, 8, 5, tzinfo=UTC)  # after the 08:00 UTC daily digest

SENDS = [  # (severity, channel)
    ("critical", "email"),  # S0
    ("warning", "email"),  # S1
    ("info", "email"),  # S2
    ("critical", "sms"),  # S3
    ("info", "sms"),  # S4
    ("critical", "slack"),  # S5
    ("warning", "slack"),  # S6
    ("info", "webhook"),  # S7
    ("critical", "webhook"),  # S8
    ("warning", "email"),  # S9: the same words as S1, sent again
]

QUIET = {"quiet_hours_start": time(22, 0), "quiet_hours_end": time(7, 0)}
# Profile -> its zone and preferences (channel -> settings; the address is per user).
PROFILES: dict[str, tuple[str, dict[str, dict[str, Any]]]] = {
    "P0": ("UTC", {"email": {}}),
    "P1": ("UTC", {"email": {"min_severity": "warning"}}),
    "P2": ("UTC", {"email": {"enabled": False}, "sms": {}}),
    "P3": ("Europe/Berlin", {"email": QUIET}),  # critical breaks through
    "P4": ("Europe/Berlin", {"email": QUIET | {"critical_breaks_quiet_hours": False}}),
    "P5": ("America/New_York", {"slack": QUIET}),  # 19:30 there: not quiet yet
    "P6": ("UTC", {"email": {"digest": "daily"}}),
    "P7": ("UTC", {"webhook": {}}),
    "P8": ("UTC", {}),  # nothing set, no contacts
    "P9": ("UTC", {"email": {}, "slack": {"min_severity": "critical"}}),
}

# sent: delivered at T0 | later: delivered when quiet hours end (T1) | digest: in the T2
# digest | dup, low, off: suppressed (duplicate, below min severity, channel disabled) |
# none: failed, no address for that channel.
EXPECTED: dict[str, list[str]] = {
    #        S0     S1     S2      S3    S4    S5    S6    S7    S8    S9
    "P0": "sent   sent   sent    none  none  none  none  none  none  dup".split(),
    "P1": "sent   sent   low     none  none  none  none  none  none  dup".split(),
    "P2": "off    off    off     sent  sent  none  none  none  none  off".split(),
    "P3": "sent   later  later   none  none  none  none  none  none  dup".split(),
    "P4": "later  later  later   none  none  none  none  none  none  dup".split(),
    "P5": "none   none   none    none  none  sent  sent  none  none  none".split(),
    "P6": "sent   sent   digest  none  none  none  none  none  none  dup".split(),
    "P7": "none   none   none    none  none  none  none  sent  sent  none".split(),
    "P8": "none   none   none    none  none  none  none  none  none  none".split(),
    "P9": "sent   sent   sent    none  none  sent  low   none  none  dup".split(),
}

# Each outcome's row status after the T0 pass, after the T1 pass, and at the end; and
# the reason it ends with.
STATES = {
    "sent": (("sent", "sent", "sent"), None),
    "later": (("deferred", "sent", "sent"), None),
    "digest": (("deferred", "deferred", "sent"), "in digest"),
    "dup": (("suppressed",) * 3, "duplicate"),
    "low": (("suppressed",) * 3, "below_min_severity"),
    "off": (("suppressed",) * 3, "channel_disabled"),
    "none": (("failed",) * 3, "no "),
}
QUIET_END = datetime(2026, 3, 11, 6, 0, tzinfo=UTC)  # 07:00 in Berlin


def _address(channel: str, user: str, n: int, peers: Peers) -> str:
    return {
        "email": f"{user}@plant.example",
        "sms": f"+1415555{n:04d}",
        "slack": f"U0{n:04d}",
        "webhook": f"{peers.webhook.url}/hooks/{user}",
    }[channel]


@pytest.mark.slow
async def test_a_thousand_notifications_follow_the_hand_written_table(
    clean_db: Database, peers: Peers, relay: Relay
) -> None:
    users: dict[str, tuple[str, int]] = {}  # user -> (profile, number)
    async with clean_db.sessions() as s:
        for p, (profile, (zone, channels)) in enumerate(PROFILES.items()):
            for i in range(10):
                n = p * 10 + i
                user = f"user{n:03d}"
                users[user] = (profile, n)
                for channel, options in channels.items():
                    await set_preferences(
                        s,
                        user_id=user,
                        channel=channel,
                        timezone=zone,
                        address=_address(channel, user, n, peers),
                        webhook_allowlist=["127.0.0.1"],
                        **options,
                    )
        await s.commit()
        ids: dict[str, tuple[str, str, int]] = {}  # notification -> (user, outcome, send)
        for user, (profile, _) in users.items():
            for k, (severity, channel) in enumerate(SENDS):
                words = 1 if k == 9 else k
                sent = await send_notification(
                    s,
                    user_id=user,
                    title=f"Update {words}",
                    message=f"Body {words}",
                    severity=severity,
                    channel=channel,
                    now=T0,
                )
                ids[str(sent.notification_id)] = (user, EXPECTED[profile][k], k)
            await s.commit()
    assert len(ids) == 1000

    async def check(phase: int) -> None:
        by_id = {str(r.id): r for r in await rows(clean_db)}
        for notification_id, (user, outcome, k) in ids.items():
            row = by_id[notification_id]
            statuses, reason = STATES[outcome]
            where = f"{user} S{k} ({users[user][0]}) after phase {phase}: expected {outcome}"
            assert row.status == statuses[phase], f"{where}, got {row.status} {row.reason}"
            if outcome == "later" and phase == 0:
                assert row.next_attempt_at == QUIET_END, where
            if phase == 2:
                if reason is not None:
                    assert (row.reason or "").startswith(reason), f"{where}, got {row.reason}"
                if outcome in ("sent", "later", "digest"):
                    assert row.provider_message_id and row.sent_at, where
                assert row.attempts == (1 if outcome in ("sent", "later") else 0), where

    await relay.deliver_due(now=T0)
    await check(0)
    await relay.deliver_due(now=T1)
    await check(1)
    await route_and_bundle(clean_db, relay.settings, now=T2)
    await relay.deliver_due(now=T2)
    await check(2)

    # What people received: each expected delivery exactly once, nothing else.
    expected: Counter[str] = Counter()
    for user, (profile, n) in users.items():
        outcomes = EXPECTED[profile]
        for k, (_, channel) in enumerate(SENDS):
            if outcomes[k] in ("sent", "later"):
                expected[_address(channel, user, n, peers)] += 1
        if "digest" in outcomes:
            expected[_address("email", user, n, peers)] += 1  # one digest message
    received: Counter[str] = Counter()
    for mail in peers.smtp.messages:
        received.update(mail.rcpt_tos)
    for sms in peers.sms.messages:
        received[sms.to] += 1
    dms = {f"D{u[1:]}": u for u in expected if u.startswith("U0")}
    for message in peers.slack.messages:
        received[dms[message.channel]] += 1
    for request in peers.webhook.requests:
        received[f"{peers.webhook.url}{request.path}"] += 1
    assert received == expected
    assert len(peers.smtp.message_ids) == len(peers.smtp.messages)
    assert peers.webhook.duplicates == 0
    digests = [
        m
        for m in peers.smtp.messages
        if "update" in str(m.message["Subject"]).lower() and "for you" in str(m.message["Subject"])
    ]
    assert len(digests) == 10 and all("Update 2" in (m.part("text/plain") or "") for m in digests)
    # By hand: 3+2+2+3+3+2+(2+1)+2+0+4 = 24 messages per user of each profile.
    assert sum(received.values()) == 240
