"""Scheduled tasks: the prompt carries its parameters, the offline model gathers the facts and
words them, and the check finds numbers, SKUs and dates that no tool result contains."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from opscopilot.agent.offline import Result, plan
from opscopilot.agent.scheduled_tasks import (
    Call,
    ScheduledTask,
    answers,
    parse_task,
    required_calls,
    template_text,
    unsupported,
)

SINCE = datetime(2026, 3, 1, 5, 0, tzinfo=UTC)
RUN = "0b6f4c2e-3d1a-4f7e-9c55-2a7d8e1f0a11"
CHANGES = {"site": "north", "since": SINCE.isoformat(), "count": 1, "changes": [
    {"alert_id": "a1", "site": "north", "sku": "BOLT-7", "alert_type": "stockout_risk",
     "severity": "critical", "message": "BOLT-7 runs out in 5.3 days",
     "raised_at": "2026-03-01T07:12:00+00:00"}]}  # fmt: skip
RUNS = {"count": 2, "items_done": 41, "items_total": 42, "runs": [{"id": RUN}]}
TOOLS = frozenset({"alert_changes", "forecast_run_status", "active_alerts", "open_approvals",
                   "ingestion_health", "get_inventory"})  # fmt: skip


def summary() -> ScheduledTask:
    return ScheduledTask.summary(site="north", since=SINCE, run_ids=[RUN])


def test_the_prompt_carries_the_task_and_a_chat_question_is_no_task() -> None:
    task = summary()
    assert parse_task(task.prompt()) == task
    briefing = ScheduledTask.briefing(site="north", shift="early", local_start="x")
    assert parse_task(briefing.prompt()) == briefing
    assert parse_task("What's the stock of ITEM-001?") is None
    assert parse_task("Scheduled task: anything\nTask parameters: {not json") is None


def test_only_a_call_for_the_whole_picture_answers_the_task() -> None:
    since, runs = required_calls(summary())[1], required_calls(summary())[0]
    assert answers(since, "alert_changes", {"since": "2026-03-01T05:00:00Z"})
    assert not answers(since, "alert_changes", {"since": "2026-02-01T05:00:00Z"})
    assert answers(runs, "forecast_run_status", {"run_ids": [RUN.upper()]})
    assert not answers(runs, "forecast_run_status", {"run_ids": []})
    alerts = Call("active_alerts", {"limit": 50})
    assert answers(alerts, "active_alerts", {"limit": 10})
    assert not answers(alerts, "active_alerts", {"severity": "critical"})


def test_the_offline_model_calls_the_tools_then_words_their_results() -> None:
    task = summary()
    first = plan(task.prompt(), [], TOOLS)
    assert [(c["name"], c["args"]) for c in first.tool_calls] == [
        ("forecast_run_status", {"run_ids": [RUN]}),
        ("alert_changes", {"since": SINCE.isoformat()}),
    ]
    results = [Result("forecast_run_status", RUNS, None), Result("alert_changes", CHANGES, None)]
    answer = plan(task.prompt(), results, TOOLS)
    assert not answer.tool_calls
    text = str(answer.content)
    facts = {"forecast_run_status": RUNS, "alert_changes": CHANGES}
    assert text == template_text(task, facts)
    assert "2 forecast runs, 41 of 42 items forecast" in text
    assert "[critical] BOLT-7 stockout risk: BOLT-7 runs out in 5.3 days" in text
    assert unsupported(text, task, facts) == []


def test_a_failed_tool_is_reported_not_worded() -> None:
    results = [Result("forecast_run_status", None, "Error: no forecast run"),
               Result("alert_changes", CHANGES, None)]  # fmt: skip
    answer = plan(summary().prompt(), results, TOOLS)
    assert "no forecast run" in str(answer.content)


def test_invented_skus_numbers_and_dates_are_found_and_rounding_is_not() -> None:
    facts: dict[str, Any] = {"forecast_run_status": RUNS, "alert_changes": CHANGES}
    honest = ("2 runs forecast 41 of 42 items. BOLT-7 (critical) runs out in about 5 days, "
              "announced 2026-03-01 07:12; 1 change since 2026-03-01 05:00 UTC.")  # fmt: skip
    assert unsupported(honest, summary(), facts) == []
    made_up = "GSK-040 runs out on 2026-04-02; order 1,200 units; BOLT-7 at 5.4 days."
    assert unsupported(made_up, summary(), facts) == ["GSK-040", "2026-04-02", "1,200", "5.4"]
