"""Chat threads and runs with their replayable events, approvals, action requests,
feedback, Slack event dedupe and the log of scheduled posts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from opscopilot.store.models.base import Base, created_at, updated_at, uuid_pk


class ChatThread(Base):
    """A conversation; the same id continues on the web, the terminal or a Slack thread."""

    __tablename__ = "chat_threads"
    __table_args__ = (UniqueConstraint("slack_channel", "slack_thread_ts"),)

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    surface: Mapped[str] = mapped_column(String(16), default="web")
    title: Mapped[str | None] = mapped_column(String(300))
    site: Mapped[str | None] = mapped_column(String(64))
    slack_channel: Mapped[str | None] = mapped_column(String(32))
    slack_thread_ts: Mapped[str | None] = mapped_column(String(32))
    # A lease: one run at a time per thread, on any replica; it expires if a process dies.
    busy_run_id: Mapped[uuid.UUID | None] = mapped_column()
    busy_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class ChatRun(Base):
    __tablename__ = "chat_runs"

    id: Mapped[uuid.UUID] = uuid_pk()
    thread_id: Mapped[str] = mapped_column(ForeignKey("chat_threads.id", ondelete="CASCADE"))
    # running, done, awaiting_approval, error, cancelled, ...
    status: Mapped[str] = mapped_column(String(32), default="running")
    question: Mapped[str | None] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text)
    usage: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ChatEvent(Base):
    """Every SSE event of a run, so `Last-Event-ID` replays it on any replica."""

    __tablename__ = "chat_events"

    run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("chat_runs.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    event: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = created_at()


class Approval(Base):
    """A write the agent proposed, waiting for a person with the right role."""

    __tablename__ = "approvals"

    id: Mapped[uuid.UUID] = uuid_pk()
    thread_id: Mapped[str] = mapped_column(String(128), index=True)
    run_id: Mapped[uuid.UUID | None] = mapped_column()
    site: Mapped[str | None] = mapped_column(String(64))
    tool_name: Mapped[str] = mapped_column(String(100))
    tool_call_id: Mapped[str | None] = mapped_column(String(100))
    arguments: Mapped[dict[str, Any]] = mapped_column(default=dict)
    description: Mapped[str] = mapped_column(Text)
    # pending -> approved | rejected | expired; approved -> executing -> executed | failed
    status: Mapped[str] = mapped_column(String(16), default="pending")
    requested_by: Mapped[str | None] = mapped_column(String(200))
    requested_role: Mapped[str | None] = mapped_column(String(16))
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    result: Mapped[dict[str, Any] | None] = mapped_column()
    slack_channel: Mapped[str | None] = mapped_column(String(32))
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = created_at()


class ActionRequest(Base):
    """A drafted action (purchase request, transfer, expedite, work-order change)."""

    __tablename__ = "action_requests"
    __table_args__ = (Index("ix_action_requests_status", "site", "status"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    site: Mapped[str] = mapped_column(String(64), default="main")
    kind: Mapped[str] = mapped_column(String(32))
    item_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("manufacturing_items.id", ondelete="SET NULL")
    )
    sku: Mapped[str | None] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    alert_id: Mapped[uuid.UUID | None] = mapped_column()
    thread_id: Mapped[str | None] = mapped_column(String(128))
    created_by: Mapped[str | None] = mapped_column(String(200))
    decided_by: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    export_status: Mapped[str | None] = mapped_column(String(16))
    export_ref: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()


class ChatFeedback(Base):
    __tablename__ = "chat_feedback"

    id: Mapped[uuid.UUID] = uuid_pk()
    thread_id: Mapped[str] = mapped_column(String(128), index=True)
    run_id: Mapped[uuid.UUID | None] = mapped_column()
    user_ref: Mapped[str | None] = mapped_column(String(200))
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()


class SlackEventSeen(Base):
    """Slack re-delivers events; the first insert wins and the agent runs once."""

    __tablename__ = "slack_events_seen"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    received_at: Mapped[datetime] = created_at()


class ScheduledPost(Base):
    """One row per posted summary or briefing, so a retried job never posts twice."""

    __tablename__ = "scheduled_posts"
    __table_args__ = (UniqueConstraint("kind", "site", "channel", "period_key"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    site: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(200))
    period_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="claimed")
    message_ts: Mapped[str | None] = mapped_column(String(64))
    content: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = updated_at()
