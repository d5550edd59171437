"""Summaries and briefings are written by the agent, as the site's service user, from its
read-only tools' results: the offline model words them with the templates; a real model's
text (the OpenAI stand-in through litellm) is posted only when its facts are the tools'."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from opscopilot.access.approvals import pending_approvals
from opscopilot.access.roles import Principal
from opscopilot.agent.scheduled import ScheduledWriter
from opscopilot.agent.scheduled_tasks import ScheduledTask, template_text, unsupported
from opscopilot.core.settings import Settings
from opscopilot.forecasting.service import list_active_alerts
from opscopilot.jobs.schedules import post_summaries, service_principal, slack_poster
from opscopilot.store.engine import Database
from opscopilot.store.models import (
    Approval,
    AuditEvent,
    ChatThread,
    ForecastAlert,
    ManufacturingItem,
    ScheduledPost,
)
from opscopilot.tools.registry import build_registry
from tests.conftest import make_settings
from tests.integration.schedules.conftest import CHANNELS, add_site, announce
from tests.peers.openai_standin import OpenAIStandIn, Reply
from tests.peers.slack import SlackStandIn

SITE = "north"
SINCE = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
WRITES = {s.name for s in build_registry().specs.values() if s.tier != "read"}


@pytest.fixture(scope="module")
async def standin() -> AsyncIterator[OpenAIStandIn]:
    async with OpenAIStandIn() as peer:
        yield peer


def llm_settings(
    url: str, slack: SlackStandIn, standin: OpenAIStandIn, model: str, max_steps: int = 4
) -> Settings:
    return make_settings(
        url,
        slack={"bot_token": slack.token, "base_url": slack.base_url},
        schedule={"summary_channels": CHANNELS},
        llm={"model": f"openai/{model}", "api_base": standin.base_url,
             "api_key": "sk-test-not-a-secret", "call_deadline_s": 15.0,
             "idle_chunk_timeout_s": 5.0, "num_retries": 0, "max_steps": max_steps},
    )  # fmt: skip


async def plant(db: Database) -> Principal:
    """A site with an open stockout risk, a pending approval and the alert's announcement."""
    await add_site(db, SITE)
    item_id = uuid.uuid4()
    async with db.sessions() as session:
        session.add(ManufacturingItem(id=item_id, sku="BOLT-7", name="Bolt"))
        await session.flush()
        alert = ForecastAlert(site=SITE, item_id=item_id, sku="BOLT-7",
                              alert_type="stockout_risk", severity="critical",
                              message="BOLT-7 runs out in 5 days",
                              details={"stockout_date": "2026-12-05"}, status="active")  # fmt: skip
        session.add(alert)
        session.add(Approval(thread_id="t1", site=SITE, tool_name="send_notification",
                             description="Email the buyer about BOLT-7",
                             idempotency_key=str(uuid.uuid4())))  # fmt: skip
        await session.flush()
        alert_id = str(alert.id)
        principal = await service_principal(session, site=SITE)
        await session.commit()
    await announce(db, site=SITE, sku="BOLT-7", severity="critical", alert_id=alert_id)
    return principal


def summary_task() -> ScheduledTask:
    return ScheduledTask.summary(site=SITE, since=SINCE, run_ids=[])


async def test_the_offline_summary_is_the_tool_results_in_the_template(
    clean_db: Database, sched_settings: Settings, writer: ScheduledWriter
) -> None:
    principal = await plant(clean_db)
    task = summary_task()
    written = await writer.write(task, principal=principal)
    assert written.source == "model" and written.reason is None
    changes = written.results["alert_changes"]["changes"]
    assert [(c["sku"], c["severity"]) for c in changes] == [("BOLT-7", "critical")]
    assert written.text == template_text(task, written.results)
    assert "[critical] BOLT-7 stockout risk: BOLT-7 runs out in 5 days" in written.text
    assert unsupported(written.text, task, written.results) == []
    # A recorded run of the service user: its thread, and each tool call audited.
    async with clean_db.sessions() as session:
        thread = await session.scalar(select(ChatThread).where(ChatThread.surface == "schedule"))
        calls = (
            await session.scalars(select(AuditEvent.subject).where(
                AuditEvent.event_type == "tool.call", AuditEvent.actor == principal.external_id))
        ).all()  # fmt: skip
    assert thread is not None and thread.user_id == principal.user_id
    assert list(calls) == ["alert_changes"]


async def test_the_offline_briefing_states_what_the_services_return(
    clean_db: Database, sched_settings: Settings, writer: ScheduledWriter
) -> None:
    principal = await plant(clean_db)
    task = ScheduledTask.briefing(site=SITE, shift="early", local_start="2026-12-01 06:00 UTC")
    written = await writer.write(task, principal=principal)
    async with clean_db.sessions() as session:
        alerts = await list_active_alerts(session, principal=principal, site=SITE, limit=50)
        approvals = await pending_approvals(session, principal=principal, site=SITE)
    assert [a["id"] for a in written.results["active_alerts"]["alerts"]] == [
        str(a.id) for a in alerts
    ]
    assert written.results["open_approvals"]["approvals"] == approvals
    assert written.text == template_text(task, written.results)
    assert "BOLT-7: out by 2026-12-05" in written.text
    assert "Open approvals: 1: Email the buyer about BOLT-7." in written.text
    assert unsupported(written.text, task, written.results) == []
    assert {spec.tier for spec in writer.registry.specs.values()} == {"read"}
    assert not writer.registry.names & (WRITES | {"run_forecast", "run_model"})


async def _summarise(db: Database, settings: Settings, channel: str) -> str:
    """Post the period's summary to `channel` (its previous summary was at SINCE)."""
    async with db.sessions() as session:
        session.add(ScheduledPost(kind="summary", site=SITE, channel=channel, period_key="p0",
                                  status="posted", message_ts="1.0", updated_at=SINCE))  # fmt: skip
        await session.commit()
    async with ScheduledWriter(settings, db) as writer:
        posted = await post_summaries(
            db.sessions, site=SITE, channels=[channel], period_key="p1", run_ids=[],
            poster=slack_poster(settings), writer=writer,
        )  # fmt: skip
    assert posted == 1
    async with db.sessions() as session:
        row = await session.scalar(select(ScheduledPost).where(ScheduledPost.period_key == "p1"))
    assert row is not None and row.content and row.message_ts
    return row.content


def _calls_alert_changes() -> Reply:
    return Reply(tool_calls=(("alert_changes", {"since": SINCE.isoformat()}),))


async def test_a_models_summary_built_on_the_tools_is_posted_as_written(
    migrated: str, clean_db: Database, slack: SlackStandIn, standin: OpenAIStandIn
) -> None:
    await plant(clean_db)
    mine = "North digest: 1 alert is new or worse. [critical] BOLT-7, BOLT-7 runs out in 5 days."
    standin.script("sched-good", _calls_alert_changes(), Reply(text=mine))
    settings = llm_settings(migrated, slack, standin, "sched-good")
    assert await _summarise(clean_db, settings, CHANNELS[0]) == mine
    assert "BOLT-7" in json.dumps(slack.messages[-1].blocks)
    # The model was offered read-only tools, and no write (nor a draft) among them.
    offered = {t["function"]["name"] for t in standin.requests_for("sched-good")[0]["tools"]}
    assert {"alert_changes", "active_alerts", "open_approvals", "ingestion_health"} <= offered
    assert not offered & (WRITES | {"run_forecast", "run_model"})
    follow_up = standin.requests_for("sched-good")[-1]["messages"]
    assert any(m["role"] == "tool" and "BOLT-7" in m["content"] for m in follow_up)


async def test_an_invented_sku_or_number_posts_the_template_text_instead(
    migrated: str,
    clean_db: Database,
    slack: SlackStandIn,
    standin: OpenAIStandIn,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await plant(clean_db)
    invented = "North digest: BOLT-7 and GSK-999 run out in 5 days; order 480 units now."
    standin.script("sched-bad", _calls_alert_changes(), Reply(text=invented))
    settings = llm_settings(migrated, slack, standin, "sched-bad")
    posted = await _summarise(clean_db, settings, CHANNELS[0])
    task = ScheduledTask.summary(site=SITE, since=SINCE, run_ids=[])
    results: dict[str, Any] = {"alert_changes": _tool_data(standin, "sched-bad")}
    assert posted == template_text(task, results)
    assert "GSK-999" not in posted and "480" not in posted
    assert "[critical] BOLT-7 stockout risk: BOLT-7 runs out in 5 days" in posted
    # The log says why the model's text was not posted.
    assert any("GSK-999" in r.getMessage() and "480" in r.getMessage() for r in caplog.records)


async def test_a_failing_model_posts_the_template_from_the_offline_models_calls(
    migrated: str, clean_db: Database, slack: SlackStandIn, standin: OpenAIStandIn
) -> None:
    principal = await plant(clean_db)
    standin.script("sched-down", Reply(status=500))
    settings = llm_settings(migrated, slack, standin, "sched-down")
    async with ScheduledWriter(settings, clean_db) as writer:
        written = await writer.write(summary_task(), principal=principal)
    assert written.source == "template" and "model failed" in (written.reason or "")
    assert written.text == template_text(summary_task(), written.results)
    assert "BOLT-7" in written.text


async def test_a_turn_out_of_steps_posts_the_template_not_the_budget_notice(
    migrated: str, clean_db: Database, slack: SlackStandIn, standin: OpenAIStandIn
) -> None:
    principal = await plant(clean_db)
    # One model step: it calls the tool, then the runner's notice ends the turn.
    standin.script("sched-steps", _calls_alert_changes())
    settings = llm_settings(migrated, slack, standin, "sched-steps", max_steps=1)
    async with ScheduledWriter(settings, clean_db) as writer:
        written = await writer.write(summary_task(), principal=principal)
    assert written.source == "template" and "steps" in (written.reason or "")
    assert written.text == template_text(summary_task(), written.results)
    assert len(standin.requests_for("sched-steps")) == 1


def _tool_data(standin: OpenAIStandIn, model: str) -> dict[str, Any]:
    """The alert_changes result the model was sent (what the template words too)."""
    messages = standin.requests_for(model)[-1]["messages"]
    content = next(m["content"] for m in messages if m["role"] == "tool")
    body = content[content.index(">") + 1 : content.rindex("</tool-data>")]
    data: dict[str, Any] = json.loads(body)
    return data
