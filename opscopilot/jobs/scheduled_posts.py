"""Claim-before-post: one Slack message per (kind, site, channel, period), however often the
job that posts it runs.

The claim (a `scheduled_posts` row) is committed first. The text is composed outside any
transaction (the agent writes it); posting then happens under a row lock, and the message ts
is stored in the same transaction, so:

- a retried job that finds the row with a ts posts nothing (the worker died after posting);
- a row without a ts (the worker died before posting) is posted now;
- two jobs at once: the second waits on the lock, then sees the ts (its text is dropped).

Slack has no idempotency key: a crash between the post and the commit of its ts is the one
window in which a message can be repeated.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from opscopilot.store.models import ScheduledPost

SessionFactory = Callable[[], Any]  # async_sessionmaker


class Poster(Protocol):
    async def __call__(self, channel: str, text: str) -> str:
        """Post `text` to `channel`; returns the message ts."""
        ...


async def post_once(
    sessions: SessionFactory,
    *,
    kind: str,
    site: str,
    channel: str,
    period_key: str,
    compose: Callable[[], Awaitable[str]],
    poster: Poster,
) -> str | None:
    """Post once per key; returns the new ts, or None when it had been posted already."""
    async with sessions() as session:
        await session.execute(
            insert(ScheduledPost)
            .values(kind=kind, site=site, channel=channel, period_key=period_key,
                    status="claimed")
            .on_conflict_do_nothing(index_elements=["kind", "site", "channel", "period_key"])
        )  # fmt: skip
        await session.commit()
    key = (
        ScheduledPost.kind == kind,
        ScheduledPost.site == site,
        ScheduledPost.channel == channel,
        ScheduledPost.period_key == period_key,
    )
    async with sessions() as session:
        if await session.scalar(select(ScheduledPost.message_ts).where(*key)) is not None:
            return None
    # Composed with no transaction open: the agent writes it, which can take minutes.
    text = await compose()
    async with sessions() as session:
        row = await session.scalar(select(ScheduledPost).where(*key).with_for_update())
        assert row is not None  # claimed just above; rows are never deleted
        if row.message_ts is not None:  # another job posted while this one composed
            await session.rollback()
            return None
        ts = await poster(channel, text)
        row.message_ts, row.content, row.status = ts, text, "posted"
        await session.commit()
        return ts
