"""Everything but the chat itself: /copilot, feedback buttons, the App Home, alert buttons."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from slack_bolt.request.async_request import AsyncBoltRequest
from sqlalchemy import select

from opscopilot.notify.channels.base import OutgoingMessage
from opscopilot.notify.channels.slack import SlackChannel
from opscopilot.notify.events import SuggestedAction, alert_actions
from opscopilot.notify.filters import Severity
from opscopilot.notify.render import actions_of
from opscopilot.slackbot import alerts, blocks, suggested
from opscopilot.slackbot.bot import SlackBot
from opscopilot.store.engine import Database
from opscopilot.store.models import (
    ActionRequest,
    AuditEvent,
    ChatFeedback,
    ForecastAlert,
    ManufacturingItem,
    NotificationPreference,
    Site,
    User,
)
from tests.integration.slackbot.conftest import PUBLIC_URL, SlackAPI
from tests.integration.slackbot.scripted import (
    as_form,
    as_interaction,
    as_json,
    event_body,
    mention,
    new_channel,
    pressed,
    slash_command,
)
from tests.peers.slack import SlackMessage, SlackStandIn

OSCAR = "U0OSCAR01"  # operator
VERA = "U0VERA001"  # no user row: a viewer


async def dispatch(bot: SlackBot, body: dict[str, Any]) -> None:
    response = await bot.app.async_dispatch(AsyncBoltRequest(mode="socket_mode", body=body))
    assert response.status == 200
    await bot.drain(60)


async def test_copilot_command_answers_only_the_asker(api: SlackAPI, slack: SlackStandIn) -> None:
    command = slash_command(
        "what can you do?", user=VERA, channel=new_channel(), response_url=slack.response_url()
    )
    response = await api.post(*as_form(command))
    assert response.status_code == 200
    assert "Thinking about" in response.json()["text"]
    await api.bot.drain(30)
    [answer] = slack.calls_to("response_url:default")
    assert answer.body["response_type"] == "ephemeral"
    assert "offline" in str(answer.body["text"]).lower()
    assert not slack.messages  # nothing public


async def test_empty_copilot_command_gets_help(api: SlackAPI, slack: SlackStandIn) -> None:
    command = slash_command("", user=VERA, channel=new_channel(), response_url=slack.response_url())
    response = await api.post(*as_form(command))
    assert "/copilot" in response.json()["text"]


async def test_thumbs_are_stored_with_the_thread_and_a_second_vote_replaces_the_first(
    api: SlackAPI, slack: SlackStandIn, clean_db: Database
) -> None:
    await api.post(*as_json(mention("what can you do?", channel=new_channel())))
    await api.bot.drain(30)
    [answer] = slack.messages
    value = json.loads(answer.blocks[0]["elements"][0]["value"])  # type: ignore[index]
    await api.post(*as_interaction(pressed(slack, answer, blocks.FEEDBACK_UP, user=VERA)))
    await api.bot.drain(30)
    await api.post(*as_interaction(pressed(slack, answer, blocks.FEEDBACK_DOWN, user=VERA)))
    await api.bot.drain(30)
    async with clean_db.sessions() as session:
        rows = (await session.scalars(select(ChatFeedback))).all()
    assert [(r.thread_id, str(r.run_id), r.user_ref, r.score) for r in rows] == [
        (value["thread_id"], value["run_id"], f"slack:{VERA}", -1)
    ]
    thanks = slack.calls_to(f"response_url:{VERA}")
    assert len(thanks) == 2 and all(t.body["response_type"] == "ephemeral" for t in thanks)


async def test_app_home_shows_role_alerts_and_preferences(
    make_bot: Callable[..., SlackBot], slack: SlackStandIn, clean_db: Database
) -> None:
    async with clean_db.sessions() as session:
        user = User(external_id="oscar", role="operator", slack_user_id=OSCAR, sites=["main"])
        session.add(user)
        item = ManufacturingItem(sku="ITEM-001", name="Gasket 40 mm")
        session.add(item)
        await session.flush()
        for site, sku in (("main", "ITEM-001"), ("plant2", "ITEM-002")):
            session.add(
                ForecastAlert(
                    site=site,
                    item_id=item.id,
                    sku=sku,
                    alert_type="stockout_risk",
                    severity="critical",
                    message=f"{sku} runs out in 4 days <!here>",
                )
            )
        session.add(
            NotificationPreference(
                user_id=user.id,
                channel="slack",
                enabled=True,
                min_severity="warning",
                quiet_start=time(22, 0),
                quiet_end=time(6, 0),
            )
        )
        await session.commit()
    bot = make_bot()
    await dispatch(bot, event_body({"type": "app_home_opened", "user": OSCAR, "tab": "home"}))
    [published] = slack.calls_to("views.publish")
    assert published.body["user_id"] == OSCAR
    text = json.dumps(published.body["view"])
    assert published.body["view"]["type"] == "home"
    assert "*operator* for main" in text
    assert "*ITEM-001* \\u00b7 stockout_risk \\u00b7 critical \\u00b7 site main" in text
    assert "ITEM-002" not in text  # another site's alert
    assert "&lt;!here&gt;" in text and "<!here>" not in text
    assert "*slack*: on, from warning, quiet 22:00\\u201306:00" in text


# -- alert buttons -------------------------------------------------------------------------


@pytest.fixture
async def alert(clean_db: Database, tmp_path: Path) -> ForecastAlert:
    async with clean_db.sessions() as session:
        item = ManufacturingItem(sku="ITEM-001", name="Gasket 40 mm")
        session.add(item)
        exports = {"erp_export": {"mode": "file", "dir": str(tmp_path / "erp")}}
        session.add(Site(code="main", name="Main", policy=exports))
        session.add(User(external_id="oscar", role="operator", slack_user_id=OSCAR))
        await session.flush()
        row = ForecastAlert(
            site="main",
            item_id=item.id,
            sku="ITEM-001",
            alert_type="stockout_risk",
            severity="critical",
            message="ITEM-001 runs out in 4 days <!channel>",
        )
        session.add(row)
        await session.commit()
    return row


async def post_alert(bot: SlackBot, slack: SlackStandIn, alert: ForecastAlert) -> SlackMessage:
    """The alert as notify posts it, with notify's buttons."""
    suggestion = SuggestedAction(
        kind="purchase_request", label="Draft a purchase request", details={"quantity": 500}
    )
    actions = actions_of({"actions": alert_actions(alert.id, suggestion)})
    channel = new_channel()
    await SlackChannel(client=bot.client).deliver(
        OutgoingMessage(
            notification_id=uuid.uuid4(),
            recipient=channel,
            title="Stockout risk: ITEM-001",
            text=alert.message,
            severity=Severity.CRITICAL,
            notification_type="stockout_risk",
            actions=actions,
        )
    )
    [message] = slack.messages
    return message


async def test_open_in_web_chat_links_to_the_alert(
    make_bot: Callable[..., SlackBot], slack: SlackStandIn, alert: ForecastAlert
) -> None:
    bot = make_bot()
    message = await post_alert(bot, slack, alert)
    await dispatch(bot, pressed(slack, message, alerts.OPEN_IN_CHAT, user=VERA))
    [told] = slack.calls_to(f"response_url:{VERA}")
    assert f"<{PUBLIC_URL}/?alert={alert.id}|" in told.body["text"]
    assert told.body["response_type"] == "ephemeral"


async def test_suggested_action_is_drafted_once_and_exported_after_approval(
    make_bot: Callable[..., SlackBot],
    slack: SlackStandIn,
    alert: ForecastAlert,
    clean_db: Database,
    tmp_path: Path,
) -> None:
    bot = make_bot()
    message = await post_alert(bot, slack, alert)
    await dispatch(bot, pressed(slack, message, alerts.SUGGESTED_ACTION, user=VERA))
    await dispatch(bot, pressed(slack, message, alerts.SUGGESTED_ACTION, user=VERA))
    drafts = [m for m in slack.messages if m.thread_ts == message.ts]
    assert len(drafts) == 2  # shown twice, drafted once
    assert "&lt;!channel&gt;" in json.dumps(drafts[0].blocks)
    async with clean_db.sessions() as session:
        [action] = (await session.scalars(select(ActionRequest))).all()
    assert (action.status, action.alert_id, action.payload["quantity"]) == (
        "draft",
        alert.id,
        500,
    )

    await dispatch(bot, pressed(slack, drafts[0], suggested.APPROVE, user=VERA))
    [refused] = slack.calls_to(f"response_url:{VERA}")
    assert "operator" in refused.body["text"]
    assert not (tmp_path / "erp").exists()

    await dispatch(bot, pressed(slack, drafts[0], suggested.APPROVE, user=OSCAR))
    assert [p.name for p in (tmp_path / "erp").iterdir()] == [f"action-{action.id}.json"]
    async with clean_db.sessions() as session:
        action = (await session.scalars(select(ActionRequest))).one()
    assert (action.status, action.decided_by) == ("exported", "oscar")
    updated = next(m for m in slack.messages if m.ts == drafts[0].ts)
    assert "approved by <@U0OSCAR01>, exported" in json.dumps(updated.blocks)
    assert not any(b["type"] == "actions" for b in updated.blocks or [])


async def test_acknowledge_updates_the_alert_and_the_message(
    make_bot: Callable[..., SlackBot],
    slack: SlackStandIn,
    alert: ForecastAlert,
    clean_db: Database,
) -> None:
    bot = make_bot()
    message = await post_alert(bot, slack, alert)
    await dispatch(bot, pressed(slack, message, alerts.ACKNOWLEDGE, user=OSCAR))
    async with clean_db.sessions() as session:
        row = await session.get(ForecastAlert, alert.id, populate_existing=True)
    assert row is not None and row.status == "acknowledged"
    updated = next(m for m in slack.messages if m.ts == message.ts)
    assert "Acknowledged by <@U0OSCAR01>" in json.dumps(updated.blocks)
    assert not any(b["type"] == "actions" for b in updated.blocks or [])
    assert updated.blocks and updated.blocks[0]["type"] == "header"  # the alert itself stays


async def test_snooze_for_a_day_hides_the_alert_and_keeps_the_buttons(
    make_bot: Callable[..., SlackBot],
    slack: SlackStandIn,
    alert: ForecastAlert,
    clean_db: Database,
) -> None:
    bot = make_bot()
    message = await post_alert(bot, slack, alert)
    before = datetime.now(UTC)
    await dispatch(bot, pressed(slack, message, alerts.SNOOZE_1D, user=OSCAR))
    async with clean_db.sessions() as session:
        row = await session.get(ForecastAlert, alert.id, populate_existing=True)
        audited = await session.scalar(
            select(AuditEvent).where(AuditEvent.event_type == "alert.snoozed")
        )
    assert row is not None and row.status == "snoozed" and row.snoozed_until is not None
    assert timedelta(hours=23) < row.snoozed_until - before < timedelta(hours=25)
    assert audited is not None and audited.actor == "oscar"
    updated = next(m for m in slack.messages if m.ts == message.ts)
    assert "Snoozed until" in json.dumps(updated.blocks)
    assert any(b["type"] == "actions" for b in updated.blocks or [])


async def test_a_viewer_cannot_acknowledge(
    make_bot: Callable[..., SlackBot],
    slack: SlackStandIn,
    alert: ForecastAlert,
    clean_db: Database,
) -> None:
    bot = make_bot()
    message = await post_alert(bot, slack, alert)
    await dispatch(bot, pressed(slack, message, alerts.ACKNOWLEDGE, user=VERA))
    [told] = slack.calls_to(f"response_url:{VERA}")
    assert "operator" in told.body["text"]
    async with clean_db.sessions() as session:
        row = await session.get(ForecastAlert, alert.id, populate_existing=True)
    assert row is not None and row.status == "active"
    assert next(m for m in slack.messages if m.ts == message.ts).edits == 0
