"""Webhook adapter against a loopback receiver that verifies Standard Webhooks signatures."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from opscopilot.notify.channels.base import (
    Action,
    OutgoingMessage,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from opscopilot.notify.channels.webhook import WebhookChannel, generate_secret, sign
from tests.peers._http import free_port
from tests.peers.webhook import EXAMPLE_SECRET, WebhookReceiver

MakeMessage = Callable[..., OutgoingMessage]
LOOPBACK = ["127.0.0.1"]
Channel = Callable[..., WebhookChannel]


@pytest.fixture
async def channel() -> AsyncIterator[Channel]:
    """Builds senders (loopback allow-listed by default) and closes them after the test."""
    built: list[WebhookChannel] = []

    def build(**options: Any) -> WebhookChannel:
        settings: dict[str, Any] = {"secret": EXAMPLE_SECRET, "allowlist": LOOPBACK, "timeout": 5}
        settings |= options
        built.append(WebhookChannel(**settings))
        return built[-1]

    yield build
    for sender in built:
        await sender.aclose()


async def test_delivers_signed_json_the_receiver_accepts(
    webhook_receiver: WebhookReceiver, make_message: MakeMessage, channel: Channel
) -> None:
    message = make_message(
        recipient=f"{webhook_receiver.url}/hooks/opscopilot",
        actions=(Action(id="ack", label="Acknowledge", value="ack", style="primary"),),
    )

    result = await channel().deliver(message)

    [request] = webhook_receiver.requests
    assert request.verdict == "ok"
    assert request.path == "/hooks/opscopilot"
    assert request.headers["webhook-id"] == str(message.notification_id)
    assert request.headers["webhook-signature"].startswith("v1,")
    assert request.headers["Content-Type"] == "application/json"
    payload = webhook_receiver.effects[str(message.notification_id)]
    assert payload["type"] == "notification"
    assert payload["data"] == {
        "id": str(message.notification_id),
        "notification_type": "stockout_risk",
        "severity": "critical",
        "title": message.title,
        "text": message.text,
        "actions": [{"id": "ack", "label": "Acknowledge", "value": "ack", "style": "primary"}],
    }
    assert result.provider_message_id == str(message.notification_id)


async def test_deliveries_share_one_kept_alive_connection(
    webhook_receiver: WebhookReceiver, make_message: MakeMessage, channel: Channel
) -> None:
    """Each answer is read to its end, so the connection goes back to the pool: a new
    connection per delivery would cost a handshake and far more CPU per message."""
    sender = channel()
    for _ in range(3):
        await sender.deliver(make_message(recipient=f"{webhook_receiver.url}/hooks/a"))

    peers = {r.peer for r in webhook_receiver.requests}
    assert len(webhook_receiver.requests) == 3
    assert len(peers) == 1 and None not in peers


def test_signature_matches_the_standard_webhooks_example() -> None:
    # The worked example of the Standard Webhooks specification.
    body = b'{"test": 2432232314}'
    signature = sign(
        secret=EXAMPLE_SECRET,
        msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
        timestamp=1614265330,
        body=body,
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


async def test_retry_with_same_id_is_one_effect(
    webhook_receiver: WebhookReceiver, make_message: MakeMessage, channel: Channel
) -> None:
    message = make_message(recipient=webhook_receiver.url)
    sender = channel()

    await sender.deliver(message)
    await sender.deliver(message)

    assert len(webhook_receiver.requests) == 2
    assert list(webhook_receiver.effects) == [str(message.notification_id)]
    assert webhook_receiver.duplicates == 1


async def test_plain_text_secret_also_verifies(make_message: MakeMessage, channel: Channel) -> None:
    with WebhookReceiver(secret="a plain shared secret") as receiver:
        await channel(secret="a plain shared secret").deliver(make_message(recipient=receiver.url))
    assert [r.verdict for r in receiver.requests] == ["ok"]


async def test_wrong_secret_is_refused_by_receiver_and_permanent(
    webhook_receiver: WebhookReceiver, make_message: MakeMessage, channel: Channel
) -> None:
    with pytest.raises(PermanentDeliveryError, match="401"):
        await channel(secret=generate_secret()).deliver(
            make_message(recipient=webhook_receiver.url)
        )
    assert [r.verdict for r in webhook_receiver.requests] == ["bad signature"]
    assert webhook_receiver.effects == {}


async def test_500_is_transient_and_the_retry_lands_once(
    webhook_receiver: WebhookReceiver, make_message: MakeMessage, channel: Channel
) -> None:
    webhook_receiver.fail_next(2, status=500)
    message = make_message(recipient=webhook_receiver.url)
    sender = channel()

    for _ in range(2):
        with pytest.raises(TransientDeliveryError, match="500") as caught:
            await sender.deliver(message)
        assert caught.value.retry_after is None
    await sender.deliver(message)

    assert len(webhook_receiver.effects) == 1
    assert webhook_receiver.duplicates == 0


async def test_429_carries_retry_after(
    webhook_receiver: WebhookReceiver, make_message: MakeMessage, channel: Channel
) -> None:
    webhook_receiver.fail_next(1, status=429, retry_after=7)

    with pytest.raises(TransientDeliveryError) as caught:
        await channel().deliver(make_message(recipient=webhook_receiver.url))

    assert caught.value.retry_after == 7.0
    assert webhook_receiver.effects == {}


async def test_400_is_permanent(
    webhook_receiver: WebhookReceiver, make_message: MakeMessage, channel: Channel
) -> None:
    webhook_receiver.fail_next(1, status=400)
    with pytest.raises(PermanentDeliveryError, match="400"):
        await channel().deliver(make_message(recipient=webhook_receiver.url))


async def test_redirect_is_not_followed(
    webhook_receiver: WebhookReceiver, make_message: MakeMessage, channel: Channel
) -> None:
    webhook_receiver.fail_next(1, status=307)
    with pytest.raises(PermanentDeliveryError, match="redirect"):
        await channel().deliver(make_message(recipient=webhook_receiver.url))
    assert len(webhook_receiver.requests) == 1


async def test_slow_receiver_times_out_transient_and_retry_is_deduplicated(
    webhook_receiver: WebhookReceiver, make_message: MakeMessage, channel: Channel
) -> None:
    # The receiver applies the effect, then answers too late for the sender.
    webhook_receiver.delay_s = 1.0
    message = make_message(recipient=webhook_receiver.url)

    with pytest.raises(TransientDeliveryError, match="transport"):
        await channel(timeout=0.2).deliver(message)
    webhook_receiver.delay_s = 0.0
    await channel().deliver(message)

    assert len(webhook_receiver.effects) == 1
    assert webhook_receiver.duplicates == 1


async def test_receiver_down_is_transient(make_message: MakeMessage, channel: Channel) -> None:
    with pytest.raises(TransientDeliveryError, match="unreachable"):
        await channel().deliver(make_message(recipient=f"http://127.0.0.1:{free_port()}/hook"))


async def test_loopback_is_refused_at_send_without_allowlist(
    webhook_receiver: WebhookReceiver, make_message: MakeMessage, channel: Channel
) -> None:
    for url in (webhook_receiver.url, webhook_receiver.url.replace("127.0.0.1", "localhost")):
        with pytest.raises(PermanentDeliveryError, match="loopback"):
            await channel(allowlist=[]).deliver(make_message(recipient=url))
    assert webhook_receiver.requests == []


async def test_connects_to_the_checked_address_with_the_original_host(
    webhook_receiver: WebhookReceiver, make_message: MakeMessage, channel: Channel
) -> None:
    lookups: list[str] = []

    async def resolver(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    sender = channel(allowlist=["hooks.plant.example"], resolver=resolver)
    url = f"http://hooks.plant.example:{webhook_receiver.port}/in"
    await sender.deliver(make_message(recipient=url))

    [request] = webhook_receiver.requests
    assert request.headers["Host"] == f"hooks.plant.example:{webhook_receiver.port}"
    assert request.verdict == "ok"
    assert lookups == ["hooks.plant.example"]


async def test_unresolvable_host_is_transient(make_message: MakeMessage, channel: Channel) -> None:
    async def resolver(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    with pytest.raises(TransientDeliveryError, match="cannot resolve"):
        await channel(resolver=resolver).deliver(make_message(recipient="https://hooks.example/x"))


async def test_a_host_name_is_checked_again_at_every_send(
    webhook_receiver: WebhookReceiver, make_message: MakeMessage, channel: Channel
) -> None:
    """Only an IP-address URL's verdict is kept: a name that rebinds to a blocked
    address after a good send is refused at the next one."""
    answers = iter([["127.0.0.1"], ["169.254.169.254"]])

    async def resolver(host: str, port: int) -> list[str]:
        return next(answers)

    sender = channel(allowlist=["127.0.0.1"], resolver=resolver)
    url = f"http://hooks.plant.example:{webhook_receiver.port}/in"
    await sender.deliver(make_message(recipient=url))
    with pytest.raises(PermanentDeliveryError, match="169.254.169.254"):
        await sender.deliver(make_message(recipient=url))
    refusing = channel(allowlist=[])
    for _ in range(2):  # a refused address is refused every time, never remembered as good
        with pytest.raises(PermanentDeliveryError, match="loopback"):
            await refusing.deliver(make_message(recipient=webhook_receiver.url))
    await sender.deliver(make_message(recipient=webhook_receiver.url))
    await sender.deliver(make_message(recipient=webhook_receiver.url))
    assert [r.verdict for r in webhook_receiver.requests] == ["ok", "ok", "ok"]
