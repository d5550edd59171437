"""The briefing asks for the biggest forecast changes since its window's start, words them,
and the fact check accepts a fall quoted as an unsigned percentage but nothing else."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from opscopilot.agent.offline import Result, plan
from opscopilot.agent.scheduled_tasks import (
    ScheduledTask,
    answers,
    parse_task,
    required_calls,
    unsupported,
)

SINCE = datetime(2026, 3, 1, 5, 0, tzinfo=UTC)
TOOLS = frozenset({"active_alerts", "forecast_changes", "open_approvals", "ingestion_health"})
FACTS: dict[str, dict[str, Any]] = {
    "active_alerts": {"alerts": [], "count": 0},
    "forecast_changes": {"site": "north", "since": SINCE.isoformat(), "count": 1, "changes": [
        {"sku": "VLV-1", "forecast_type": "demand", "period": "weekly", "periods": 12,
         "before": 1234.56, "after": 987.65, "change_pct": -20.0,
         "created_at": "2026-03-02T01:30:00+00:00"}]},
    "open_approvals": {"approvals": [], "count": 0},
    "ingestion_health": {"status": "ok", "failed_batches": [], "stale_sources": []},
}  # fmt: skip


def briefing() -> ScheduledTask:
    return ScheduledTask.briefing(site="north", shift="early", local_start="x", since=SINCE)


def test_the_briefing_asks_for_the_changes_since_its_window_and_unfiltered() -> None:
    task = briefing()
    assert parse_task(task.prompt()) == task
    call = next(c for c in required_calls(task) if c.name == "forecast_changes")
    assert call.args == {"since": SINCE.isoformat(), "limit": 5}
    assert answers(call, "forecast_changes", {"since": "2026-03-01T05:00:00Z", "limit": 3})
    assert not answers(call, "forecast_changes", {"since": "2026-02-01T05:00:00Z"})
    assert not answers(call, "forecast_changes", {"since": SINCE.isoformat(),
                                                  "forecast_type": "demand"})  # fmt: skip


def test_the_offline_briefing_words_a_fall_that_the_check_accepts() -> None:
    task = briefing()
    first = plan(task.prompt(), [], TOOLS)
    assert ("forecast_changes", {"since": SINCE.isoformat(), "limit": 5}) in [
        (c["name"], c["args"]) for c in first.tool_calls
    ]
    results = [Result(name, data, None) for name, data in FACTS.items()]
    text = str(plan(task.prompt(), results, TOOLS).content)
    assert ("- VLV-1 demand (weekly): down 20 %, 1,234.6 -> 987.6 over the 12 periods both "
            "cover (forecast of 2026-03-02 01:30 UTC).") in text  # fmt: skip
    assert unsupported(text, task, FACTS) == []
    assert unsupported("VLV-1 fell 21 % to 988 units", task, FACTS) == ["21"]
