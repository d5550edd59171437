"""The biggest forecast changes at a site: for each item whose latest official forecast was
made after a moment, how that forecast moved against the previous official forecast of the
same item, type and period (what `explain_forecast` compares), largest relative change first.

The change is the relative change of the total over the periods both forecasts cover (the
same figure as the explanation's `change_share`, as a percentage). A previous forecast with
a total of zero or less over those periods has no relative change and is left out.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.access.roles import Principal
from opscopilot.core.errors import PermissionDenied, ValidationFailed
from opscopilot.forecasting.frames import FORECAST_TYPES
from opscopilot.forecasting.schemas import ForecastChangeRead

MAX_CHANGES = 50

# One statement: the items with a new official forecast limit the scan (the entity index),
# a window pairs each latest forecast with the one before it, and a lateral join totals
# both over their common periods.
_CHANGES = text(
    """
    WITH ranked AS (
        SELECT f.id, f.entity_id, f.sku, f.site, f.forecast_type, f.period, f.points,
               f.created_at,
               row_number() OVER w AS recency,
               lead(f.points) OVER w AS previous_points,
               lead(f.created_at) OVER w AS previous_created_at
        FROM forecasts AS f
        WHERE f.site = :site AND f.is_official
          AND (CAST(:forecast_type AS text) IS NULL OR f.forecast_type = :forecast_type)
          AND f.entity_id IN (
              SELECT n.entity_id FROM forecasts AS n
              WHERE n.site = :site AND n.is_official AND n.created_at > :since
          )
        WINDOW w AS (PARTITION BY f.entity_id, f.forecast_type, f.period
                     ORDER BY f.created_at DESC, f.id DESC)
    ),
    compared AS (
        SELECT r.id, r.entity_id, r.sku, r.site, r.forecast_type, r.period, r.created_at,
               r.previous_created_at, t.periods, t.before_total, t.after_total
        FROM ranked AS r
        CROSS JOIN LATERAL (
            SELECT count(*) AS periods,
                   sum((o.p ->> 'yhat')::float8) AS before_total,
                   sum((n.p ->> 'yhat')::float8) AS after_total
            FROM jsonb_array_elements(r.points) AS n(p)
            JOIN jsonb_array_elements(r.previous_points) AS o(p)
              ON (o.p ->> 'ds')::date = (n.p ->> 'ds')::date
        ) AS t
        WHERE r.recency = 1 AND r.created_at > :since AND r.previous_points IS NOT NULL
    )
    SELECT *, 100 * (after_total / before_total - 1) AS change_pct
    FROM compared
    WHERE periods > 0 AND before_total > 0
    ORDER BY abs(after_total / before_total - 1) DESC, sku, forecast_type, period
    LIMIT :limit
    """
)


async def forecast_changes(
    session: AsyncSession,
    *,
    principal: Principal,
    site: str,
    since: datetime,
    limit: int = 10,
    forecast_type: str | None = None,
) -> list[ForecastChangeRead]:
    """The items at `site` whose official forecast made after `since` moved most against
    their previous official forecast, the largest relative change (up or down) first."""
    if not principal.sees_site(site):
        raise PermissionDenied(f"site {site!r} is not among your sites", field="site")
    if forecast_type is not None and forecast_type not in FORECAST_TYPES:
        raise ValidationFailed(
            f"unknown forecast type {forecast_type!r}; valid types: {', '.join(FORECAST_TYPES)}",
            field="forecast_type",
        )
    if since.tzinfo is None:
        raise ValidationFailed("since needs a time zone", field="since")
    params = {"site": site, "since": since, "forecast_type": forecast_type,
              "limit": max(1, min(limit, MAX_CHANGES))}  # fmt: skip
    rows = (await session.execute(_CHANGES, params)).mappings().all()
    return [
        ForecastChangeRead(
            sku=r["sku"],
            item_id=r["entity_id"],
            site=r["site"],
            forecast_type=r["forecast_type"],
            period=r["period"],
            periods=r["periods"],
            before=r["before_total"],
            after=r["after_total"],
            change_pct=r["change_pct"],
            forecast_id=r["id"],
            created_at=r["created_at"],
            previous_created_at=r["previous_created_at"],
        )
        for r in rows
    ]
