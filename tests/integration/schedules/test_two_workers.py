"""Two `opscopilot worker` processes across schedule boundaries (a cron ticking every few
seconds): each tick's scheduled run happens once, so each channel gets one summary per tick."""

from __future__ import annotations

import json
import time
from pathlib import Path

from sqlalchemy import select, text

from opscopilot.store.engine import Database
from opscopilot.store.models import ScheduledPost
from tests.e2e.procs import base_env, opscopilot, stop
from tests.integration.schedules.conftest import CHANNELS, add_site
from tests.peers.slack import SlackStandIn

TICKS_WANTED = 2


async def test_two_workers_run_each_tick_once(
    migrated: str, clean_db: Database, slack: SlackStandIn, tmp_path: Path
) -> None:
    await add_site(clean_db)
    env = base_env(
        OPSCOPILOT_DB__URL=migrated,
        OPSCOPILOT_SLACK__BOT_TOKEN=slack.token,
        OPSCOPILOT_SLACK__BASE_URL=slack.base_url,
        OPSCOPILOT_SCHEDULE__SUMMARY_CRON="* * * * * */3",
        OPSCOPILOT_SCHEDULE__SUMMARY_CHANNELS=json.dumps(CHANNELS),
    )
    workers = [opscopilot("worker", env=env, log=tmp_path / f"w{i}.log") for i in range(2)]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if len(slack.messages) >= TICKS_WANTED * len(CHANNELS):
                break
            assert all(w.poll() is None for w in workers), "a worker exited"
            time.sleep(0.5)
    finally:
        for w in workers:
            stop(w)
    async with clean_db.sessions() as session:
        posts = (await session.scalars(select(ScheduledPost))).all()
        runs = (
            await session.execute(
                text("SELECT args->>'timestamp' AS tick, count(*) AS n "
                     "FROM jobs.procrastinate_jobs WHERE task_name = 'schedule.run' "
                     "GROUP BY 1")
            )
        ).all()  # fmt: skip
    messages = slack.messages
    ticks = {p.period_key for p in posts if p.message_ts}
    assert len(ticks) >= TICKS_WANTED
    assert all(n == 1 for _, n in runs), runs
    # One message per posted row, and every posted row in every channel once.
    assert sorted(m.ts for m in messages) == sorted(p.message_ts for p in posts if p.message_ts)
    assert len(messages) >= TICKS_WANTED * len(CHANNELS)
