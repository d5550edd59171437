"""SMS delivery through a Twilio-compatible Messages API (httpx).

``POST {base}/2010-04-01/Accounts/{sid}/Messages.json`` with form fields To, From, Body and
HTTP basic auth; the created message's ``sid`` is the provider id. The body is the title on
the first line and the text below, cut to Twilio's 1,600-character limit. The API has no
idempotency key for sends, so SMS is at-least-once: a retry after a crash that followed an
accepted send can repeat the text.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from opscopilot.notify.channels.base import (
    DeliveryResult,
    OutgoingMessage,
    PermanentDeliveryError,
    TransientDeliveryError,
    parse_retry_after,
)

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
MAX_BODY = 1600


class SMSChannel:
    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        from_number: str,
        base_url: str = "https://api.twilio.com",
        timeout: float = 10.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._auth = httpx.BasicAuth(account_sid, auth_token)
        self._from = from_number
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(timeout=timeout)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def deliver(self, message: OutgoingMessage) -> DeliveryResult:
        to = message.recipient.replace(" ", "")
        if not E164.match(to):
            raise PermanentDeliveryError(f"not an E.164 phone number: {message.recipient!r}")
        form = {"To": to, "From": self._from, "Body": compose_body(message)}
        try:
            response = await self._client.post(self._url, data=form, auth=self._auth)
        except httpx.TransportError as exc:  # connect/read errors and timeouts
            raise TransientDeliveryError(f"sms provider unreachable: {exc!r}") from exc
        if response.status_code in (200, 201):
            sid = _json(response).get("sid")
            if not sid:
                raise TransientDeliveryError("sms provider answered without a message sid")
            return DeliveryResult(provider_message_id=str(sid))
        detail = _describe(response)
        if response.status_code == 429:
            raise TransientDeliveryError(
                f"sms rate limited: {detail}",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if response.status_code >= 500 or response.status_code == 408:
            raise TransientDeliveryError(f"sms provider error: {detail}")
        raise PermanentDeliveryError(f"sms refused: {detail}")


def compose_body(message: OutgoingMessage) -> str:
    body = f"{message.title}\n{message.text}".strip()
    return body if len(body) <= MAX_BODY else body[: MAX_BODY - 1] + "…"


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        value = response.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _describe(response: httpx.Response) -> str:
    data = _json(response)
    code, text = data.get("code"), data.get("message")
    if code or text:
        return f"http {response.status_code}, code {code}: {text}"
    return f"http {response.status_code}"
