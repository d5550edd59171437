"""Slack delivery through the Web API (slack_sdk AsyncWebClient).

A recipient is a user id (``U…``/``W…``: a DM, opened with conversations.open) or a channel
(an id or ``#name``). The message is Block Kit: the template's blocks or a default header,
severity line and text, then the notification's buttons; a chart is uploaded into the same
conversation with files_upload_v2 right after the post (an image block pointing at a
privately uploaded file is refused by Slack as ``invalid_blocks``).

Slack has no idempotency key for posts, so the ts is the key: it is returned as the provider
id, carried on the error when the chart upload fails after the post, and when the relay
hands it back as ``message.previous`` the message is edited (chat.update), not posted again.
The client is built without retry handlers: the relay owns retries and must see each 429.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from opscopilot.notify.channels.base import (
    DeliveryResult,
    OutgoingMessage,
    PermanentDeliveryError,
    TransientDeliveryError,
    parse_retry_after,
)
from opscopilot.notify.filters import Severity

# Slack "error" values that say try again later; everything else at 2xx/4xx is final.
_TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
_SEVERITY_EMOJI = {
    Severity.INFO: ":information_source:",
    Severity.WARNING: ":warning:",
    Severity.CRITICAL: ":rotating_light:",
}
_SLACK_ERRORS = (SlackApiError, SlackRequestError, aiohttp.ClientError, TimeoutError, OSError)
_HEADER_MAX = 150
_SECTION_MAX = 3000
_BUTTON_LABEL_MAX = 75


class SlackChannel:
    def __init__(
        self,
        *,
        client: AsyncWebClient | None = None,
        token: str | None = None,
        base_url: str = "https://slack.com/api/",
        timeout: float = 10.0,
    ) -> None:
        self._client = client or AsyncWebClient(
            token=token, base_url=base_url, timeout=max(1, round(timeout)), retry_handlers=[]
        )

    async def deliver(self, message: OutgoingMessage) -> DeliveryResult:
        blocks = build_blocks(message)
        fallback = f"[{message.severity.upper()}] {message.title}"
        metadata = {
            "event_type": "opscopilot_notification",
            "event_payload": {
                "notification_id": message.idempotency_key,
                "notification_type": message.notification_type,
                "severity": str(message.severity),
            },
        }
        try:
            previous = message.previous
            if previous is not None and previous.conversation_id is not None:
                await self._client.chat_update(
                    channel=previous.conversation_id,
                    ts=previous.provider_message_id,
                    text=fallback,
                    blocks=blocks,
                    metadata=metadata,
                )
                result = previous
            else:
                channel = await self._conversation_for(message.recipient)
                posted = await self._client.chat_postMessage(
                    channel=channel,
                    text=fallback,
                    blocks=blocks,
                    metadata=metadata,
                    unfurl_links=False,
                    unfurl_media=False,
                )
                result = DeliveryResult(
                    provider_message_id=str(posted["ts"]),
                    conversation_id=str(posted.get("channel") or channel),
                )
        except _SLACK_ERRORS as exc:
            raise _map_error(exc, partial=None) from exc
        if message.chart_png is not None:
            try:
                await self._client.files_upload_v2(
                    channel=result.conversation_id,
                    content=message.chart_png,
                    filename=f"{message.notification_type}-{message.idempotency_key}.png",
                    title=message.title,
                    alt_txt=f"Chart for: {message.title}",
                )
            except _SLACK_ERRORS as exc:
                raise _map_error(exc, partial=result) from exc
        return result

    async def _conversation_for(self, recipient: str) -> str:
        if recipient[:1] in ("U", "W"):
            opened = await self._client.conversations_open(users=recipient)
            return str(opened["channel"]["id"])
        return recipient


def build_blocks(message: OutgoingMessage) -> list[dict[str, Any]]:
    """Block Kit for a message: its own blocks or a default layout, then its buttons."""
    if message.slack_blocks is not None:
        blocks = [_fit_header(dict(b)) for b in message.slack_blocks]
    else:
        severity_line = (
            f"{_SEVERITY_EMOJI[message.severity]} *{message.severity.upper()}* · "
            f"{escape_mrkdwn(message.notification_type)}"
        )
        blocks = [
            _fit_header({"type": "header", "text": {"type": "plain_text", "text": message.title}}),
            {"type": "context", "elements": [{"type": "mrkdwn", "text": severity_line}]},
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": escape_mrkdwn(message.text)[:_SECTION_MAX]},
            },
        ]
    if message.actions:
        blocks.append(
            {
                "type": "actions",
                # The bot's action handler finds the notification from the block id.
                "block_id": f"notification:{message.idempotency_key}",
                "elements": [
                    {
                        "type": "button",
                        "action_id": action.id,
                        "text": {"type": "plain_text", "text": action.label[:_BUTTON_LABEL_MAX]},
                        "value": action.value,
                    }
                    | ({"style": action.style} if action.style else {})
                    for action in message.actions
                ],
            }
        )
    return blocks


def escape_mrkdwn(text: str) -> str:
    """Slack's three control characters, so text cannot mention @channel or forge links."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _fit_header(block: dict[str, Any]) -> dict[str, Any]:
    text = block.get("text")
    if block.get("type") == "header" and isinstance(text, dict):
        value = str(text.get("text", ""))
        if len(value) > _HEADER_MAX:
            block["text"] = text | {"text": value[: _HEADER_MAX - 1] + "…"}
    return block


def _map_error(
    exc: BaseException, *, partial: DeliveryResult | None
) -> TransientDeliveryError | PermanentDeliveryError:
    if isinstance(exc, SlackApiError):
        status = exc.response.status_code
        data = exc.response.data if isinstance(exc.response.data, dict) else {}
        error = str(data.get("error") or f"http {status}")
        if status == 429 or error == "ratelimited":
            headers = exc.response.headers or {}
            retry_after = parse_retry_after(
                headers.get("Retry-After") or headers.get("retry-after")
            )
            return TransientDeliveryError(
                f"slack rate limited: {error}", retry_after=retry_after, partial=partial
            )
        if status >= 500 or error in _TRANSIENT_ERRORS:
            return TransientDeliveryError(f"slack unavailable: {error}", partial=partial)
        return PermanentDeliveryError(f"slack refused: {error}", partial=partial)
    # Connection refused, timeouts, and an upload URL answering non-200.
    return TransientDeliveryError(f"slack unreachable: {exc!r}", partial=partial)
