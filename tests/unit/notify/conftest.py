"""Loopback peers for the notification channel tests, one fresh peer per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest

from opscopilot.notify.channels.base import OutgoingMessage
from opscopilot.notify.filters import Severity
from tests.peers.slack import SlackStandIn
from tests.peers.sms import SMSStandIn
from tests.peers.smtp import SMTPPeer
from tests.peers.tls import CertPair, self_signed_cert
from tests.peers.webhook import EXAMPLE_SECRET, WebhookReceiver


@pytest.fixture(scope="session")
def cert(tmp_path_factory: pytest.TempPathFactory) -> CertPair:
    return self_signed_cert(Path(tmp_path_factory.mktemp("tls")))


@pytest.fixture
def smtp_peer() -> Iterator[SMTPPeer]:
    with SMTPPeer() as peer:
        yield peer


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(secret=EXAMPLE_SECRET) as receiver:
        yield receiver


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as peer:
        yield peer


@pytest.fixture
def sms() -> Iterator[SMSStandIn]:
    with SMSStandIn() as peer:
        yield peer


@pytest.fixture
def make_message() -> Callable[..., OutgoingMessage]:
    """An OutgoingMessage with sensible defaults; keyword arguments override fields."""

    def make(**overrides: Any) -> OutgoingMessage:
        fields: dict[str, Any] = {
            "notification_id": uuid4(),
            "recipient": "buyer@plant.example",
            "title": "Stockout risk: ITEM-001 runs out in 4 days",
            "text": "Projected stock for ITEM-001 falls below zero on 2024-01-19.",
            "severity": Severity.CRITICAL,
            "notification_type": "stockout_risk",
        }
        return OutgoingMessage(**(fields | overrides))

    return make
