"""The issue's end-to-end checks with the offline model and the real tools: a mention gets a
streamed, threaded answer from the right tool; a notification the agent proposes is sent
only after an operator presses Approve (and then delivered to Slack by notify's relay)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from slack_bolt.request.async_request import AsyncBoltRequest
from sqlalchemy import func, select

from opscopilot.core.settings import Settings
from opscopilot.notify.relay import Relay
from opscopilot.slackbot import blocks
from opscopilot.slackbot.bot import SlackBot
from opscopilot.slackbot.service import thread_id_for
from opscopilot.store.engine import Database
from opscopilot.store.models import (
    AuditEvent,
    InventorySnapshot,
    ManufacturingItem,
    Notification,
    User,
)
from tests.integration.slackbot.scripted import block_action, mention, new_channel
from tests.peers.slack import SlackStandIn

OSCAR = "U0OSCAR01"
BUYER = "U0BUYER01"


async def dispatch(bot: SlackBot, body: dict[str, Any]) -> None:
    response = await bot.app.async_dispatch(AsyncBoltRequest(mode="socket_mode", body=body))
    assert response.status == 200
    await bot.drain(60)


async def test_a_stock_question_is_answered_in_the_thread_from_the_inventory_tool(
    make_bot: Callable[..., SlackBot], slack: SlackStandIn, clean_db: Database
) -> None:
    async with clean_db.sessions() as session:
        item = ManufacturingItem(sku="ITEM-001", name="Gasket 40 mm")
        session.add(item)
        await session.flush()
        session.add(InventorySnapshot(item_id=item.id, on_hand=1234, as_of=datetime.now(UTC)))
        await session.commit()
    channel = new_channel()
    body = mention("how much ITEM-001 is in stock?", channel=channel)
    await dispatch(make_bot(), body)

    ts = str(body["event"]["ts"])
    [answer] = [m for m in slack.messages if m.thread_ts == ts]
    assert "1,234" in answer.text or "1234" in answer.text
    assert [c.body["thread_ts"] for c in slack.calls_to("chat.startStream")] == [ts]
    async with clean_db.sessions() as session:
        tools = (
            await session.scalars(
                select(AuditEvent.subject).where(
                    AuditEvent.event_type == "tool.call",
                    AuditEvent.thread_id == thread_id_for(channel, ts),
                )
            )
        ).all()
    assert "get_inventory" in tools


async def test_a_proposed_notification_is_sent_only_after_an_operator_approves(
    make_bot: Callable[..., SlackBot],
    slack: SlackStandIn,
    slack_settings: Settings,
    clean_db: Database,
) -> None:
    async with clean_db.sessions() as session:
        session.add(User(external_id="oscar", role="operator", slack_user_id=OSCAR))
        session.add(User(external_id="buyer1", role="viewer", slack_user_id=BUYER))
        await session.commit()
    bot = make_bot()
    relay = Relay(clean_db, slack_settings)
    try:
        body = mention(
            "notify user buyer1 on slack that ITEM-001 runs out on friday",
            channel=new_channel(),
            user=OSCAR,
        )
        await dispatch(bot, body)
        [proposal] = [
            m
            for m in slack.messages
            if m.blocks and str(m.blocks[-1].get("block_id", "")).startswith("approval:")
        ]
        assert "buyer1" in json.dumps(proposal.blocks)
        await relay.deliver_due()
        async with clean_db.sessions() as session:
            assert await session.scalar(select(func.count()).select_from(Notification)) == 0
        assert not slack.calls_to("conversations.open")

        approval_id = str(proposal.blocks[-1]["elements"][0]["value"])
        press = block_action(
            action_id=blocks.APPROVE,
            value=approval_id,
            user=OSCAR,
            channel=proposal.channel,
            message={"ts": proposal.ts, "thread_ts": proposal.thread_ts, "text": proposal.text},
            response_url=slack.response_url(OSCAR),
        )
        await dispatch(bot, press)
        await relay.deliver_due()
    finally:
        await relay.aclose()

    async with clean_db.sessions() as session:
        [sent] = (await session.scalars(select(Notification))).all()
    assert (sent.channel, sent.status) == ("slack", "sent")
    [opened] = slack.calls_to("conversations.open")
    assert opened.body["users"] == BUYER
    [dm] = [m for m in slack.messages if m.channel.startswith("D")]
    assert "runs out on friday" in json.dumps(dm.blocks)
