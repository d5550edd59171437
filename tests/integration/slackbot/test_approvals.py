"""A write the agent proposes in a Slack thread: Approve / Reject buttons, operators only,
the approver audited, the message updated, the rest of the answer streamed after it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage
from slack_bolt.request.async_request import AsyncBoltRequest
from sqlalchemy import select

from opscopilot.agent.runtime import GraphAgentRunner
from opscopilot.slackbot import blocks
from opscopilot.slackbot.bot import SlackBot
from opscopilot.store.engine import Database
from opscopilot.store.models import (
    ActionRequest,
    Approval,
    AuditEvent,
    ManufacturingItem,
    Site,
    User,
)
from tests.integration.slackbot.scripted import (
    call,
    last_tool_result,
    mention,
    new_channel,
    pressed,
)
from tests.peers.slack import SlackMessage, SlackStandIn

ALICE = "U0ALICE01"  # operator, asks
OSCAR = "U0OSCAR01"  # operator, approves
VERA = "U0VERA001"  # no user row: a viewer


def draft_and_submit(messages: list[BaseMessage]) -> AIMessage:
    result = last_tool_result(messages)
    if result is None:
        return call(
            "draft_action_request",
            {
                "kind": "purchase_request",
                "sku": "ITEM-001",
                "quantity": 500,
                "reason": "4 days of cover left <!channel>",
            },
        )
    if result.name == "draft_action_request":
        return call("submit_action_request", {"action_id": result.artifact["id"]})
    return AIMessage(content=f"Result of the export: {result.content[:60]}")


@pytest.fixture
async def plant(clean_db: Database, tmp_path: Path) -> Path:
    """ITEM-001, site main exporting to files in a temp dir, two operators."""
    exports = tmp_path / "erp"
    async with clean_db.sessions() as session:
        session.add(ManufacturingItem(sku="ITEM-001", name="Gasket 40 mm"))
        session.add(
            Site(
                code="main",
                name="Main",
                policy={"erp_export": {"mode": "file", "dir": str(exports)}},
            )
        )
        session.add(User(external_id="alice", role="operator", slack_user_id=ALICE))
        session.add(User(external_id="oscar", role="operator", slack_user_id=OSCAR))
        await session.commit()
    return exports


async def dispatch(bot: SlackBot, body: dict[str, Any]) -> None:
    response = await bot.app.async_dispatch(AsyncBoltRequest(mode="socket_mode", body=body))
    assert response.status == 200
    await bot.drain(60)


async def propose(bot: SlackBot, slack: SlackStandIn, channel: str) -> tuple[str, SlackMessage]:
    body = mention("order more gaskets", channel=channel, user=ALICE)
    await dispatch(bot, body)
    ts = str(body["event"]["ts"])
    [message] = [
        m
        for m in slack.messages
        if m.blocks
        and m.blocks[-1].get("type") == "actions"
        and str(m.blocks[-1].get("block_id", "")).startswith("approval:")
    ]
    assert message.thread_ts == ts
    return ts, message


async def test_an_operator_approves_and_the_write_runs_once(
    make_bot: Callable[..., SlackBot],
    scripted: Callable[..., GraphAgentRunner],
    slack: SlackStandIn,
    clean_db: Database,
    plant: Path,
) -> None:
    async with scripted(draft_and_submit) as runner:
        bot = make_bot(runner)
        channel = new_channel()
        thread_ts, message = await propose(bot, slack, channel)

        async with clean_db.sessions() as session:
            [approval] = (await session.scalars(select(Approval))).all()
        assert (approval.slack_channel, approval.slack_ts) == (channel, message.ts)
        assert approval.status == "pending"
        assert "&lt;!channel&gt;" in json.dumps(message.blocks)
        assert "<!channel>" not in json.dumps(message.blocks)
        assert not list(plant.glob("action-*.json"))  # nothing exported before approval

        # Two operators press at once: the write still runs once.
        await asyncio.gather(
            dispatch(bot, pressed(slack, message, blocks.APPROVE, user=OSCAR)),
            dispatch(bot, pressed(slack, message, blocks.APPROVE, user=ALICE)),
        )

    assert len(list(plant.glob("action-*.json"))) == 1
    async with clean_db.sessions() as session:
        approval = (await session.scalars(select(Approval))).one()
        action = (await session.scalars(select(ActionRequest))).one()
        decided = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.event_type == "approval.approved")
            )
        ).all()
    assert approval.status == "executed"
    assert action.status == "exported"
    assert len(decided) == 1 and decided[0].actor in ("oscar", "alice")
    updated = next(m for m in slack.messages if m.ts == message.ts)
    assert "Approved" in json.dumps(updated.blocks)
    assert not any(b["type"] == "actions" for b in updated.blocks or [])
    answers = [
        m
        for m in slack.messages
        if m.thread_ts == thread_ts and m.blocks and m.blocks[-1].get("block_id") == "feedback"
    ]
    assert any("Result of the export" in m.text for m in answers)
    assert updated.edits == 1
    [loser] = [c for c in slack.calls if c.method.startswith("response_url:")]
    assert loser.body["response_type"] == "ephemeral"
    assert str(loser.body["text"]).startswith("Not done: ")


async def test_a_viewer_cannot_approve(
    make_bot: Callable[..., SlackBot],
    scripted: Callable[..., GraphAgentRunner],
    slack: SlackStandIn,
    clean_db: Database,
    plant: Path,
) -> None:
    async with scripted(draft_and_submit) as runner:
        bot = make_bot(runner)
        _, message = await propose(bot, slack, new_channel())
        await dispatch(bot, pressed(slack, message, blocks.APPROVE, user=VERA))

    [told] = slack.calls_to(f"response_url:{VERA}")
    assert "operator" in str(told.body["text"])
    assert told.body["response_type"] == "ephemeral"
    assert not list(plant.glob("action-*.json"))
    async with clean_db.sessions() as session:
        approval = (await session.scalars(select(Approval))).one()
        refused = (
            await session.scalars(
                select(AuditEvent).where(AuditEvent.event_type == "approval.refused")
            )
        ).all()
    assert approval.status == "pending"
    assert [r.actor for r in refused] == [f"slack:{VERA}"]
    assert next(m for m in slack.messages if m.ts == message.ts).edits == 0


async def test_reject_changes_nothing_and_says_so(
    make_bot: Callable[..., SlackBot],
    scripted: Callable[..., GraphAgentRunner],
    slack: SlackStandIn,
    clean_db: Database,
    plant: Path,
) -> None:
    async with scripted(draft_and_submit) as runner:
        bot = make_bot(runner)
        thread_ts, message = await propose(bot, slack, new_channel())
        await dispatch(bot, pressed(slack, message, blocks.REJECT, user=OSCAR))

    assert not list(plant.glob("action-*.json"))
    async with clean_db.sessions() as session:
        approval = (await session.scalars(select(Approval))).one()
    assert approval.status == "rejected" and approval.decided_by == "oscar"
    updated = next(m for m in slack.messages if m.ts == message.ts)
    assert "Rejected" in json.dumps(updated.blocks)
