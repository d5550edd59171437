"""A loopback stand-in for the Slack Web API, for slack_sdk clients built with ``base_url``.

Point a client at ``AsyncWebClient(token=peer.token, base_url=peer.base_url)``. Every call is
recorded with its method and body (query, form and JSON merged; JSON-in-form fields such as
``blocks`` decoded). It keeps conversations the way a person would see them: ``messages``
(after updates and streamed chunks) and ``files`` (uploaded bytes and where they were
shared). ``fail_next(n, status=429, retry_after=…)`` or ``status=500`` answers the next n
calls (optionally of one method) with that error; ``unknown_ids`` makes those user or
channel ids answer ``user_not_found`` / ``channel_not_found``. ``handle(method, fn)`` adds
or replaces a method; ``app_token`` (Socket Mode) is accepted besides the bot token.
``response_url(name)`` is a slash-command / interaction response URL whose posts are
recorded as calls of method ``response_url:<name>``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.peers._http import FailurePlan, ThreadedHTTPPeer

_JSON_FIELDS = ("blocks", "attachments", "metadata", "files", "chunks", "view")
Handler = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class SlackCall:
    method: str
    body: dict[str, Any]
    headers: dict[str, str]
    status: int
    answer: dict[str, Any]


@dataclass
class SlackMessage:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]] | None
    thread_ts: str | None
    metadata: dict[str, Any] | None
    edits: int = 0
    streaming: bool = False


@dataclass
class SlackFile:
    id: str
    filename: str
    length: int
    title: str | None = None
    alt_txt: str | None = None
    content: bytes | None = None
    channel: str | None = None
    thread_ts: str | None = None
    initial_comment: str | None = None
    shared: bool = False


@dataclass
class _State:
    calls: list[SlackCall] = field(default_factory=list)
    messages: dict[tuple[str, str], SlackMessage] = field(default_factory=dict)
    files: dict[str, SlackFile] = field(default_factory=dict)


class SlackStandIn(ThreadedHTTPPeer):
    def __init__(
        self,
        *,
        token: str = "xoxb-0000-test",
        app_token: str = "xapp-1-test",
        port: int = 0,
        team_id: str = "T00000001",
        bot_user_id: str = "U0000BOT1",
    ) -> None:
        super().__init__(port=port)
        self.token = token
        self.app_token = app_token
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.unknown_ids: set[str] = set()
        self._failures = FailurePlan()
        self._state = _State()
        self._ids = itertools.count(1)
        self._handlers: dict[str, Handler] = {
            "auth.test": self._auth_test,
            "conversations.open": self._conversations_open,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.startStream": self._start_stream,
            "chat.appendStream": self._append_stream,
            "chat.stopStream": self._stop_stream,
            "files.getUploadURLExternal": self._upload_url,
            "files.completeUploadExternal": self._complete_upload,
            "views.publish": lambda body: {"ok": True, "view": body.get("view") or {}},
            "assistant.threads.setStatus": lambda body: {"ok": True},
            "reactions.add": lambda body: {"ok": True},
            "reactions.remove": lambda body: {"ok": True},
        }

    @property
    def base_url(self) -> str:
        return f"{self.url}/api/"

    def handle(self, method: str, handler: Handler) -> None:
        """Add or replace a Web API method (it runs under the peer's lock)."""
        with self.lock:
            self._handlers[method] = handler

    def response_url(self, name: str = "default") -> str:
        return f"{self.url}/respond/{name}"

    def fail_next(
        self,
        count: int,
        *,
        status: int = 429,
        retry_after: float | None = None,
        method: str | None = None,
    ) -> None:
        self._failures.add(count, status, retry_after, method)

    @property
    def calls(self) -> list[SlackCall]:
        with self.lock:
            return list(self._state.calls)

    def calls_to(self, method: str) -> list[SlackCall]:
        return [c for c in self.calls if c.method == method]

    @property
    def messages(self) -> list[SlackMessage]:
        with self.lock:
            return list(self._state.messages.values())

    @property
    def files(self) -> list[SlackFile]:
        with self.lock:
            return list(self._state.files.values())

    def build_app(self) -> web.Application:
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/respond/{name}", self._respond)
        return app

    async def _respond(self, request: web.Request) -> web.Response:
        body = await _merged_body(request)
        method = f"response_url:{request.match_info['name']}"
        with self.lock:
            self._state.calls.append(SlackCall(method, body, dict(request.headers), 200, {}))
        return web.Response(text="ok", content_type="text/plain")

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        body = await _merged_body(request)
        failure = self._failures.take(method)
        headers: dict[str, str] = {}
        if failure is not None:
            status, retry_after = failure
            answer: dict[str, Any] = {
                "ok": False,
                "error": "ratelimited" if status == 429 else "internal_error",
            }
            if retry_after is not None:
                headers["Retry-After"] = str(int(retry_after) if retry_after >= 1 else retry_after)
        elif not self._authorised(request, body):
            status, answer = 200, {"ok": False, "error": "invalid_auth"}
        else:
            status = 200
            handler = self._handlers.get(method)
            with self.lock:
                answer = handler(body) if handler else {"ok": False, "error": "unknown_method"}
        with self.lock:
            self._state.calls.append(SlackCall(method, body, dict(request.headers), status, answer))
        return web.json_response(answer, status=status, headers=headers)

    async def _upload(self, request: web.Request) -> web.Response:
        data = await request.read()
        with self.lock:
            file = self._state.files.get(request.match_info["file_id"])
            if file is None:
                return web.Response(status=404, text="unknown upload", content_type="text/plain")
            file.content = data
        return web.Response(text=f"OK - {len(data)}", content_type="text/plain")

    def _authorised(self, request: web.Request, body: dict[str, Any]) -> bool:
        header = request.headers.get("Authorization", "")
        return any(
            header == f"Bearer {token}" or body.get("token") == token
            for token in (self.token, self.app_token)
        )

    def _next_ts(self) -> str:
        n = next(self._ids)
        return f"{1_700_000_000 + n}.{n:06d}"

    def _channel_id(self, channel: str) -> str | None:
        if channel in self.unknown_ids or not channel:
            return None
        if channel[0] in "CGD" and channel[1:].isalnum() and channel.upper() == channel:
            return channel
        digest = hashlib.sha1(channel.lstrip("#").encode()).hexdigest()
        return "C" + digest[:9].upper()

    # Handlers run under self.lock.

    def _auth_test(self, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://opscopilot-test.slack.com/",
            "team": "OpsCopilot Test",
            "user": "opscopilot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": "B00000001",
        }

    def _conversations_open(self, body: dict[str, Any]) -> dict[str, Any]:
        users = str(body.get("users", ""))
        if not users or any(u in self.unknown_ids for u in users.split(",")):
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "channel": {"id": "D" + users.replace(",", "")[1:].upper()}}

    def _post_message(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel_id(str(body.get("channel", "")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if not body.get("text") and not body.get("blocks") and not body.get("markdown_text"):
            return {"ok": False, "error": "no_text"}
        ts = self._next_ts()
        message = SlackMessage(
            channel=channel,
            ts=ts,
            text=str(body.get("text") or body.get("markdown_text") or ""),
            blocks=body.get("blocks"),
            thread_ts=body.get("thread_ts"),
            metadata=body.get("metadata"),
        )
        self._state.messages[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": {"text": message.text}}

    def _update(self, body: dict[str, Any]) -> dict[str, Any]:
        key = (str(body.get("channel")), str(body.get("ts")))
        message = self._state.messages.get(key)
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        if "text" in body or "markdown_text" in body:
            message.text = str(body.get("text") or body.get("markdown_text") or "")
        if "blocks" in body:
            message.blocks = body["blocks"]
        message.edits += 1
        return {"ok": True, "channel": key[0], "ts": key[1], "text": message.text}

    def _start_stream(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel_id(str(body.get("channel", "")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        ts = self._next_ts()
        self._state.messages[(channel, ts)] = SlackMessage(
            channel=channel,
            ts=ts,
            text=_chunk_text(body),
            blocks=None,
            thread_ts=body.get("thread_ts"),
            metadata=None,
            streaming=True,
        )
        return {"ok": True, "channel": channel, "ts": ts}

    def _append_stream(self, body: dict[str, Any]) -> dict[str, Any]:
        message = self._state.messages.get((str(body.get("channel")), str(body.get("ts"))))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        if not message.streaming:
            return {"ok": False, "error": "message_not_in_streaming_state"}
        message.text += _chunk_text(body)
        return {"ok": True, "channel": message.channel, "ts": message.ts}

    def _stop_stream(self, body: dict[str, Any]) -> dict[str, Any]:
        answer = self._append_stream(body)
        if answer["ok"]:
            message = self._state.messages[(str(body.get("channel")), str(body.get("ts")))]
            message.streaming = False
            if body.get("blocks"):
                message.blocks = body["blocks"]
        return answer

    def _upload_url(self, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("filename") or not str(body.get("length", "")).isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._ids):010d}"
        self._state.files[file_id] = SlackFile(
            id=file_id,
            filename=str(body["filename"]),
            length=int(body["length"]),
            alt_txt=body.get("alt_txt"),
        )
        return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def _complete_upload(self, body: dict[str, Any]) -> dict[str, Any]:
        entries = body.get("files") or []
        channel = body.get("channel_id")
        if channel is not None and self._channel_id(str(channel)) is None:
            return {"ok": False, "error": "channel_not_found"}
        done = []
        for entry in entries:
            file = self._state.files.get(str(entry.get("id")))
            if file is None or file.content is None:
                return {"ok": False, "error": "file_not_found"}
            file.title = entry.get("title")
            file.channel = str(channel) if channel else None
            file.thread_ts = body.get("thread_ts")
            file.initial_comment = body.get("initial_comment")
            file.shared = channel is not None
            done.append({"id": file.id, "title": file.title, "name": file.filename})
        return {"ok": True, "files": done}


def _chunk_text(body: dict[str, Any]) -> str:
    chunks = body.get("chunks") or []
    text = "".join(str(c.get("text", "")) for c in chunks if isinstance(c, dict))
    return text + str(body.get("markdown_text") or "")


async def _merged_body(request: web.Request) -> dict[str, Any]:
    body: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        raw = await request.read()
        if raw:
            body.update(json.loads(raw))
    elif request.can_read_body:
        form = await request.post()
        body.update({k: v for k, v in form.items() if isinstance(v, str)})
    for key in _JSON_FIELDS:
        if isinstance(body.get(key), str):
            try:
                body[key] = json.loads(body[key])
            except ValueError:
                pass
    return body
