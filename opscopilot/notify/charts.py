"""An alert's chart image for Slack and email, drawn in the relay's own process.

An alert event carries the chart's API address (``/api/v1/forecasts/<item>/<type>/chart.png``,
relative or under ``api.public_url``) so that the text can link to it. The relay does not
fetch that address (the route needs a signed-in viewer, and a worker need not reach the
API): it reads the same forecast through the forecasting service, as the system. Only that
route's shape is understood, so a stored address cannot make the relay read anything else.
A chart is a nicety: any failure means the message goes without it (the link still leads
to it).
"""

from __future__ import annotations

import logging
import re

import httpx

from opscopilot.core.settings import Settings
from opscopilot.store.engine import Database

log = logging.getLogger(__name__)

MAX_CHART_BYTES = 5 * 1024 * 1024
_CHART_PATH = re.compile(r"^/api/v1/forecasts/(?P<entity>[^/]+)/(?P<kind>[^/]+)/chart\.png$")


def chart_location(chart_url: str, *, public_url: str) -> str | None:
    """The absolute URL, or None when it does not point at our API."""
    base = httpx.URL(public_url.rstrip("/") + "/")
    try:
        target = base.join(chart_url)
    except httpx.InvalidURL:
        return None
    same_origin = (target.scheme, target.host, target.port) == (base.scheme, base.host, base.port)
    return str(target) if same_origin else None


async def draw_chart(db: Database, settings: Settings, chart_url: str) -> bytes | None:
    """The PNG that `chart_url` would serve, or None (logged) when it cannot be drawn."""
    url = chart_location(chart_url, public_url=settings.api.public_url)
    found = _CHART_PATH.match(httpx.URL(url).path) if url else None
    if url is None or found is None:
        log.warning("chart URL is not our chart route; not drawn", extra={"url": chart_url})
        return None
    from opscopilot.access.roles import SYSTEM
    from opscopilot.forecasting.service import forecast_chart

    params = httpx.URL(url).params
    try:
        async with db.sessions() as session:
            png = await forecast_chart(
                session, entity_id=found["entity"], forecast_type=found["kind"],
                principal=SYSTEM, settings=settings, period=params.get("period"),
                site=params.get("site"),
            )  # fmt: skip
    # Whatever went wrong (no forecast yet, a bad period, the database), the message
    # matters more than its picture.
    except Exception as exc:
        log.warning("chart not drawn", extra={"url": chart_url, "error": repr(exc)})
        return None
    return png if len(png) <= MAX_CHART_BYTES else None
