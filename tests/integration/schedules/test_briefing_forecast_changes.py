"""A shift briefing lists the biggest forecast changes of the day before its shift start,
from the forecast_changes tool's results, and its figures pass the fact check."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from opscopilot.access.roles import Principal
from opscopilot.agent.scheduled import ScheduledWriter
from opscopilot.agent.scheduled_tasks import ScheduledTask, template_text, unsupported
from opscopilot.core.settings import Settings
from opscopilot.jobs.briefing import post_briefings
from opscopilot.jobs.schedules import service_principal, slack_poster
from opscopilot.store.engine import Database
from opscopilot.store.models import Forecast, ManufacturingItem, Site
from tests.integration.schedules.conftest import CHANNELS
from tests.peers.slack import SlackStandIn

SITE = "north"
NOW = datetime.now(UTC).replace(second=0, microsecond=0)


async def _plant(db: Database, *, shift_start: str = "00:00") -> Principal:
    """BOLT-7 up 30 % and VLV-1 down 20 % in the last hours; GSK-9 changed two days ago."""
    ids = {sku: uuid.uuid4() for sku in ("BOLT-7", "VLV-1", "GSK-9")}
    async with db.sessions() as session:
        session.add(Site(code=SITE, name="North", timezone="UTC",
                         shifts=[{"name": "early", "start": shift_start}]))  # fmt: skip
        session.add_all(ManufacturingItem(id=i, sku=s, name=s) for s, i in ids.items())
        await session.flush()

        def forecast(sku: str, hours: float, values: list[float]) -> Forecast:
            return Forecast(
                site=SITE, entity_id=ids[sku], sku=sku, forecast_type="demand",
                period="monthly", horizon=len(values), model="ets", history=[],
                points=[{"ds": f"2027-0{i + 1}-01", "yhat": v} for i, v in enumerate(values)],
                created_at=NOW - timedelta(hours=hours),
            )  # fmt: skip

        session.add_all([
            forecast("BOLT-7", 40, [100.25, 100.0]), forecast("BOLT-7", 2, [130.25, 130.0]),
            forecast("VLV-1", 40, [60, 40]), forecast("VLV-1", 3, [48, 32]),
            forecast("GSK-9", 60, [10, 10]), forecast("GSK-9", 50, [90, 90]),
        ])  # fmt: skip
        principal = await service_principal(session, site=SITE)
        await session.commit()
    return principal


async def test_the_offline_briefing_lists_the_biggest_forecast_changes(
    clean_db: Database, sched_settings: Settings, writer: ScheduledWriter
) -> None:
    principal = await _plant(clean_db)
    task = ScheduledTask.briefing(site=SITE, shift="early", local_start="x",
                                  since=NOW - timedelta(days=1))  # fmt: skip
    written = await writer.write(task, principal=principal)
    changes = written.results["forecast_changes"]["changes"]
    assert [(c["sku"], c["before"], c["after"], c["change_pct"]) for c in changes] == [
        ("BOLT-7", 200.25, 260.25, 30.0), ("VLV-1", 100.0, 80.0, -20.0)]  # fmt: skip
    assert written.text == template_text(task, written.results)
    stamp = (NOW - timedelta(hours=2)).strftime("%Y-%m-%d %H:%M")
    assert (f"- BOLT-7 demand (monthly): up 30 %, 200.2 -> 260.2 over the 2 periods both "
            f"cover (forecast of {stamp} UTC).") in written.text  # fmt: skip
    assert "- VLV-1 demand (monthly): down 20 %, 100 -> 80 " in written.text
    assert "GSK-9" not in written.text
    # Every figure printed (a fall as an unsigned percentage too) is in the tool results,
    # and a changed one is not.
    assert unsupported(written.text, task, written.results) == []
    assert unsupported(written.text.replace("down 20 %", "down 25 %"), task,
                       written.results) == ["25"]  # fmt: skip


async def test_the_posted_briefing_reports_the_changes_since_the_day_before_the_shift(
    clean_db: Database, sched_settings: Settings, slack: SlackStandIn, writer: ScheduledWriter
) -> None:
    started = NOW - timedelta(minutes=2)
    await _plant(clean_db, shift_start=started.strftime("%H:%M"))
    posted = await post_briefings(clean_db.sessions, now=NOW, channels=CHANNELS[:1],
                                  poster=slack_poster(sched_settings), writer=writer)  # fmt: skip
    assert posted == 1
    blocks = slack.messages[0].blocks or []
    body = " ".join(b["text"]["text"] for b in blocks if "text" in b)
    assert "Biggest forecast changes:" in body
    assert "BOLT-7 demand (monthly): up 30 %" in body and "VLV-1" in body
    assert "GSK-9" not in body  # its change is older than the day before the shift
