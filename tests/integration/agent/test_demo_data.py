"""The demo plant loads through the real services and gives the figures the eval relies on."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from opscopilot.agent.demo_data import load_demo_plant
from opscopilot.core.settings import Settings
from opscopilot.store.engine import Database
from opscopilot.tools import kpis


async def test_demo_plant_loads_and_has_the_planned_risks(
    agent_settings: Settings, clean_db: Database
) -> None:
    started = time.monotonic()
    summary = await load_demo_plant(clean_db, agent_settings)
    print("demo load", round(time.monotonic() - started, 2), summary)
    today = datetime.now(UTC).date()
    async with clean_db.session() as s:
        risk = await kpis.stockout_risk(s, site="main", today=today)
    print(risk)
    assert [(i["sku"], i["risk"]) for i in risk["items"]] == [
        ("GSK-040", "high"),
        ("PLT-300", "high"),
        ("PMP-100", "high"),
        ("MTR-075", "medium"),
        ("SEN-010", "medium"),
    ]
    again = await load_demo_plant(clean_db, agent_settings)
    assert again.documents == 0
