"""Fixed-window rate limits kept in Postgres, so every replica shares one count."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.core.errors import RateLimited

_UPSERT = text(
    """
    INSERT INTO rate_limit_buckets AS b (key, window_start, count)
    VALUES (:key, :window, 1)
    ON CONFLICT (key) DO UPDATE SET
        count = CASE WHEN b.window_start = EXCLUDED.window_start THEN b.count + 1 ELSE 1 END,
        window_start = EXCLUDED.window_start
    RETURNING count
    """
)


async def hit(
    session: AsyncSession, *, key: str, limit: int, window_s: int = 60, now: float | None = None
) -> None:
    """Count one request against `key`; raise RateLimited past `limit` per window."""
    if limit <= 0:
        return
    now = time.time() if now is None else now
    start = int(now // window_s) * window_s
    count = (
        await session.execute(_UPSERT, {"key": key, "window": datetime.fromtimestamp(start, UTC)})
    ).scalar_one()
    await session.commit()
    if count > limit:
        raise RateLimited(
            f"rate limit of {limit} requests per {window_s} s reached",
            retry_after=start + window_s - now,
        )
