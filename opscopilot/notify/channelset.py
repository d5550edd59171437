"""The channel adapters built from the settings, once per relay, closed with it.

A channel whose settings are missing (no SMS account, no Slack token, no webhook secret)
fails its notifications permanently with a message naming the settings to set, instead of
retrying something that cannot work.
"""

from __future__ import annotations

from typing import Any

from opscopilot.core.settings import Settings
from opscopilot.notify.channels.base import Channel, PermanentDeliveryError
from opscopilot.notify.urlguard import Resolver


class ChannelSet:
    def __init__(self, settings: Settings, *, resolver: Resolver | None = None) -> None:
        self._settings = settings
        self._resolver = resolver
        self._built: dict[str, Channel] = {}

    def get(self, channel: str) -> Channel:
        if channel not in self._built:
            self._built[channel] = self._build(channel)
        return self._built[channel]

    def _build(self, channel: str) -> Channel:
        s = self._settings
        if channel == "email":
            from opscopilot.notify.channels.email import EmailChannel

            return EmailChannel(
                host=s.smtp.host,
                port=s.smtp.port,
                sender=s.smtp.sender,
                username=s.smtp.username,
                password=s.smtp.password.get_secret_value() if s.smtp.password else None,
                use_tls=s.smtp.use_tls,
                start_tls=s.smtp.start_tls,
                timeout=s.smtp.timeout_s,
            )
        if channel == "slack":
            from opscopilot.notify.channels.slack import SlackChannel

            if s.slack.bot_token is None:
                raise _unconfigured("slack", "OPSCOPILOT_SLACK__BOT_TOKEN")
            return SlackChannel(
                token=s.slack.bot_token.get_secret_value(), base_url=s.slack.base_url
            )
        if channel == "sms":
            from opscopilot.notify.channels.sms import SMSChannel

            if not (s.sms.account_sid and s.sms.auth_token and s.sms.from_number):
                raise _unconfigured(
                    "sms",
                    "OPSCOPILOT_SMS__ACCOUNT_SID, OPSCOPILOT_SMS__AUTH_TOKEN, "
                    "OPSCOPILOT_SMS__FROM_NUMBER",
                )
            return SMSChannel(
                account_sid=s.sms.account_sid,
                auth_token=s.sms.auth_token.get_secret_value(),
                from_number=s.sms.from_number,
                base_url=s.sms.base_url,
            )
        if channel == "webhook":
            from opscopilot.notify.channels.webhook import WebhookChannel

            if s.notify.webhook_secret is None:
                raise _unconfigured("webhook", "OPSCOPILOT_NOTIFY__WEBHOOK_SECRET")
            return WebhookChannel(
                secret=s.notify.webhook_secret.get_secret_value(),
                allowlist=s.notify.webhook_allowlist,
                resolver=self._resolver,
            )
        raise PermanentDeliveryError(f"unknown channel {channel!r}")

    async def aclose(self) -> None:
        for adapter in self._built.values():
            close: Any = getattr(adapter, "aclose", None)
            if close is not None:
                await close()
        self._built.clear()


def _unconfigured(channel: str, names: str) -> PermanentDeliveryError:
    return PermanentDeliveryError(f"the {channel} channel is not configured: set {names}")
