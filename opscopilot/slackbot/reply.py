"""One answer written into a Slack thread while the agent produces it.

It streams with `chat.startStream` / `appendStream` / `stopStream`. When streaming is not
available (the start call fails) or the stream expires (an append or the stop fails), the
same text goes on with `chat.postMessage` / `chat.update`, edited at most once per
`update_interval_s` (chat.update is Tier 3). A message never holds more than
`text.TEXT_LIMIT` characters: the answer continues in a new message of the same thread,
so nothing is cut. All text is escaped on the way in (`text.SafeText`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Literal

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from opscopilot.slackbot.text import TEXT_LIMIT, SafeText, cut_point

log = logging.getLogger(__name__)


def _chunk(text: str) -> list[dict[str, str]]:
    return [{"type": "markdown_text", "text": text}]


def _error(exc: SlackApiError) -> str:
    data = exc.response.data if isinstance(exc.response.data, dict) else {}
    return str(data.get("error") or exc.response.status_code)


class ThreadReply:
    def __init__(
        self,
        client: AsyncWebClient,
        *,
        channel: str,
        thread_ts: str,
        recipient_user_id: str | None = None,
        recipient_team_id: str | None = None,
        limit: int = TEXT_LIMIT,
        flush_chars: int = 400,
        flush_interval_s: float = 1.0,
        update_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self.channel = channel
        self.thread_ts = thread_ts
        self._recipient = {
            "recipient_user_id": recipient_user_id,
            "recipient_team_id": recipient_team_id,
        }
        self._limit = limit
        self._flush_chars = flush_chars
        self._flush_interval = flush_interval_s
        self._update_interval = update_interval_s
        self._clock = clock
        self._safe = SafeText()
        self._mode: Literal["stream", "update"] = "stream"
        self._pending = ""  # escaped, not yet handed to Slack
        self._text = ""  # escaped text of the current message
        self._ts: str | None = None
        self._dirty = False  # update mode: Slack shows less than `_text`
        self._last_flush = clock()
        self._last_update = 0.0
        self._status_enabled = True
        self._status_shown = False
        self.messages: list[str] = []
        self.written = False

    @property
    def mode(self) -> str:
        return self._mode

    async def write(self, fragment: str) -> None:
        if not fragment:
            return
        self.written = True
        self._pending += self._safe.feed(fragment)
        due = self._clock() - self._last_flush >= self._flush_interval
        if len(self._pending) >= self._flush_chars or (self._pending and due):
            await self._flush()

    async def status(self, text: str) -> None:
        """The assistant status line ("is looking up inventory…") while tools run."""
        if self._pending:
            await self._flush()
        if not self._status_enabled:
            return
        try:
            await self._client.assistant_threads_setStatus(
                channel_id=self.channel, thread_ts=self.thread_ts, status=text[:200]
            )
            self._status_shown = bool(text)
        except SlackApiError as exc:
            # Not an assistant thread, or no assistant:write scope: the answer still streams.
            log.info("assistant status unavailable: %s", _error(exc))
            self._status_enabled = False

    async def finish(self, *, blocks: list[dict[str, Any]] | None = None) -> list[str]:
        """Send the rest, close the message (with `blocks` under it); the messages' ts."""
        self._pending += self._safe.flush()
        await self._flush(final=True, blocks=blocks)
        if self._status_shown:
            await self.status("")
        return self.messages

    async def _flush(
        self, *, final: bool = False, blocks: list[dict[str, Any]] | None = None
    ) -> None:
        self._last_flush = self._clock()
        while len(self._text) + len(self._pending) > self._limit:
            cut = cut_point(self._pending, self._limit - len(self._text))
            piece, self._pending = self._pending[:cut], self._pending[cut:]
            await self._close(tail=piece)
        piece, self._pending = self._pending, ""
        if final:
            await self._close(tail=piece, blocks=blocks)
        elif piece:
            await self._send(piece)

    async def _send(self, piece: str) -> None:
        if self._mode == "stream":
            try:
                if self._ts is None:
                    started = await self._client.chat_startStream(
                        channel=self.channel,
                        thread_ts=self.thread_ts,
                        chunks=_chunk(piece),
                        **self._recipient,
                    )
                    self._opened(str(started["ts"]))
                else:
                    await self._client.chat_appendStream(
                        channel=self.channel, ts=self._ts, chunks=_chunk(piece)
                    )
                self._text += piece
                return
            except SlackApiError as exc:
                self._fall_back(exc)
        self._text += piece
        self._dirty = True
        await self._push(force=False)

    async def _close(self, *, tail: str, blocks: list[dict[str, Any]] | None = None) -> None:
        """End the current message with `tail`; the next text starts a new message."""
        if self._mode == "stream" and self._ts is None and tail:
            await self._send(tail)
            tail = ""
        if self._mode == "stream" and self._ts is not None:
            try:
                await self._client.chat_stopStream(
                    channel=self.channel,
                    ts=self._ts,
                    chunks=_chunk(tail) if tail else None,
                    blocks=blocks,
                )
                self._ts, self._text = None, ""
                return
            except SlackApiError as exc:
                self._fall_back(exc)
        if tail:
            self._text += tail
            self._dirty = True
        if self._text:
            await self._push(force=True, blocks=blocks)
        self._ts, self._text, self._dirty = None, "", False

    def _fall_back(self, exc: SlackApiError) -> None:
        log.info(
            "slack streaming unavailable (%s): continuing with chat.update%s",
            _error(exc),
            f" of {self._ts}" if self._ts else "",
        )
        self._mode = "update"
        self._last_update = 0.0

    async def _push(self, *, force: bool, blocks: list[dict[str, Any]] | None = None) -> None:
        """Update mode: show `_text`, posting the message first if it does not exist yet."""
        if self._ts is None:
            posted = await self._client.chat_postMessage(
                channel=self.channel,
                thread_ts=self.thread_ts,
                unfurl_links=False,
                unfurl_media=False,
                **self._content(blocks),
            )
            self._opened(str(posted["ts"]))
        elif not (self._dirty or blocks):
            return
        elif not force and self._clock() - self._last_update < self._update_interval:
            return
        else:
            await self._client.chat_update(
                channel=self.channel, ts=self._ts, **self._content(blocks)
            )
        self._dirty = False
        self._last_update = self._clock()

    def _content(self, blocks: list[dict[str, Any]] | None) -> dict[str, Any]:
        if not blocks:
            return {"markdown_text": self._text}
        # markdown_text cannot be combined with blocks: the text becomes a markdown block.
        return {"text": self._text, "blocks": [{"type": "markdown", "text": self._text}, *blocks]}

    def _opened(self, ts: str) -> None:
        self._ts = ts
        self.messages.append(ts)
