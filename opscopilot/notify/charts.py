"""Fetch an alert's chart image for Slack and email, from our own API only.

An alert event carries a chart URL (``/api/v1/forecasts/.../chart.png``), relative or under
``api.public_url``; nothing else is fetched, so a stored URL cannot make the relay reach
elsewhere. A chart is a nicety: any failure means the message goes without it (the link
in the text still leads to it).
"""

from __future__ import annotations

import logging

import httpx

log = logging.getLogger(__name__)

MAX_CHART_BYTES = 5 * 1024 * 1024
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def chart_location(chart_url: str, *, public_url: str) -> str | None:
    """The absolute URL to fetch, or None when it does not point at our API."""
    base = httpx.URL(public_url.rstrip("/") + "/")
    try:
        target = base.join(chart_url)
    except httpx.InvalidURL:
        return None
    same_origin = (target.scheme, target.host, target.port) == (base.scheme, base.host, base.port)
    return str(target) if same_origin else None


async def fetch_chart(
    client: httpx.AsyncClient, chart_url: str, *, public_url: str, timeout: float = 5.0
) -> bytes | None:
    url = chart_location(chart_url, public_url=public_url)
    if url is None:
        log.warning("chart URL is not on this API; not fetched", extra={"url": chart_url})
        return None
    try:
        response = await client.get(url, timeout=timeout)
    except httpx.HTTPError as exc:
        log.warning("chart fetch failed", extra={"url": url, "error": repr(exc)})
        return None
    body = response.content
    if response.status_code != 200 or not body.startswith(_PNG_MAGIC):
        log.warning("chart fetch gave no PNG", extra={"url": url, "status": response.status_code})
        return None
    return body if len(body) <= MAX_CHART_BYTES else None
