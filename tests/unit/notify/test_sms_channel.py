"""SMS adapter (httpx, Twilio-compatible API) against the loopback SMS stand-in."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from opscopilot.notify.channels.base import (
    OutgoingMessage,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from opscopilot.notify.channels.sms import MAX_BODY, SMSChannel
from tests.peers._http import free_port
from tests.peers.sms import SMSStandIn

MakeMessage = Callable[..., OutgoingMessage]


@pytest.fixture
async def sender(sms: SMSStandIn) -> AsyncIterator[SMSChannel]:
    channel = SMSChannel(
        account_sid=sms.account_sid,
        auth_token=sms.auth_token,
        from_number="+15005550006",
        base_url=sms.url,
        timeout=5,
    )
    yield channel
    await channel.aclose()


async def test_delivers_title_and_text(
    sms: SMSStandIn, sender: SMSChannel, make_message: MakeMessage
) -> None:
    message = make_message(recipient="+44 7700 900123")

    result = await sender.deliver(message)

    [received] = sms.messages
    assert received.to == "+447700900123"
    assert received.from_ == "+15005550006"
    assert received.body == f"{message.title}\n{message.text}"
    assert result.provider_message_id == received.sid


async def test_long_text_is_cut_to_the_provider_limit(
    sms: SMSStandIn, sender: SMSChannel, make_message: MakeMessage
) -> None:
    await sender.deliver(make_message(recipient="+15551234567", text="x" * 5000))

    [received] = sms.messages
    assert len(received.body) == MAX_BODY
    assert received.body.endswith("…")


async def test_429_carries_retry_after(
    sms: SMSStandIn, sender: SMSChannel, make_message: MakeMessage
) -> None:
    sms.fail_next(1, status=429, retry_after=5)

    with pytest.raises(TransientDeliveryError) as caught:
        await sender.deliver(make_message(recipient="+15551234567"))

    assert caught.value.retry_after == 5.0
    assert sms.messages == []


async def test_500_is_transient_then_delivers(
    sms: SMSStandIn, sender: SMSChannel, make_message: MakeMessage
) -> None:
    sms.fail_next(1, status=503)
    message = make_message(recipient="+15551234567")

    with pytest.raises(TransientDeliveryError, match="503") as caught:
        await sender.deliver(message)
    assert caught.value.retry_after is None
    await sender.deliver(message)

    assert len(sms.messages) == 1


async def test_bad_credentials_are_permanent(sms: SMSStandIn, make_message: MakeMessage) -> None:
    channel = SMSChannel(
        account_sid=sms.account_sid,
        auth_token="wrong",
        from_number="+15005550006",
        base_url=sms.url,
    )
    try:
        with pytest.raises(PermanentDeliveryError, match="20003"):
            await channel.deliver(make_message(recipient="+15551234567"))
    finally:
        await channel.aclose()


@pytest.mark.parametrize("number", ["12345", "+0123456789", "buyer@plant.example", ""])
async def test_invalid_number_is_permanent_and_not_sent(
    number: str, sms: SMSStandIn, sender: SMSChannel, make_message: MakeMessage
) -> None:
    with pytest.raises(PermanentDeliveryError, match="E.164"):
        await sender.deliver(make_message(recipient=number))
    assert sms.requests == 0


async def test_provider_down_is_transient(make_message: MakeMessage) -> None:
    channel = SMSChannel(
        account_sid="AC1",
        auth_token="t",
        from_number="+15005550006",
        base_url=f"http://127.0.0.1:{free_port()}",
    )
    try:
        with pytest.raises(TransientDeliveryError, match="unreachable"):
            await channel.deliver(make_message(recipient="+15551234567"))
    finally:
        await channel.aclose()


async def test_400_from_provider_is_permanent(
    sms: SMSStandIn, sender: SMSChannel, make_message: MakeMessage
) -> None:
    sms.fail_next(1, status=400)
    with pytest.raises(PermanentDeliveryError, match="400"):
        await sender.deliver(make_message(recipient="+15551234567"))
    assert sms.messages == []
