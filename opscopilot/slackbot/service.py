"""The bot's records: event dedupe, Slack thread -> agent thread, who a Slack user is,
where an approval's message lives, and feedback on answers. Callers commit."""

from __future__ import annotations

import uuid
from typing import cast

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.access.roles import Principal, Role
from opscopilot.actions.schemas import ActionRead
from opscopilot.actions.service import to_read
from opscopilot.core.errors import NotFoundError, PermissionDenied
from opscopilot.store.models import (
    ActionRequest,
    Approval,
    ChatFeedback,
    ChatThread,
    SlackEventSeen,
    User,
)


async def claim_event(session: AsyncSession, *, event_id: str) -> bool:
    """True for the first delivery of `event_id`; Slack's retries and redeliveries get False."""
    claimed = await session.scalar(
        insert(SlackEventSeen)
        .values(event_id=event_id[:64])
        .on_conflict_do_nothing()
        .returning(SlackEventSeen.event_id)
    )
    return claimed is not None


async def principal_for(
    session: AsyncSession, *, slack_user_id: str, default_site: str
) -> Principal:
    """The user row with this Slack id; anyone else is a viewer of the default site."""
    user = await session.scalar(select(User).where(User.slack_user_id == slack_user_id))
    if user is None:
        return Principal(
            user_id=None,
            external_id=f"slack:{slack_user_id}",
            role="viewer",
            sites=(default_site,),
        )
    return Principal(
        user_id=user.id,
        external_id=user.external_id,
        role=cast(Role, user.role),
        sites=tuple(user.sites or ()),
    )


def home_site(principal: Principal, default_site: str) -> str:
    if principal.sees_site(default_site):
        return default_site
    return principal.sites[0]


def thread_id_for(channel: str, thread_ts: str) -> str:
    return f"slack:{channel}:{thread_ts}"


async def open_thread(
    session: AsyncSession,
    *,
    channel: str,
    thread_ts: str,
    principal: Principal,
    default_site: str,
    title: str,
) -> ChatThread:
    """The agent thread of a Slack thread, created by its first question.

    A thread keeps the site it started on; someone who cannot see that site is refused.
    """
    await session.execute(
        insert(ChatThread)
        .values(
            id=thread_id_for(channel, thread_ts),
            user_id=principal.user_id,
            surface="slack",
            title=title[:120],
            site=home_site(principal, default_site),
            slack_channel=channel,
            slack_thread_ts=thread_ts,
        )
        .on_conflict_do_nothing()
    )
    thread = await session.scalar(
        select(ChatThread).where(
            ChatThread.slack_channel == channel, ChatThread.slack_thread_ts == thread_ts
        )
    )
    if thread is None:  # the id was taken by a thread of another surface
        raise NotFoundError("this Slack thread cannot be continued here", field="thread_id")
    if thread.site and not principal.sees_site(thread.site):
        raise PermissionDenied(
            f"this thread is about site {thread.site}, which you do not have access to"
        )
    return thread


async def attach_approval_message(
    session: AsyncSession, *, approval_id: str, channel: str, ts: str
) -> None:
    await session.execute(
        update(Approval)
        .where(Approval.id == _uuid(approval_id, "approval_id"))
        .values(slack_channel=channel, slack_ts=ts)
    )


async def approval_with_thread(
    session: AsyncSession, *, approval_id: str
) -> tuple[Approval, ChatThread | None]:
    approval = await session.get(Approval, _uuid(approval_id, "approval_id"))
    if approval is None:
        raise NotFoundError("no such approval", field="approval_id")
    return approval, await session.get(ChatThread, approval.thread_id)


async def record_feedback(
    session: AsyncSession, *, thread_id: str, run_id: str, user_ref: str, score: int
) -> None:
    """A person's vote on one answer; voting again replaces it."""
    if await session.get(ChatThread, thread_id) is None:
        raise NotFoundError("no such thread", field="thread_id")
    run = _uuid(run_id, "run_id")
    await session.execute(
        delete(ChatFeedback).where(
            ChatFeedback.thread_id == thread_id,
            ChatFeedback.run_id == run,
            ChatFeedback.user_ref == user_ref,
        )
    )
    session.add(ChatFeedback(thread_id=thread_id, run_id=run, user_ref=user_ref, score=score))


async def open_draft_for_alert(
    session: AsyncSession, *, alert_id: uuid.UUID, kind: str
) -> ActionRead | None:
    """The draft already made from this alert's suggested action (a second press)."""
    row = await session.scalar(
        select(ActionRequest)
        .where(
            ActionRequest.alert_id == alert_id,
            ActionRequest.kind == kind,
            ActionRequest.status == "draft",
        )
        .order_by(ActionRequest.created_at)
        .limit(1)
    )
    return to_read(row) if row is not None else None


def _uuid(value: str, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFoundError(f"no such {field.removesuffix('_id')}", field=field) from None
