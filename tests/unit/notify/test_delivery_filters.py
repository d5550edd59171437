"""Delivery decisions from one channel preference: severity, quiet hours (DST), digest.

Expected instants are written out by hand in UTC, not computed with the code under test.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from opscopilot.core.errors import ValidationFailed
from opscopilot.notify.filters import (
    ChannelPreference,
    Deferred,
    DeliverNow,
    Digest,
    Severity,
    Suppressed,
    SuppressionReason,
    decide_delivery,
    parse_severity,
)

NY = "America/New_York"
NIGHT = {"quiet_hours_start": time(22), "quiet_hours_end": time(7)}


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def decide(severity: Severity, at: datetime, **preference: object) -> object:
    return decide_delivery(
        preference=ChannelPreference(**preference),  # type: ignore[arg-type]
        severity=severity,
        at=at,
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("info", Severity.INFO),
        ("WARNING", Severity.WARNING),
        (" critical ", Severity.CRITICAL),
        ("low", Severity.INFO),
        ("medium", Severity.WARNING),
        ("High", Severity.CRITICAL),
    ],
)
def test_parse_severity_and_aliases(value: str, expected: Severity) -> None:
    assert parse_severity(value) is expected


def test_unknown_severity_lists_the_valid_ones() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_severity("urgent")
    assert caught.value.field == "severity"
    assert caught.value.details == {
        "valid": ["info", "warning", "critical", "low", "medium", "high"]
    }


def test_severity_order() -> None:
    assert Severity.INFO.rank < Severity.WARNING.rank < Severity.CRITICAL.rank


def test_disabled_channel_suppresses_even_critical() -> None:
    result = decide(Severity.CRITICAL, utc(2024, 1, 10, 12), enabled=False)
    assert result == Suppressed(SuppressionReason.CHANNEL_DISABLED)


@pytest.mark.parametrize(
    ("severity", "minimum", "expected"),
    [
        (Severity.INFO, Severity.WARNING, Suppressed(SuppressionReason.BELOW_MIN_SEVERITY)),
        (Severity.WARNING, Severity.CRITICAL, Suppressed(SuppressionReason.BELOW_MIN_SEVERITY)),
        (Severity.WARNING, Severity.WARNING, DeliverNow()),
        (Severity.CRITICAL, Severity.WARNING, DeliverNow()),
    ],
)
def test_min_severity(severity: Severity, minimum: Severity, expected: object) -> None:
    assert decide(severity, utc(2024, 1, 10, 12), min_severity=minimum) == expected


def test_outside_quiet_hours_delivers_now() -> None:
    # 12:00 UTC = 07:00 EST: quiet hours have just ended.
    assert decide(Severity.WARNING, utc(2024, 1, 10, 12), timezone=NY, **NIGHT) == DeliverNow()


def test_quiet_hours_defer_to_their_end_in_the_users_zone() -> None:
    # 04:00 UTC = 23:00 EST on 9 Jan; quiet until 07:00 EST = 12:00 UTC on 10 Jan.
    result = decide(Severity.WARNING, utc(2024, 1, 10, 4), timezone=NY, **NIGHT)
    assert result == Deferred(until=utc(2024, 1, 10, 12))


def test_quiet_hours_are_read_in_the_users_zone_not_utc() -> None:
    # 12:00 UTC is 21:00 in Tokyo: inside 20:00-08:00 there, daytime in UTC.
    result = decide(
        Severity.WARNING,
        utc(2024, 6, 1, 12),
        timezone="Asia/Tokyo",
        quiet_hours_start=time(20),
        quiet_hours_end=time(8),
    )
    assert result == Deferred(until=utc(2024, 6, 1, 23))


def test_critical_breaks_through_quiet_hours() -> None:
    assert decide(Severity.CRITICAL, utc(2024, 1, 10, 4), timezone=NY, **NIGHT) == DeliverNow()


def test_critical_waits_when_the_user_opted_out_of_break_through() -> None:
    result = decide(
        Severity.CRITICAL,
        utc(2024, 1, 10, 4),
        timezone=NY,
        critical_breaks_quiet_hours=False,
        **NIGHT,
    )
    assert result == Deferred(until=utc(2024, 1, 10, 12))


def test_spring_forward_night_ends_on_the_new_offset() -> None:
    # 23:00 EST on 9 Mar 2024; clocks jump 02:00 -> 03:00 on 10 Mar; 07:00 EDT = 11:00 UTC.
    result = decide(Severity.WARNING, utc(2024, 3, 10, 4), timezone=NY, **NIGHT)
    assert result == Deferred(until=utc(2024, 3, 10, 11))


def test_fall_back_night_ends_on_the_new_offset() -> None:
    # 23:00 EDT on 2 Nov 2024; clocks go back 02:00 -> 01:00 on 3 Nov; 07:00 EST = 12:00 UTC.
    result = decide(Severity.WARNING, utc(2024, 11, 3, 3), timezone=NY, **NIGHT)
    assert result == Deferred(until=utc(2024, 11, 3, 12))


def test_end_time_skipped_by_spring_forward_ends_at_the_jump() -> None:
    # Quiet until 02:30, which does not exist on 10 Mar 2024: ends at 03:00 EDT = 07:00 UTC.
    result = decide(
        Severity.WARNING,
        utc(2024, 3, 10, 4),
        timezone=NY,
        quiet_hours_start=time(22),
        quiet_hours_end=time(2, 30),
    )
    assert result == Deferred(until=utc(2024, 3, 10, 7))


def test_end_time_shown_twice_ends_at_the_next_showing() -> None:
    pref = {"timezone": NY, "quiet_hours_start": time(22), "quiet_hours_end": time(1, 30)}
    zone = ZoneInfo(NY)
    first_pass = datetime(2024, 11, 3, 1, 15, fold=0, tzinfo=zone)  # 05:15 UTC, EDT
    second_pass = datetime(2024, 11, 3, 1, 15, fold=1, tzinfo=zone)  # 06:15 UTC, EST
    assert decide(Severity.WARNING, first_pass, **pref) == Deferred(until=utc(2024, 11, 3, 5, 30))
    assert decide(Severity.WARNING, second_pass, **pref) == Deferred(until=utc(2024, 11, 3, 6, 30))


def test_daytime_window_that_does_not_wrap() -> None:
    pref = {"timezone": "Europe/Berlin", "quiet_hours_start": time(12), "quiet_hours_end": time(13)}
    # 11:30 UTC = 12:30 CET: inside; ends 13:00 CET = 12:00 UTC.
    assert decide(Severity.WARNING, utc(2024, 1, 10, 11, 30), **pref) == Deferred(
        until=utc(2024, 1, 10, 12)
    )
    assert decide(Severity.WARNING, utc(2024, 1, 10, 12, 0), **pref) == DeliverNow()


def test_equal_start_and_end_means_no_quiet_hours() -> None:
    result = decide(
        Severity.WARNING, utc(2024, 1, 10, 4), quiet_hours_start=time(9), quiet_hours_end=time(9)
    )
    assert result == DeliverNow()


def test_info_goes_to_the_digest_when_asked_even_at_night() -> None:
    assert decide(Severity.INFO, utc(2024, 1, 10, 12), digest_info=True) == Digest()
    assert decide(Severity.INFO, utc(2024, 1, 10, 4), digest_info=True, timezone=NY, **NIGHT) == (
        Digest()
    )
    assert decide(Severity.WARNING, utc(2024, 1, 10, 12), digest_info=True) == DeliverNow()


def test_below_minimum_wins_over_digest() -> None:
    result = decide(
        Severity.INFO, utc(2024, 1, 10, 12), digest_info=True, min_severity=Severity.WARNING
    )
    assert result == Suppressed(SuppressionReason.BELOW_MIN_SEVERITY)


def test_preference_validation() -> None:
    with pytest.raises(ValueError, match="both"):
        ChannelPreference(quiet_hours_start=time(22))
    with pytest.raises(ValueError, match="unknown time zone"):
        ChannelPreference(timezone="Mars/Olympus_Mons")


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(Severity.WARNING, datetime(2024, 1, 10, 12))
