"""Who wants what, where: per-user, per-channel preferences and the addresses they use.

A channel's address is the preference's own, or else the user's contact of that kind
(email, phone, Slack user id); a webhook always needs its own URL. Addresses are checked
when saved: a webhook URL goes through urlguard here and again at every send.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.access.service import find_user, get_or_create_user
from opscopilot.core.errors import ValidationFailed
from opscopilot.notify.filters import ChannelPreference, Severity, parse_severity
from opscopilot.notify.schemas import DIGEST_PERIODS, PreferenceRead, UserPreferences
from opscopilot.notify.urlguard import Resolver, check_url
from opscopilot.store.models import NotificationPreference, User
from opscopilot.store.models.notify import CHANNELS

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
SLACK_CHANNEL = re.compile(r"^(?:[CGD][A-Z0-9]{2,}|#[a-z0-9][a-z0-9._-]{0,79})$")
# A daily digest goes out at this time on the user's clock.
DAILY_DIGEST_AT = time(8, 0)


def parse_channel(value: str) -> str:
    key = value.strip().lower()
    if key not in CHANNELS:
        raise ValidationFailed(
            f"unknown channel {value!r}; valid: {', '.join(CHANNELS)}",
            field="channel",
            details={"valid": list(CHANNELS)},
        )
    return key


async def normalise_address(
    channel: str,
    address: str,
    *,
    allowlist: Iterable[str],
    allow_slack_channels: bool = False,
    resolver: Resolver | None = None,
) -> str:
    """The address in canonical form, or a 422 saying what is wrong with it."""
    value = address.strip()
    if channel == "email":
        try:
            return validate_email(value, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise ValidationFailed(f"invalid email address: {exc}", field="address") from None
    if channel == "sms":
        phone = re.sub(r"[\s().-]", "", value)
        if not E164.match(phone):
            raise ValidationFailed(
                f"invalid phone number {address!r}: use E.164, e.g. +14155550100",
                field="address",
            )
        return phone
    if channel == "slack":
        if SLACK_USER.match(value) or (allow_slack_channels and SLACK_CHANNEL.match(value)):
            return value
        what = "a Slack user id (U…) or channel" if allow_slack_channels else "a Slack user id"
        raise ValidationFailed(f"invalid Slack address {address!r}: need {what}", field="address")
    try:
        checked = await check_url(value, allowlist=allowlist, resolver=resolver)
    except ValidationFailed as exc:
        exc.field = "address"
        raise
    return str(checked.url)


def contact_for(user: User, channel: str) -> str | None:
    return {"email": user.email, "sms": user.phone, "slack": user.slack_user_id}.get(channel)


def effective_address(user: User, channel: str, row: NotificationPreference | None) -> str | None:
    if row is not None and row.address:
        return row.address
    return contact_for(user, channel)


def channel_preference(row: NotificationPreference | None, *, timezone: str) -> ChannelPreference:
    """The filter input for one channel; no stored row means deliver everything."""
    zone = _zone_or_utc(timezone)
    if row is None:
        return ChannelPreference(timezone=zone)
    return ChannelPreference(
        enabled=row.enabled,
        min_severity=Severity(row.min_severity),
        quiet_hours_start=row.quiet_start,
        quiet_hours_end=row.quiet_end,
        timezone=zone,
        critical_breaks_quiet_hours=row.critical_breaks_quiet,
        digest_info=row.digest is not None,
    )


def digest_due_at(period: str, *, at: datetime, timezone: str) -> datetime:
    """When the digest holding an item created at `at` goes out (UTC)."""
    zone = ZoneInfo(timezone)
    local = at.astimezone(zone)
    if period == "hourly":
        # Whole hours in UTC are whole hours locally, except in the few half-hour zones,
        # where the local top of the hour is what the user expects.
        top = local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        return top.astimezone(UTC)
    if period == "daily":
        for offset in (0, 1, 2):
            day = (local + timedelta(days=offset)).date()
            when = datetime.combine(day, DAILY_DIGEST_AT, tzinfo=zone).astimezone(UTC)
            if when > at:
                return when
    raise ValueError(f"unknown digest period {period!r}")


@dataclass(frozen=True, slots=True)
class Recipient:
    user: User
    rows: dict[str, NotificationPreference]

    def candidate_channels(self) -> list[str]:
        """Channels a send without `channel` considers: stored ones and known contacts."""
        known = set(self.rows) | {c for c in CHANNELS if contact_for(self.user, c)}
        return [c for c in CHANNELS if c in known]


async def load_recipient(session: AsyncSession, user: User) -> Recipient:
    rows = await session.scalars(
        select(NotificationPreference).where(NotificationPreference.user_id == user.id)
    )
    return Recipient(user=user, rows={r.channel: r for r in rows})


async def set_preferences(
    session: AsyncSession,
    *,
    user_id: str,
    channel: str,
    address: str | None = None,
    enabled: bool = True,
    min_severity: str = "info",
    quiet_hours_start: time | None = None,
    quiet_hours_end: time | None = None,
    timezone: str | None = None,
    critical_breaks_quiet_hours: bool = True,
    digest: str | None = None,
    webhook_allowlist: Iterable[str] = (),
    resolver: Resolver | None = None,
) -> PreferenceRead:
    """Store one channel's preference (replacing it); an unknown user is created.

    The caller commits.
    """
    name = parse_channel(channel)
    severity = parse_severity(min_severity)
    if digest is not None and digest not in DIGEST_PERIODS:
        raise ValidationFailed(
            f"unknown digest period {digest!r}; valid: {', '.join(DIGEST_PERIODS)}",
            field="digest",
        )
    for label, value in (
        ("quiet_hours_start", quiet_hours_start),
        ("quiet_hours_end", quiet_hours_end),
    ):
        if value is not None and value.tzinfo is not None:
            raise ValidationFailed(
                f"{label} is a time on the user's clock; give it without a UTC offset",
                field=label,
            )
    if (quiet_hours_start is None) != (quiet_hours_end is None):
        raise ValidationFailed(
            "quiet hours need both a start and an end, or neither", field="quiet_hours_start"
        )
    if timezone is not None:
        _check_zone(timezone)
    clean = None
    if address is not None and address.strip():
        clean = await normalise_address(
            name, address, allowlist=webhook_allowlist, resolver=resolver
        )
    elif name == "webhook":
        raise ValidationFailed("a webhook preference needs a URL in address", field="address")

    user = await get_or_create_user(session, external_id=user_id)
    if timezone is not None:
        user.timezone = timezone
    row = await session.scalar(
        select(NotificationPreference).where(
            NotificationPreference.user_id == user.id, NotificationPreference.channel == name
        )
    )
    if row is None:
        row = NotificationPreference(user_id=user.id, channel=name)
        session.add(row)
    row.address = clean
    row.enabled = enabled
    row.min_severity = severity.value
    row.quiet_start = quiet_hours_start
    row.quiet_end = quiet_hours_end
    row.critical_breaks_quiet = critical_breaks_quiet_hours
    row.digest = digest
    await session.flush()
    return _read(user, name, row)


async def get_preferences(session: AsyncSession, *, user_id: str) -> UserPreferences:
    user = await find_user(session, external_id=user_id)
    recipient = await load_recipient(session, user)
    return UserPreferences(
        user_id=user.external_id,
        timezone=user.timezone,
        email=user.email,
        phone=user.phone,
        slack_user_id=user.slack_user_id,
        channels=[_read(user, c, recipient.rows[c]) for c in CHANNELS if c in recipient.rows],
    )


def _read(user: User, channel: str, row: NotificationPreference) -> PreferenceRead:
    return PreferenceRead(
        channel=channel,
        address=row.address,
        effective_address=effective_address(user, channel, row),
        enabled=row.enabled,
        min_severity=row.min_severity,
        quiet_hours_start=row.quiet_start,
        quiet_hours_end=row.quiet_end,
        critical_breaks_quiet_hours=row.critical_breaks_quiet,
        digest=row.digest,
    )


def _check_zone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(f"unknown time zone {name!r}", field="timezone") from None


def _zone_or_utc(name: str) -> str:
    # A zone removed from tzdata since it was saved must not stop deliveries.
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return name
