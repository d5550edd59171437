"""`opscopilot forecast` as a person runs it: one item, or every item with a progress bar."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import opscopilot
from opscopilot.core.settings import Settings
from opscopilot.store.engine import Database
from opscopilot.store.models import Forecast
from tests.integration.forecasting.conftest import count, ingest, item, recent_weeks, sales


async def _forecast(migrated: str, cwd: Path, *args: str) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "OPSCOPILOT_DB__URL": migrated,
        "OPSCOPILOT_DB__AUTO_UPGRADE": "false",
        "OPSCOPILOT_LOG_JSON": "false",
        "OPSCOPILOT_ENVIRONMENT": "test",
        "COLUMNS": "120",
        # The package under test, whatever another checkout installed.
        "PYTHONPATH": str(Path(opscopilot.__file__).parents[1]),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "opscopilot.cli.main", "forecast", *args,
        cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 180)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_one_item_then_every_item(
    migrated: str, clean_db: Database, settings: Settings, tmp_path: Path
) -> None:
    for sku in ("CLI-1", "CLI-2", "CLI-3"):
        await item(clean_db, settings, sku)
        await ingest(clean_db, settings, sales=sales(sku, recent_weeks(30), [30.0] * 30))

    code, out, err = await _forecast(migrated, tmp_path, "CLI-1", "--period", "weekly")
    assert code == 0, err
    assert "CLI-1 · demand · weekly" in out and "80% interval" in out

    code, out, err = await _forecast(migrated, tmp_path, "CLI-1", "--period", "yearly")
    assert code == 2 and "valid periods: daily, weekly, monthly, quarterly" in err

    code, out, err = await _forecast(
        migrated, tmp_path, "--all", "--period", "weekly", "--partition-size", "2", "--json"
    )
    assert code == 0, err
    run = json.loads(out)
    assert (run["status"], run["partitions_total"], run["forecasts"]) == ("succeeded", 2, 3)
    assert await count(clean_db, Forecast) == 4
