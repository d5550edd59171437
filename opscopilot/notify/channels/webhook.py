"""Webhook delivery: a JSON POST signed the Standard Webhooks way.

Headers ``webhook-id`` (the notification id, the same on every retry so the receiver can
drop repeats), ``webhook-timestamp`` (seconds, fresh per attempt) and ``webhook-signature``
= ``v1,`` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")). A secret written as
``whsec_<base64>`` (the spec's form, see ``generate_secret``) signs with the decoded bytes;
any other secret signs with its UTF-8 bytes.

The URL is checked by urlguard at every send and the request goes to the checked address
(Host header and TLS SNI keep the name); redirects are not followed and environment proxies
are ignored, both of which would bypass that check. The chart is not sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import httpx

from opscopilot.notify.channels.base import (
    DeliveryResult,
    OutgoingMessage,
    PermanentDeliveryError,
    TransientDeliveryError,
    parse_retry_after,
)
from opscopilot.notify.urlguard import (
    Allowlist,
    CheckedURL,
    IPAddress,
    Resolver,
    UnsafeURLError,
    URLResolutionError,
    check_url,
)

_ERROR_BODY_MAX = 512
_LITERAL_CACHE = 10_000


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def generate_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one attempt."""
    if secret.startswith("whsec_"):
        key = base64.b64decode(secret.removeprefix("whsec_"))
    else:
        key = secret.encode()
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def payload(message: OutgoingMessage, *, now: datetime) -> dict[str, Any]:
    return {
        "type": "notification",
        "timestamp": now.isoformat().replace("+00:00", "Z"),
        "data": {
            "id": message.idempotency_key,
            "notification_type": message.notification_type,
            "severity": str(message.severity),
            "title": message.title,
            "text": message.text,
            "actions": [
                {"id": a.id, "label": a.label, "value": a.value, "style": a.style}
                for a in message.actions
            ],
        },
    }


class WebhookChannel:
    def __init__(
        self,
        *,
        secret: str,
        allowlist: Iterable[str] = (),
        timeout: float = 10.0,
        resolver: Resolver | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if not secret:
            raise ValueError("webhook deliveries need a signing secret")
        self._secret = secret
        self._allowlist = Allowlist.parse(allowlist)
        self._resolver = resolver
        self._literal: dict[str, CheckedURL] = {}
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, trust_env=False
        )

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def _checked(self, url: str) -> CheckedURL:
        """The URL checked now; a URL whose host is an IP address resolves to nothing else,
        ever, so its verdict under this channel's allowlist is kept (a host name is
        resolved and checked at every send: its addresses may change)."""
        hit = self._literal.get(url)
        if hit is not None:
            return hit
        target = await check_url(url, allowlist=self._allowlist, resolver=self._resolver)
        if target.addresses == (_literal_address(target.host),):
            if len(self._literal) >= _LITERAL_CACHE:
                self._literal.clear()
            self._literal[url] = target
        return target

    async def deliver(self, message: OutgoingMessage) -> DeliveryResult:
        try:
            target = await self._checked(message.recipient)
        except URLResolutionError as exc:
            raise TransientDeliveryError(exc.message) from exc
        except UnsafeURLError as exc:
            raise PermanentDeliveryError(exc.message) from exc

        now = datetime.now(UTC)
        body = json.dumps(payload(message, now=now), separators=(",", ":")).encode()
        timestamp = int(time.time())
        msg_id = message.idempotency_key
        headers = {
            "content-type": "application/json",
            "user-agent": "OpsCopilot-Webhooks/1",
            "host": target.url.netloc.decode("ascii"),
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(
                secret=self._secret, msg_id=msg_id, timestamp=timestamp, body=body
            ),
        }
        extensions = {"sni_hostname": target.host} if target.url.scheme == "https" else {}
        status, detail, retry_after = await self._post(target, body, headers, extensions)
        if 200 <= status < 300:
            return DeliveryResult(provider_message_id=msg_id)
        if status == 429:
            raise TransientDeliveryError(f"webhook rate limited: {detail}", retry_after=retry_after)
        if status >= 500 or status == 408:
            raise TransientDeliveryError(
                f"webhook receiver error: {detail}", retry_after=retry_after
            )
        if 300 <= status < 400:
            raise PermanentDeliveryError(f"webhook answered a redirect, not followed: {detail}")
        raise PermanentDeliveryError(f"webhook refused: {detail}")

    async def _post(
        self,
        target: CheckedURL,
        body: bytes,
        headers: dict[str, str],
        extensions: dict[str, Any],
    ) -> tuple[int, str, float | None]:
        last_error: Exception | None = None
        for address in target.addresses:
            try:
                async with self._client.stream(
                    "POST",
                    target.pinned(address),
                    content=body,
                    headers=headers,
                    extensions=extensions,
                ) as response:
                    snippet = await _read_some(response)
                    detail = f"http {response.status_code} {snippet}".strip()
                    retry_after = parse_retry_after(response.headers.get("retry-after"))
                    return response.status_code, detail, retry_after
            except httpx.ConnectError as exc:
                last_error = exc  # the next checked address may answer
            except httpx.TransportError as exc:
                raise TransientDeliveryError(f"webhook transport error: {exc!r}") from exc
        raise TransientDeliveryError(f"webhook unreachable: {last_error!r}") from last_error


async def _read_some(response: httpx.Response) -> str:
    """At most a few hundred bytes of the answer: a receiver must not flood our memory.

    A short answer is read to its end even on success, so the connection goes back to the
    pool instead of being closed (a new connection per delivery halves the throughput).
    """
    chunk = b""
    async for part in response.aiter_bytes():
        chunk += part
        if len(chunk) >= _ERROR_BODY_MAX:
            break
    if 200 <= response.status_code < 300:
        return ""
    return chunk[:_ERROR_BODY_MAX].decode("utf-8", "replace")
