"""The benchmark's webhook receiver in its own process: the test suite's receiver (signature
check, one effect per webhook-id) plus arrival times and a stats route.

`python -m bench.notify.receiver PORT SECRET`; GET /_stats answers the counts, and with
`?arrivals=1` the arrival time (epoch seconds) of each webhook-id's first delivery.
"""

from __future__ import annotations

import signal
import sys
import threading
import time

from aiohttp import web

from tests.peers.webhook import WebhookReceiver


class TimedReceiver(WebhookReceiver):
    def __init__(self, *, secret: str, port: int) -> None:
        super().__init__(secret=secret, port=port)
        self.arrivals: dict[str, float] = {}

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/_stats", self._stats)
        app.router.add_post("/{tail:.*}", self._timed)
        return app

    async def _timed(self, request: web.Request) -> web.Response:
        response = await self._handle(request)
        msg_id = request.headers.get("webhook-id", "")
        with self.lock:
            self.arrivals.setdefault(msg_id, time.time())
        return response

    async def _stats(self, request: web.Request) -> web.Response:
        with self.lock:
            body: dict[str, object] = {
                "effects": len(self._effects),
                "duplicates": self.duplicates,
                "requests": len(self._requests),
                "rejected": sum(1 for r in self._requests if r.verdict == "bad signature"),
            }
            if request.query.get("arrivals"):
                body["arrivals"] = dict(self.arrivals)
        return web.json_response(body)


def main() -> None:
    port, secret = int(sys.argv[1]), sys.argv[2]
    receiver = TimedReceiver(secret=secret, port=port)
    receiver.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    print(f"receiver on {receiver.url}", flush=True)
    done.wait()
    receiver.stop()


if __name__ == "__main__":
    main()
