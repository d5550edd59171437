"""Delivery decisions: pure functions of one channel preference and one notification.

Severity is ordered ``info < warning < critical``. The aliases ``low``, ``medium`` and
``high`` are accepted where a severity enters the system (``parse_severity``) and map to
``info``, ``warning`` and ``critical``: the original API and many alert sources speak that
vocabulary. Anything else is refused with the valid names; stored values are canonical.

Quiet hours are wall-clock times in the user's time zone. ``start == end`` means no quiet
hours; a window may wrap midnight (22:00-07:00). When the clock skips the end time (spring
forward) quiet hours end at the jump; when it shows the end time twice (fall back) they end
at its first showing after the notification.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from opscopilot.core.errors import ValidationFailed


class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}
SEVERITY_ALIASES: dict[str, Severity] = {
    "low": Severity.INFO,
    "medium": Severity.WARNING,
    "high": Severity.CRITICAL,
}


def parse_severity(value: str) -> Severity:
    """Canonical severity for a name or alias (case-insensitive); 422 listing valid names."""
    key = value.strip().lower()
    if key in SEVERITY_ALIASES:
        return SEVERITY_ALIASES[key]
    try:
        return Severity(key)
    except ValueError:
        valid = [s.value for s in Severity] + list(SEVERITY_ALIASES)
        raise ValidationFailed(
            f"unknown severity {value!r}; valid: {', '.join(valid)}",
            field="severity",
            details={"valid": valid},
        ) from None


class SuppressionReason(enum.StrEnum):
    CHANNEL_DISABLED = "channel_disabled"
    BELOW_MIN_SEVERITY = "below_min_severity"


@dataclass(frozen=True, slots=True)
class ChannelPreference:
    enabled: bool = True
    min_severity: Severity = Severity.INFO
    quiet_hours_start: time | None = None
    quiet_hours_end: time | None = None
    timezone: str = "UTC"
    critical_breaks_quiet_hours: bool = True
    digest_info: bool = False
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if (self.quiet_hours_start is None) != (self.quiet_hours_end is None):
            raise ValueError("quiet hours need both a start and an end, or neither")
        # An unknown zone fails here, when the preference is built, not at 3 a.m.
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.timezone!r}") from None
        object.__setattr__(self, "_zone", zone)

    @property
    def zone(self) -> ZoneInfo:
        return self._zone


@dataclass(frozen=True, slots=True)
class DeliverNow:
    pass


@dataclass(frozen=True, slots=True)
class Deferred:
    until: datetime  # aware, UTC


@dataclass(frozen=True, slots=True)
class Suppressed:
    reason: SuppressionReason


@dataclass(frozen=True, slots=True)
class Digest:
    pass


Decision = DeliverNow | Deferred | Suppressed | Digest


def decide_delivery(*, preference: ChannelPreference, severity: Severity, at: datetime) -> Decision:
    """What to do with a notification of `severity` created at `at` for this channel."""
    _require_aware(at)
    if not preference.enabled:
        return Suppressed(SuppressionReason.CHANNEL_DISABLED)
    if severity.rank < preference.min_severity.rank:
        return Suppressed(SuppressionReason.BELOW_MIN_SEVERITY)
    if severity is Severity.INFO and preference.digest_info:
        return Digest()
    if not in_quiet_hours(preference=preference, at=at):
        return DeliverNow()
    if severity is Severity.CRITICAL and preference.critical_breaks_quiet_hours:
        return DeliverNow()
    return Deferred(until=quiet_hours_end_after(preference=preference, at=at))


def in_quiet_hours(*, preference: ChannelPreference, at: datetime) -> bool:
    _require_aware(at)
    start, end = preference.quiet_hours_start, preference.quiet_hours_end
    if start is None or end is None or start == end:
        return False
    wall = at.astimezone(preference.zone).time().replace(tzinfo=None)
    if start < end:
        return start <= wall < end
    return wall >= start or wall < end


def quiet_hours_end_after(*, preference: ChannelPreference, at: datetime) -> datetime:
    """First instant after `at` at which the user's clock reaches the quiet-hours end (UTC)."""
    _require_aware(at)
    end = preference.quiet_hours_end
    if end is None:
        raise ValueError("preference has no quiet hours")
    zone = preference.zone
    today = at.astimezone(zone).date()
    candidates = sorted(
        _wall_instant(today + timedelta(days=offset), end, zone, fold)
        for offset in (0, 1)
        for fold in (0, 1)
    )
    utc_at = at.astimezone(UTC)
    return next(c for c in candidates if c > utc_at)


def _wall_instant(day: date, wall: time, zone: tzinfo, fold: int) -> datetime:
    """UTC instant at which the clock in `zone` shows `wall` on `day` (showing `fold`).

    A wall time that the clock skips resolves to the instant of the jump.
    """
    local = datetime.combine(day, wall, tzinfo=zone).replace(fold=fold)
    instant = local.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None):
        return instant
    # In a gap fold=0 reads the wall time with the offset before the jump (landing after
    # it) and fold=1 with the offset after (landing before it): the jump lies between.
    lo = int(local.replace(fold=1).astimezone(UTC).timestamp())
    hi = int(local.replace(fold=0).astimezone(UTC).timestamp())
    after = _offset(hi, zone)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _offset(mid, zone) == after:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def _offset(timestamp: int, zone: tzinfo) -> timedelta | None:
    return datetime.fromtimestamp(timestamp, UTC).astimezone(zone).utcoffset()


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("notification time must be timezone-aware")
