"""The outbox of domain events, notifications with their delivery state, preferences,
templates, routing rules and on-call lists."""

from __future__ import annotations

import uuid
from datetime import datetime, time
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from opscopilot.store.models.base import Base, created_at, updated_at, uuid_pk

CHANNELS = ("email", "sms", "slack", "webhook")
SEVERITIES = ("info", "warning", "critical")
NOTIFICATION_STATUSES = ("queued", "deferred", "sending", "sent", "failed", "suppressed")


class OutboxEvent(Base):
    """A domain event written in the same transaction as the change it announces."""

    __tablename__ = "outbox_events"
    __table_args__ = (
        Index("ix_outbox_events_pending", "id", postgresql_where=text("processed_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    event_type: Mapped[str] = mapped_column(String(64))
    aggregate_type: Mapped[str] = mapped_column(String(64))
    aggregate_id: Mapped[str] = mapped_column(String(64))
    site: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        # One notification per alert, recipient and channel, however often the event is read.
        Index(
            "uq_notifications_alert_user_channel",
            "alert_id",
            "user_id",
            "channel",
            "escalation_level",
            unique=True,
            postgresql_where=text("alert_id IS NOT NULL"),
        ),
        # What the relay claims: only rows still on their way, oldest due first.
        Index(
            "ix_notifications_due",
            "next_attempt_at",
            postgresql_where=text("status IN ('queued', 'deferred', 'sending')"),
        ),
        Index("ix_notifications_user_status", "user_id", "status"),
        # A user's newest first (listing, the repeat check of a send).
        Index("ix_notifications_user_created", "user_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    alert_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("forecast_alerts.id", ondelete="SET NULL")
    )
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    site: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(500))
    message: Mapped[str] = mapped_column(Text)
    notification_type: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str | None] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    # Where the provider filed it (Slack channel id): with the ts, what an edit needs.
    provider_conversation_id: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    # actions (buttons), chart reference, template variables
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class NotificationPreference(Base):
    __tablename__ = "notification_preferences"
    __table_args__ = (UniqueConstraint("user_id", "channel"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str | None] = mapped_column(String(1000))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    min_severity: Mapped[str] = mapped_column(String(16), default="info")
    quiet_start: Mapped[time | None] = mapped_column(Time)
    quiet_end: Mapped[time | None] = mapped_column(Time)
    critical_breaks_quiet: Mapped[bool] = mapped_column(Boolean, default=True)
    digest: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[datetime] = updated_at()


class NotificationTemplate(Base):
    __tablename__ = "notification_templates"
    __table_args__ = (UniqueConstraint("name", "channel", "version"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(200))
    notification_type: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, default=1)
    subject: Mapped[str | None] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    slack_blocks: Mapped[str | None] = mapped_column(Text)
    variables: Mapped[list[Any]] = mapped_column(default=list)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = created_at()


class RoutingRule(Base):
    """Maps alert type / severity / item category to users, on-call roles or channels."""

    __tablename__ = "routing_rules"

    id: Mapped[uuid.UUID] = uuid_pk()
    site: Mapped[str] = mapped_column(String(64), default="main")
    name: Mapped[str] = mapped_column(String(200))
    alert_type: Mapped[str | None] = mapped_column(String(32))
    min_severity: Mapped[str] = mapped_column(String(16), default="info")
    item_category: Mapped[str | None] = mapped_column(String(100))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    on_call_role: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(16))
    address: Mapped[str | None] = mapped_column(String(1000))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = created_at()


class OnCallEntry(Base):
    __tablename__ = "on_call_entries"
    __table_args__ = (UniqueConstraint("site", "role", "position"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    site: Mapped[str] = mapped_column(String(64), default="main")
    role: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    updated_at: Mapped[datetime] = updated_at()
