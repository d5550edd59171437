"""Loopback protocol peers shared by all tests: real servers on 127.0.0.1, free ports.

Each starts as a context manager (``with`` or ``async with``) and records what it received,
so tests assert on what a person would get. Import them from their modules:
``tests.peers.smtp.SMTPPeer``, ``tests.peers.webhook.WebhookReceiver``,
``tests.peers.slack.SlackStandIn``, ``tests.peers.sms.SMSStandIn``.
"""
