"""Email delivery over SMTP (aiosmtplib): a plain-text and an HTML part, chart attached.

The Message-ID is built from the notification id, so a message re-sent after a crash
carries the same Message-ID and mail systems and people can recognise the repeat.
TLS is explicit: ``use_tls`` for implicit TLS (port 465), ``start_tls`` for STARTTLS
(port 587); neither means plain SMTP (a relay on localhost).
"""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, parseaddr

import aiosmtplib
from email_validator import EmailNotValidError, validate_email

from opscopilot.notify.channels.base import (
    DeliveryResult,
    OutgoingMessage,
    PermanentDeliveryError,
    TransientDeliveryError,
)


class EmailChannel:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        use_tls: bool = False,
        start_tls: bool = False,
        timeout: float = 10.0,
        validate_certs: bool = True,
        cert_bundle: str | None = None,
        message_id_domain: str | None = None,
        local_hostname: str | None = None,
    ) -> None:
        if use_tls and start_tls:
            raise ValueError("use_tls (implicit TLS) and start_tls exclude each other")
        self._host = host
        self._port = port
        self._sender = sender
        self._username = username
        self._password = password
        self._use_tls = use_tls
        self._start_tls = start_tls
        self._timeout = timeout
        self._validate_certs = validate_certs
        self._cert_bundle = cert_bundle
        self._local_hostname = local_hostname  # EHLO name; None = this host's FQDN
        address = parseaddr(sender)[1]
        self._domain = message_id_domain or address.rpartition("@")[2] or "opscopilot.local"

    async def deliver(self, message: OutgoingMessage) -> DeliveryResult:
        try:
            recipient = validate_email(message.recipient, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise PermanentDeliveryError(f"invalid email address: {exc}") from exc
        mail = self.compose(message, recipient=recipient)
        try:
            await aiosmtplib.send(
                mail,
                sender=self._sender,
                recipients=[recipient],
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password,
                use_tls=self._use_tls,
                start_tls=self._start_tls,
                timeout=self._timeout,
                validate_certs=self._validate_certs,
                cert_bundle=self._cert_bundle,
                local_hostname=self._local_hostname,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            text = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
            if all(400 <= c < 500 for c in codes):
                raise TransientDeliveryError(f"smtp deferred recipient: {text}") from exc
            raise PermanentDeliveryError(f"smtp refused recipient: {text}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            if 400 <= exc.code < 500:
                raise TransientDeliveryError(f"smtp {exc.code}: {exc.message}") from exc
            raise PermanentDeliveryError(f"smtp {exc.code}: {exc.message}") from exc
        except aiosmtplib.SMTPNotSupported as exc:
            raise PermanentDeliveryError(f"smtp server lacks a required feature: {exc}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            # Refused or dropped connection, timeout, TLS handshake failure.
            raise TransientDeliveryError(f"smtp unreachable: {exc!r}") from exc
        return DeliveryResult(provider_message_id=str(mail["Message-ID"]))

    def compose(self, message: OutgoingMessage, *, recipient: str) -> EmailMessage:
        mail = EmailMessage(policy=SMTP)
        mail["Message-ID"] = f"<notification-{message.idempotency_key}@{self._domain}>"
        mail["Date"] = formatdate(usegmt=True)
        mail["From"] = self._sender
        mail["To"] = recipient
        mail["Subject"] = " ".join(message.title.split())
        # RFC 3834: tells auto-responders not to answer an alert.
        mail["Auto-Submitted"] = "auto-generated"
        mail["X-OpsCopilot-Severity"] = str(message.severity)
        mail["X-OpsCopilot-Notification-Type"] = message.notification_type
        mail.set_content(message.text)
        if message.html is not None:
            mail.add_alternative(message.html, subtype="html")
        if message.chart_png is not None:
            mail.add_attachment(
                message.chart_png, maintype="image", subtype="png", filename="chart.png"
            )
        return mail
