"""The re-embed job is registered with every jobs app, on its queue and on a schedule."""

from __future__ import annotations

from opscopilot.jobs.app import build_app
from opscopilot.jobs.search import REEMBED_CRON, REEMBED_TASK
from tests.conftest import make_settings


def test_reembed_task_is_registered_and_scheduled() -> None:
    url = "postgresql:///unused?host=/nonexistent"  # nothing connects until the app opens
    app = build_app(url, make_settings(url))
    task = app.tasks[REEMBED_TASK]
    assert (task.queue, task.queueing_lock) == ("search", REEMBED_TASK)
    schedules = {
        p.periodic_id: p.cron
        for p in app.periodic_registry.periodic_tasks.values()
        if p.task.name == REEMBED_TASK
    }
    assert schedules == {"search-reembed": REEMBED_CRON}
