"""A loopback Socket Mode endpoint beside the Slack Web API stand-in.

It answers ``apps.connections.open`` on the given ``SlackStandIn`` with its own websocket
URL, greets each connection with ``hello``, pushes envelopes on demand (``send_event``:
an Events API envelope with ``retry_attempt``, as Slack re-delivers) and records every
message the client sends back (the acks, ``{"envelope_id": …}``).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from aiohttp import WSMsgType, web

from tests.peers._http import ThreadedHTTPPeer
from tests.peers.slack import SlackStandIn


class SocketModeStandIn(ThreadedHTTPPeer):
    def __init__(self, slack: SlackStandIn, *, port: int = 0) -> None:
        super().__init__(port=port)
        self._sockets: list[web.WebSocketResponse] = []
        self._acks: list[dict[str, Any]] = []
        self.connections = 0
        slack.handle("apps.connections.open", lambda body: {"ok": True, "url": self.ws_url})

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/link"

    @property
    def acks(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self._acks)

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/link", self._link)
        return app

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        with self.lock:
            self._sockets.append(ws)
            self.connections += 1
        await ws.send_json({"type": "hello", "num_connections": 1, "debug_info": {}})
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                with self.lock:
                    self._acks.append(json.loads(message.data))
        with self.lock:
            self._sockets.remove(ws)
        return ws

    def wait_connected(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self._sockets:
                    return
            time.sleep(0.02)
        raise TimeoutError("no Socket Mode client connected")

    def send(self, envelope: dict[str, Any]) -> None:
        with self.lock:
            ws = self._sockets[-1]
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(ws.send_json(envelope), self._loop).result(timeout=5)

    def send_event(
        self, event_body: dict[str, Any], *, retry_attempt: int = 0, envelope_id: str | None = None
    ) -> str:
        """Deliver an Events API body; the same body again with retry_attempt > 0 is what
        Slack does when it did not see an ack in time."""
        envelope_id = envelope_id or str(uuid.uuid4())
        self.send(
            {
                "envelope_id": envelope_id,
                "type": "events_api",
                "accepts_response_payload": False,
                "retry_attempt": retry_attempt,
                "retry_reason": "timeout" if retry_attempt else "",
                "payload": event_body,
            }
        )
        return envelope_id

    def acked(self, envelope_id: str) -> bool:
        return any(a.get("envelope_id") == envelope_id for a in self.acks)
