"""The port through which notify hands one rendered message to one delivery channel.

Adapters raise only the two typed errors below; the relay retries the transient one with
backoff (honouring ``retry_after``) and records the permanent one as the final status.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal, Protocol
from uuid import UUID

from opscopilot.notify.filters import Severity


@dataclass(frozen=True, slots=True)
class Action:
    """A button offered with the notification (Slack renders it; others list it)."""

    id: str
    label: str
    value: str
    style: Literal["primary", "danger"] | None = None


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    provider_message_id: str
    # Where the provider filed it when that is needed to edit it later (Slack channel id).
    conversation_id: str | None = None


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    notification_id: UUID
    recipient: str
    title: str
    text: str
    severity: Severity
    notification_type: str
    html: str | None = None
    actions: tuple[Action, ...] = ()
    chart_png: bytes | None = None
    slack_blocks: tuple[dict[str, Any], ...] | None = None
    # What an earlier attempt already placed at the provider (a Slack ts whose follow-up
    # step failed): adapters that can edit a message edit it instead of posting anew.
    previous: DeliveryResult | None = None

    @property
    def idempotency_key(self) -> str:
        return str(self.notification_id)


class DeliveryError(Exception):
    def __init__(self, message: str, *, partial: DeliveryResult | None = None) -> None:
        super().__init__(message)
        self.message = message
        # Set when the provider accepted part of the delivery; store it as `previous`.
        self.partial = partial


class TransientDeliveryError(DeliveryError):
    """Worth retrying: rate limited, provider 5xx, timeout, connection refused."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        partial: DeliveryResult | None = None,
    ) -> None:
        super().__init__(message, partial=partial)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help: invalid address, refused by policy, provider 4xx."""


class Channel(Protocol):
    async def deliver(self, message: OutgoingMessage) -> DeliveryResult: ...


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if unusable."""
    if value is None:
        return None
    try:
        return max(float(value.strip()), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)
