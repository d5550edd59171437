"""A loopback SMTP server (aiosmtpd Controller, its own thread) that keeps what it received.

``tls`` is "none", "starttls" (STARTTLS required before MAIL) or "implicit" (TLS from the
first byte); with a ``username`` the server checks AUTH LOGIN/PLAIN credentials and records
who logged in. ``fail_next(n)`` answers the next n DATA commands with a 451; addresses in
``reject_recipients`` get a 550. ``stop()`` then ``start()`` brings it back on the same port,
to play a mail server that is down for a while.
"""

from __future__ import annotations

import email
import email.policy
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from types import TracebackType
from typing import Any, Literal, Self, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.peers._http import FailurePlan, free_port
from tests.peers.tls import CertPair


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes
    authenticated_as: str | None
    tls: bool

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    def part(self, content_type: str) -> str | None:
        """The decoded body of the first part with this content type."""
        for piece in self.message.walk():
            if piece.get_content_type() == content_type and not piece.is_multipart():
                return str(piece.get_content())
        return None


class SMTPPeer:
    def __init__(
        self,
        *,
        port: int = 0,
        tls: Literal["none", "starttls", "implicit"] = "none",
        cert: CertPair | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        if tls != "none" and cert is None:
            raise ValueError("a TLS peer needs a certificate")
        self.port = port
        self.tls = tls
        self.cert = cert
        self.username = username
        self.password = password
        self.reject_recipients: set[str] = set()
        self._failures = FailurePlan()
        self._controller: Controller | None = None
        self._received: list[ReceivedMail] = []
        self._lock = threading.Lock()

    host = "127.0.0.1"

    def fail_next(self, count: int, *, code: int = 451) -> None:
        self._failures.add(count, code, None, None)

    @property
    def messages(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self._received)

    @property
    def message_ids(self) -> set[str]:
        """Distinct Message-IDs: what a deduplicating mail reader would show once each."""
        return {m.message_id for m in self.messages}

    def start(self) -> None:
        if self._controller is not None:
            raise RuntimeError("SMTP peer already running")
        self.port = self.port or free_port()
        kwargs: dict[str, Any] = {}
        if self.tls == "starttls":
            assert self.cert is not None
            kwargs |= {"tls_context": self.cert.server_context(), "require_starttls": True}
        if self.tls == "implicit":
            assert self.cert is not None
            kwargs["ssl_context"] = self.cert.server_context()
        if self.username is not None:
            # aiosmtpd only sees STARTTLS as TLS, so with implicit TLS AUTH is offered, not
            # enforced; the recorded login shows whether the client used it.
            enforce = self.tls == "starttls"
            kwargs |= {
                "authenticator": self._authenticate,
                "auth_required": enforce,
                "auth_require_tls": enforce,
            }
        controller = Controller(
            self,
            hostname=self.host,
            port=self.port,
            server_hostname="smtp.peer.test",  # not socket.getfqdn(): no DNS lookups
            ready_timeout=5.0,
            **kwargs,
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login.decode() == self.username
            and data.password.decode() == self.password
        )
        # handled=False: aiosmtpd itself answers 235 or 535.
        return AuthResult(success=ok, handled=False, auth_data=data.login.decode() if ok else None)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.reject_recipients:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        failure = self._failures.take()
        if failure is not None:
            return f"{failure[0]} 4.3.0 Try again later"
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        received = ReceivedMail(
            mail_from=str(envelope.mail_from),
            rcpt_tos=list(envelope.rcpt_tos),
            message=message,
            raw=raw,
            authenticated_as=cast(str | None, session.auth_data),
            tls=session.ssl is not None or self.tls == "implicit",
        )
        with self._lock:
            self._received.append(received)
        return "250 2.0.0 Message accepted"
