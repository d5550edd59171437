"""Email adapter against a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from opscopilot.notify.channels.base import (
    OutgoingMessage,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from opscopilot.notify.channels.email import EmailChannel
from tests.peers._http import free_port
from tests.peers.smtp import SMTPPeer
from tests.peers.tls import CertPair

MakeMessage = Callable[..., OutgoingMessage]
CHART = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def channel_for(peer: SMTPPeer, **options: Any) -> EmailChannel:
    return EmailChannel(
        host=peer.host,
        port=peer.port,
        sender="OpsCopilot <opscopilot@plant.example>",
        local_hostname="client.test",
        timeout=5.0,
        **options,
    )


async def test_delivers_plain_and_html_parts_with_chart(
    smtp_peer: SMTPPeer, make_message: MakeMessage
) -> None:
    message = make_message(html="<p>Stock for <b>ITEM-001</b> runs out.</p>", chart_png=CHART)

    result = await channel_for(smtp_peer).deliver(message)

    [mail] = smtp_peer.messages
    assert mail.rcpt_tos == ["buyer@plant.example"]
    assert mail.mail_from == "opscopilot@plant.example"
    assert mail.message["From"] == "OpsCopilot <opscopilot@plant.example>"
    assert mail.message["Subject"] == message.title
    assert mail.message["To"] == "buyer@plant.example"
    assert mail.part("text/plain") is not None
    assert "falls below zero on 2024-01-19" in (mail.part("text/plain") or "")
    assert "<b>ITEM-001</b>" in (mail.part("text/html") or "")
    [attachment] = [p for p in mail.message.iter_attachments()]
    assert attachment.get_content_type() == "image/png"
    assert attachment.get_content() == CHART
    expected_id = f"<notification-{message.notification_id}@plant.example>"
    assert mail.message_id == expected_id
    assert result.provider_message_id == expected_id
    assert mail.message["Auto-Submitted"] == "auto-generated"
    assert mail.message["X-OpsCopilot-Severity"] == "critical"


async def test_text_only_message_is_not_multipart(
    smtp_peer: SMTPPeer, make_message: MakeMessage
) -> None:
    await channel_for(smtp_peer).deliver(make_message())

    [mail] = smtp_peer.messages
    assert mail.message.get_content_type() == "text/plain"
    assert mail.part("text/html") is None


async def test_resend_carries_the_same_message_id(
    smtp_peer: SMTPPeer, make_message: MakeMessage
) -> None:
    message = make_message()
    channel = channel_for(smtp_peer)

    await channel.deliver(message)
    await channel.deliver(message)
    await channel.deliver(make_message())

    assert len(smtp_peer.messages) == 3
    assert len(smtp_peer.message_ids) == 2


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
async def test_tls_and_login(tls: str, cert: CertPair, make_message: MakeMessage) -> None:
    with SMTPPeer(tls=tls, cert=cert, username="relay", password="s3cret") as peer:  # type: ignore[arg-type]
        channel = channel_for(
            peer,
            username="relay",
            password="s3cret",
            start_tls=tls == "starttls",
            use_tls=tls == "implicit",
            cert_bundle=str(cert.cert_path),
        )
        await channel.deliver(make_message())

    [mail] = peer.messages
    assert mail.authenticated_as == "relay"
    assert mail.tls


async def test_wrong_password_is_permanent(cert: CertPair, make_message: MakeMessage) -> None:
    with SMTPPeer(tls="starttls", cert=cert, username="relay", password="s3cret") as peer:
        channel = channel_for(
            peer,
            username="relay",
            password="wrong",
            start_tls=True,
            cert_bundle=str(cert.cert_path),
        )
        with pytest.raises(PermanentDeliveryError, match="535"):
            await channel.deliver(make_message())
    assert peer.messages == []


async def test_untrusted_certificate_is_not_accepted(
    cert: CertPair, make_message: MakeMessage
) -> None:
    with SMTPPeer(tls="starttls", cert=cert) as peer:
        with pytest.raises(TransientDeliveryError):
            await channel_for(peer, start_tls=True).deliver(make_message())
    assert peer.messages == []


async def test_server_down_is_transient(make_message: MakeMessage) -> None:
    channel = EmailChannel(
        host="127.0.0.1", port=free_port(), sender="a@plant.example", local_hostname="client.test"
    )
    with pytest.raises(TransientDeliveryError, match="unreachable"):
        await channel.deliver(make_message())


async def test_server_back_after_outage_delivers(make_message: MakeMessage) -> None:
    peer = SMTPPeer(port=free_port())
    channel = channel_for(peer)
    message = make_message()

    with pytest.raises(TransientDeliveryError):
        await channel.deliver(message)
    with peer:
        await channel.deliver(message)

    assert [m.message_id for m in peer.messages] == [
        f"<notification-{message.notification_id}@plant.example>"
    ]


async def test_4xx_from_server_is_transient_then_delivers(
    smtp_peer: SMTPPeer, make_message: MakeMessage
) -> None:
    smtp_peer.fail_next(1, code=451)
    channel = channel_for(smtp_peer)
    message = make_message()

    with pytest.raises(TransientDeliveryError, match="451"):
        await channel.deliver(message)
    await channel.deliver(message)

    assert len(smtp_peer.messages) == 1


async def test_refused_recipient_is_permanent(
    smtp_peer: SMTPPeer, make_message: MakeMessage
) -> None:
    smtp_peer.reject_recipients.add("gone@plant.example")

    with pytest.raises(PermanentDeliveryError, match="550"):
        await channel_for(smtp_peer).deliver(make_message(recipient="gone@plant.example"))
    assert smtp_peer.messages == []


@pytest.mark.parametrize("address", ["not-an-address", "a@@plant.example", ""])
async def test_invalid_address_is_permanent_and_nothing_is_sent(
    address: str, smtp_peer: SMTPPeer, make_message: MakeMessage
) -> None:
    with pytest.raises(PermanentDeliveryError, match="invalid email"):
        await channel_for(smtp_peer).deliver(make_message(recipient=address))
    assert smtp_peer.messages == []
