"""`opscopilot demo` as a user runs it: it loads the sample plant once (a second run adds
nothing), forecasts it, prints a working key, and serves a chat that answers a printed
question from the data."""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, pool, text

from opscopilot.agent.demo_data import ITEMS
from opscopilot.store.engine import Database
from opscopilot.store.urls import psycopg_sqlalchemy_url
from tests.conftest import truncate_all
from tests.e2e.procs import base_env, free_port, opscopilot, run_cli, stop, wait_healthy
from tests.integration.chat.sse import collect

KEY = re.compile(r"API key: (ocp_\S+)\n")
URL = re.compile(r"Web chat: (http://\S+)\n")
QUESTION = re.compile(r"^  - (.+\?)$", re.MULTILINE)
COUNTS = {
    "items": "SELECT count(*) FROM manufacturing_items",
    "sales": "SELECT count(*) FROM observations WHERE kind = 'demand'",
    "receipts": "SELECT count(*) FROM observations WHERE kind = 'supply'",
    "inventory": "SELECT count(*) FROM inventory_snapshots",
    "batches": "SELECT count(*) FROM raw_data_batches",
    "documents": "SELECT count(*) FROM documents",
    "forecasts": "SELECT count(*) FROM forecasts",
    "demand_forecast_skus": "SELECT count(DISTINCT sku) FROM forecasts "
    "WHERE forecast_type = 'demand' AND is_official",
    "users": "SELECT count(*) FROM users",
    "active_demo_keys": "SELECT count(*) FROM api_keys k JOIN users u ON u.id = k.user_id "
    "WHERE u.external_id = 'demo' AND k.revoked_at IS NULL AND k.role = 'operator'",
}


@dataclass(frozen=True)
class FirstRun:
    env: dict[str, str]
    output: str
    counts: dict[str, int]


def counts(url: str) -> dict[str, int]:
    engine = create_engine(psycopg_sqlalchemy_url(url), poolclass=pool.NullPool)
    with engine.connect() as conn:
        found = {name: int(conn.execute(text(sql)).scalar() or 0) for name, sql in COUNTS.items()}
    engine.dispose()
    return found


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="oc-e2e-demo-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
async def empty_db(db: Database) -> AsyncIterator[Database]:
    await truncate_all(db)
    yield db
    await truncate_all(db)  # no demo plant left behind for the tests that follow


@pytest.fixture(scope="module")
def first_run(empty_db: Database, migrated: str, workdir: Path) -> FirstRun:
    # The embedded dir is unused with a URL; the demo's ERP export folder sits next to it.
    env = base_env(
        OPSCOPILOT_DB__URL=migrated,
        OPSCOPILOT_DB__EMBEDDED_DIR=str(workdir / "pgdata"),
        OPSCOPILOT_API__RATE_LIMIT_CHAT_PER_MIN="0",
    )
    done = run_cli("demo", "--no-serve", env=env, timeout=180)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return FirstRun(env=env, output=done.stdout, counts=counts(migrated))


def test_the_demo_loads_the_plant_once_and_a_second_run_adds_nothing(
    first_run: FirstRun, migrated: str
) -> None:
    first = first_run.counts
    assert first["items"] == len(ITEMS)
    assert first["sales"] > 2000 and first["receipts"] > 200 and first["inventory"] >= len(ITEMS)
    assert first["documents"] >= 3
    assert first["demand_forecast_skus"] == len(ITEMS)  # every demo item has a forecast
    assert first["active_demo_keys"] == 1
    assert "loaded the demo plant" in first_run.output
    assert f"forecast {len(ITEMS) - 1} items" in first_run.output  # GSK-040 by the loader
    first_key = KEY.search(first_run.output)
    assert first_key and URL.search(first_run.output)
    assert len(QUESTION.findall(first_run.output)) == 3

    again = run_cli("demo", "--no-serve", env=first_run.env, timeout=120)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-3000:]
    assert "already loaded" in again.stdout
    assert "forecast " not in again.stdout.split("Web chat:")[0]
    second_key = KEY.search(again.stdout)
    assert second_key and second_key.group(1) != first_key.group(1)
    # Nothing loaded or forecast twice; the earlier demo key is replaced, not piled up.
    assert counts(migrated) == first


async def test_the_demo_serves_the_chat_and_answers_a_printed_question(
    first_run: FirstRun, workdir: Path
) -> None:
    port = free_port()
    log = workdir / "demo.log"
    proc = opscopilot("demo", "--port", str(port), env=first_run.env, log=log)
    try:
        deadline = time.monotonic() + 90
        while not (printed := URL.search(log.read_text() if log.exists() else "")):
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the demo never printed its URL"
            time.sleep(0.2)
        url = printed.group(1)
        assert url == f"http://127.0.0.1:{port}/"
        wait_healthy(port, proc, timeout=90)
        output = log.read_text()  # the key and the questions were printed before serving
        key = KEY.search(output).group(1)  # type: ignore[union-attr]
        question = QUESTION.findall(output)[0]
        assert "GSK-040" in question

        headers = {"Authorization": f"Bearer {key}"}
        async with (
            httpx.AsyncClient(timeout=60) as http,
            http.stream(
                "POST", f"{url}api/v1/chat", json={"message": question}, headers=headers
            ) as response,
        ):
            assert response.status_code == 200, await response.aread()
            events = await collect(response)
    finally:
        stop(proc)
    kinds = [e.event for e in events]
    assert kinds[-1] == "done" and "error" not in kinds, events
    answer = "".join(e.data["text"] for e in events if e.event == "token")
    # GSK-040: 380 on hand, 60 allocated, 320 available in the demo plant.
    assert "GSK-040" in answer and "380" in answer and "320" in answer, answer
