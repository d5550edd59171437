"""What notify takes in and hands out, apart from the ORM rows.

Channel and severity arrive as plain strings and are checked by the services, so that a
wrong value gets a 422 naming the valid ones (and severity aliases such as ``high`` work).
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

DIGEST_PERIODS = ("hourly", "daily")


class ActionIn(BaseModel):
    """A button offered with the notification (Slack renders it; other channels list it)."""

    id: str = Field(min_length=1, max_length=64)
    label: str = Field(min_length=1, max_length=75)
    value: str = Field(min_length=1, max_length=2000)
    style: str | None = Field(None, pattern="^(primary|danger)$")


class SendRequest(BaseModel):
    """The original notification service's body, plus optional extras."""

    user_id: str = Field(min_length=1, max_length=200, examples=["user123"])
    title: str = Field(min_length=1, max_length=500)
    message: str = Field(min_length=1, max_length=20_000)
    notification_type: str = Field("general", min_length=1, max_length=64)
    severity: str = Field("info", examples=["critical"])
    channel: str | None = Field(
        None, description="email, sms, slack or webhook; omitted: every enabled channel."
    )
    site: str | None = Field(None, max_length=64)
    data: dict[str, Any] = Field(
        default_factory=dict, description="Extra template variables for this type."
    )
    actions: list[ActionIn] = Field(default_factory=list, max_length=5)


class NotificationSummary(BaseModel):
    id: UUID
    channel: str
    status: str
    reason: str | None = None


class SendResult(BaseModel):
    notification_id: UUID = Field(description="The first (often only) notification.")
    status: str
    notifications: list[NotificationSummary]


class NotificationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    user_id: str | None
    alert_id: UUID | None
    escalation_level: int
    site: str | None
    title: str
    message: str
    notification_type: str
    severity: str
    channel: str
    address: str | None
    status: str
    reason: str | None
    attempts: int
    next_attempt_at: datetime | None
    idempotency_key: str
    provider_message_id: str | None
    provider_conversation_id: str | None
    last_error: str | None
    payload: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None


class NotificationPage(BaseModel):
    items: list[NotificationRead]
    limit: int
    offset: int


class PreferenceWrite(BaseModel):
    """One user's settings for one channel; a POST replaces what was stored for it."""

    user_id: str = Field(min_length=1, max_length=200)
    channel: str
    address: str | None = Field(
        None,
        max_length=1000,
        description="Email, E.164 phone, Slack user id or webhook URL; empty: the user's "
        "contact of that kind (webhooks always need one).",
    )
    enabled: bool = True
    min_severity: str = "info"
    quiet_hours_start: time | None = None
    quiet_hours_end: time | None = None
    timezone: str | None = Field(None, description="IANA zone; updates the user's zone.")
    critical_breaks_quiet_hours: bool = True
    digest: str | None = Field(None, description="hourly or daily: info items in one message.")


class PreferenceRead(BaseModel):
    channel: str
    address: str | None
    effective_address: str | None
    enabled: bool
    min_severity: str
    quiet_hours_start: time | None
    quiet_hours_end: time | None
    critical_breaks_quiet_hours: bool
    digest: str | None


class UserPreferences(BaseModel):
    user_id: str
    timezone: str
    email: str | None
    phone: str | None
    slack_user_id: str | None
    channels: list[PreferenceRead]


class TemplateWrite(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    notification_type: str = Field(min_length=1, max_length=64)
    channel: str
    subject: str = Field(min_length=1, max_length=2000)
    text: str = Field(min_length=1, max_length=50_000)
    html: str | None = Field(None, max_length=200_000)
    slack_blocks: str | None = Field(None, max_length=50_000)


class TemplateRead(BaseModel):
    id: UUID
    name: str
    notification_type: str
    channel: str
    version: int
    subject: str | None
    text: str
    html: str | None
    slack_blocks: str | None
    variables: list[Any]
    is_active: bool
    created_by: str | None
    created_at: datetime


class RoutingRuleWrite(BaseModel):
    """Which alerts go where: match on type, minimum severity and item category (empty
    matches any), then exactly one target: a user, an on-call role, or a channel address."""

    name: str = Field(min_length=1, max_length=200)
    site: str = Field("main", min_length=1, max_length=64, description="'*' for every site.")
    alert_type: str | None = None
    min_severity: str = "info"
    item_category: str | None = Field(None, max_length=100)
    user_id: str | None = Field(None, max_length=200)
    on_call_role: str | None = Field(None, max_length=64)
    channel: str | None = None
    address: str | None = Field(None, max_length=1000)
    enabled: bool = True


class RoutingRuleRead(BaseModel):
    id: UUID
    name: str
    site: str
    alert_type: str | None
    min_severity: str
    item_category: str | None
    user_id: str | None
    on_call_role: str | None
    channel: str | None
    address: str | None
    enabled: bool
    created_at: datetime


class OnCallWrite(BaseModel):
    user_ids: list[str] = Field(
        max_length=50, description="In escalation order: the first is paged first."
    )


class OnCallRead(BaseModel):
    site: str
    role: str
    user_ids: list[str]
