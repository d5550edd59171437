"""A webhook receiver that behaves like a careful consumer of Standard Webhooks.

It checks ``webhook-signature`` against ``{webhook-id}.{webhook-timestamp}.{body}`` with its
own copy of the secret, refuses stale timestamps, and applies each ``webhook-id`` once:
``effects`` holds one entry per id, ``duplicates`` counts the repeats. Written from the
spec, not from our sender, so a signing mistake on our side fails the tests.

Knobs: ``fail_next(n, status=500)`` answers the next n signed requests with that status and
no effect (the receiver did not process them; a 3xx points at the metadata address);
``delay_s`` holds the answer back after the effect is recorded (the receiver processed it,
the sender may give up waiting).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.peers._http import FailurePlan, ThreadedHTTPPeer

# The secret of the Standard Webhooks specification's worked example.
EXAMPLE_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@dataclass(frozen=True)
class WebhookRequest:
    path: str
    headers: dict[str, str]
    body: bytes
    verdict: str  # "ok", "duplicate", "bad signature", "stale timestamp", "failed on purpose"
    status: int
    # The sender's (address, port): the same for requests sent over one kept-alive connection.
    peer: tuple[str, int] | None = None


class WebhookReceiver(ThreadedHTTPPeer):
    def __init__(self, *, secret: str, port: int = 0, tolerance_s: int = 300) -> None:
        super().__init__(port=port)
        self.secret = secret
        self.tolerance_s = tolerance_s
        self.delay_s = 0.0
        self._failures = FailurePlan()
        self._requests: list[WebhookRequest] = []
        self._effects: dict[str, Any] = {}
        self.duplicates = 0

    def fail_next(self, count: int, *, status: int = 500, retry_after: float | None = None) -> None:
        self._failures.add(count, status, retry_after, None)

    @property
    def requests(self) -> list[WebhookRequest]:
        with self.lock:
            return list(self._requests)

    @property
    def effects(self) -> dict[str, Any]:
        """webhook-id -> parsed payload, one entry per id, in arrival order."""
        with self.lock:
            return dict(self._effects)

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        return app

    def _key(self) -> bytes:
        if self.secret.startswith("whsec_"):
            return base64.b64decode(self.secret[len("whsec_") :])
        return self.secret.encode()

    def _verify(self, msg_id: str, timestamp: str, body: bytes, header: str) -> str:
        try:
            sent_at = int(timestamp)
        except ValueError:
            return "stale timestamp"
        if abs(time.time() - sent_at) > self.tolerance_s:
            return "stale timestamp"
        signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
        expected = base64.b64encode(hmac.new(self._key(), signed, hashlib.sha256).digest())
        for candidate in header.split(" "):
            version, _, signature = candidate.partition(",")
            if version == "v1" and hmac.compare_digest(signature.encode(), expected):
                return "ok"
        return "bad signature"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        msg_id = request.headers.get("webhook-id", "")
        verdict = self._verify(
            msg_id,
            request.headers.get("webhook-timestamp", ""),
            body,
            request.headers.get("webhook-signature", ""),
        )
        status, headers = 200, {}
        if verdict != "ok":
            status = 401
        elif (failure := self._failures.take()) is not None:
            status, retry_after = failure
            verdict = "failed on purpose"
            if retry_after is not None:
                headers["Retry-After"] = str(retry_after)
            if 300 <= status < 400:
                # A redirect towards the metadata service: a sender must not follow it.
                headers["Location"] = "http://169.254.169.254/latest/meta-data/"
        with self.lock:
            if verdict == "ok":
                if msg_id in self._effects:
                    verdict = "duplicate"
                    self.duplicates += 1
                else:
                    self._effects[msg_id] = json.loads(body)
            self._requests.append(
                WebhookRequest(
                    request.path,
                    dict(request.headers),
                    body,
                    verdict,
                    status,
                    _peer(request),
                )
            )
        if status == 200 and self.delay_s:
            await asyncio.sleep(self.delay_s)
        return web.json_response({"verdict": verdict}, status=status, headers=headers)


def _peer(request: web.Request) -> tuple[str, int] | None:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return (str(peer[0]), int(peer[1])) if peer else None
