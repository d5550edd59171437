"""A loopback stand-in for Twilio's Messages API (the parts an SMS sender uses).

``POST /2010-04-01/Accounts/{sid}/Messages.json`` with basic auth ``sid:token`` and form
fields To, From, Body. Answers like Twilio: 201 with the message resource, 401 code 20003
for bad credentials, 400 code 21211 for a 'To' that is not E.164, 400 code 21602 without a
body. ``fail_next(n, status=…)`` answers the next n sends with that status (429 carries
Retry-After when given). ``messages`` holds what a phone would receive.
"""

from __future__ import annotations

import base64
import itertools
import re
from dataclasses import dataclass

from aiohttp import web

from tests.peers._http import FailurePlan, ThreadedHTTPPeer

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


@dataclass(frozen=True)
class SentSMS:
    sid: str
    to: str
    from_: str
    body: str


class SMSStandIn(ThreadedHTTPPeer):
    def __init__(
        self,
        *,
        account_sid: str = "AC" + "0" * 31 + "1",
        auth_token: str = "test-auth-token",
        port: int = 0,
    ) -> None:
        super().__init__(port=port)
        self.account_sid = account_sid
        self.auth_token = auth_token
        self._failures = FailurePlan()
        self._messages: list[SentSMS] = []
        self._ids = itertools.count(1)
        self.requests = 0

    def fail_next(self, count: int, *, status: int = 500, retry_after: float | None = None) -> None:
        self._failures.add(count, status, retry_after, None)

    @property
    def messages(self) -> list[SentSMS]:
        with self.lock:
            return list(self._messages)

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._create)
        return app

    async def _create(self, request: web.Request) -> web.Response:
        with self.lock:
            self.requests += 1
        form = await request.post()
        if not self._authorised(request):
            return _error(401, 20003, "Authenticate")
        failure = self._failures.take()
        if failure is not None:
            status, retry_after = failure
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            code = 20429 if status == 429 else 20500
            return _error(status, code, "Failure on purpose", headers=headers)
        to, from_, body = str(form.get("To", "")), str(form.get("From", "")), form.get("Body")
        if not _E164.match(to):
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not body:
            return _error(400, 21602, "Message body is required.")
        sid = f"SM{next(self._ids):032x}"
        with self.lock:
            self._messages.append(SentSMS(sid=sid, to=to, from_=from_, body=str(body)))
        resource = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": to,
            "from": from_,
            "body": str(body),
            "status": "queued",
            "num_segments": str(len(str(body)) // 153 + 1),
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }
        return web.json_response(resource, status=201)

    def _authorised(self, request: web.Request) -> bool:
        if request.match_info["sid"] != self.account_sid:
            return False
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return request.headers.get("Authorization", "") == f"Basic {expected}"


def _error(
    status: int, code: int, message: str, *, headers: dict[str, str] | None = None
) -> web.Response:
    payload = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return web.json_response(payload, status=status, headers=headers or {})
