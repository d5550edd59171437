"""`opscopilot chat` as a person runs it: a process, streamed text, approvals as a prompt."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from sqlalchemy import select

import opscopilot
from opscopilot.access.service import get_or_create_user
from opscopilot.store.engine import Database
from opscopilot.store.models import Notification
from tests.agent_support.factories import add_item


async def _chat(migrated: str, cwd: Path, *args: str, stdin: str = "") -> tuple[int, str]:
    env = {
        **os.environ,
        # This tree's code, whatever another checkout's editable install points at.
        "PYTHONPATH": str(Path(opscopilot.__file__).resolve().parents[1]),
        "OPSCOPILOT_DB__URL": migrated,
        "OPSCOPILOT_DB__AUTO_UPGRADE": "false",
        "OPSCOPILOT_LOG_JSON": "false",
        "OPSCOPILOT_ENVIRONMENT": "test",
        "COLUMNS": "120",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "opscopilot.cli.main", "chat", *args,
        cwd=cwd, env=env, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(stdin.encode()), 120)
    return proc.returncode or 0, out.decode()


async def test_one_question_streams_its_answer(
    migrated: str, clean_db: Database, tmp_path: Path
) -> None:
    await add_item(clean_db, "GSK-040", name="Gasket 40mm", on_hand=380, allocated=60)
    code, out = await _chat(
        migrated, tmp_path, "-m", "What's the stock of GSK-040?", "--user", "cli-tester"
    )
    assert code == 0, out
    assert "→ get_inventory(sku='GSK-040')" in out
    assert "380 EA on hand" in out and "offline model" in out


async def test_a_write_asks_in_the_terminal_and_runs_once_approved(
    migrated: str, clean_db: Database, tmp_path: Path
) -> None:
    async with clean_db.transaction() as s:
        target = await get_or_create_user(s, external_id="user123", role="operator")
        target.email = "user123@plant.example"
    code, out = await _chat(
        migrated, tmp_path, "--user", "cli-tester",
        stdin="notify user123 that line 2 is down\ny\n",
    )  # fmt: skip
    assert code == 0, out
    assert "approval needed: send_notification" in out
    assert "approved by cli-tester" in out and "queued" in out
    async with clean_db.session() as s:
        sent = (await s.scalars(select(Notification))).all()
    assert [n.message for n in sent] == ["line 2 is down"]
