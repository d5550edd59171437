"""Crashes of the database under a running `opscopilot serve` (subprocesses, one embedded
server in a temp dir for the module):

- Postgres restarted under load: the API answers 503 (never 500, never hangs) while it is
  down and recovers by itself (pool pre-ping) within a few seconds.
- The app and Postgres SIGKILLed together mid-writes, then `serve` started again: every
  acknowledged batch, alert and notification is there, no batch is half applied, and one
  postmaster serves the directory.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker

from opscopilot.store.engine import Database, make_engine
from tests.conftest import make_settings
from tests.e2e.procs import base_env, free_port, opscopilot, stop, wait_healthy

ITEMS_PER_BATCH = 3


@dataclass
class Plant:
    data_dir: Path
    env: dict[str, str]
    log: Path
    url: str = ""
    headers: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def plant() -> Iterator[Plant]:
    root = Path(tempfile.mkdtemp(prefix="oc-crash-"))
    data_dir = root / "pgdata"
    env = base_env(
        OPSCOPILOT_DB__EMBEDDED_DIR=str(data_dir),
        OPSCOPILOT_JOBS__IN_PROCESS_WORKER="false",
        OPSCOPILOT_DB__POOL_TIMEOUT="2",
        OPSCOPILOT_DB__CONNECT_TIMEOUT="1",
        OPSCOPILOT_API__RATE_LIMIT_WRITE_PER_MIN="0",
    )
    yield Plant(data_dir=data_dir, env=env, log=root / "serve.log",
                url=f"postgresql://postgres@/postgres?host={data_dir}")  # fmt: skip
    for proc in _postmasters(data_dir):  # a failed test may leave one behind
        proc.kill()
    shutil.rmtree(root, ignore_errors=True)


def _postmasters(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "postgres" and "-D" in cmdline and str(data_dir) in cmdline:
            found.append(proc)
    return found


def _database(url: str) -> Database:
    settings = make_settings(url)
    engine = make_engine(url, settings, application_name="crash-test")
    return Database(url=url, engine=engine, sessions=async_sessionmaker(engine))


async def _admin_key(plant: Plant) -> None:
    if plant.headers:
        return
    from opscopilot.access.service import create_key

    db = _database(plant.url)
    async with db.sessions() as session:
        created = await create_key(session, user="crash-admin", role="admin")
        await session.commit()
    await db.dispose()
    plant.headers = {"Authorization": f"Bearer {created.key}"}


class Serve:
    def __init__(self, plant: Plant) -> None:
        self.plant, self.port = plant, free_port()
        self.proc = opscopilot("serve", "--port", str(self.port), env=plant.env, log=plant.log)

    async def healthy(self) -> None:
        await asyncio.to_thread(wait_healthy, self.port, self.proc, 90)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


# One `serve` for the module (its start is most of the cost): the restart test runs on it,
# then the SIGKILL test kills it and starts the next one itself.
@pytest.fixture(scope="module")
async def serve(plant: Plant) -> AsyncIterator[Serve]:
    server = Serve(plant)
    try:
        await server.healthy()
        await _admin_key(plant)
        yield server
    finally:
        stop(server.proc)


def _restart_postmaster(data_dir: Path) -> None:
    (postmaster,) = _postmasters(data_dir)
    pg_ctl = Path(postmaster.exe()).parent / "pg_ctl"
    user = postmaster.username()  # as root the wheel runs postgres as its own user
    subprocess.run(
        [str(pg_ctl), "-w", "-D", str(data_dir), "-m", "fast",
         "-l", str(data_dir / "log"), "restart"],
        user=user, check=True, timeout=60,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


async def test_api_recovers_by_itself_after_postgres_restarts_under_load(
    plant: Plant, serve: Serve
) -> None:
    statuses: list[int] = []
    bodies: list[dict[str, object]] = []
    stop_load = asyncio.Event()

    async def load(client: httpx.AsyncClient) -> None:
        while not stop_load.is_set():
            # A timeout here would be a hang: the pool and connect timeouts are 2 s and 1 s.
            r = await client.get("/api/v1/items", headers=plant.headers, timeout=20)
            statuses.append(r.status_code)
            if r.status_code != 200:
                bodies.append(r.json())
            await asyncio.sleep(0.02)

    async with httpx.AsyncClient(base_url=serve.base) as client:
        workers = [asyncio.create_task(load(client)) for _ in range(4)]
        deadline = time.monotonic() + 20
        while len(statuses) < 8 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        before = len(statuses)
        old = {p.pid for p in _postmasters(plant.data_dir)}
        await asyncio.to_thread(_restart_postmaster, plant.data_dir)
        assert {p.pid for p in _postmasters(plant.data_dir)} != old, "postgres did not restart"
        restarted_at = len(statuses)
        # Recovers by itself: within a few seconds every request succeeds again.
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            recent = statuses[-8:]
            if len(statuses) - restarted_at >= 8 and all(s == 200 for s in recent):
                break
        stop_load.set()
        await asyncio.gather(*workers)
    assert before > 0
    assert statuses[-8:] == [200] * 8, statuses[restarted_at:]
    # While it was down, the API shed requests in the error shape; never a 500.
    assert set(statuses) <= {200, 503}, sorted(set(statuses))
    assert all(b["error"]["code"] == "unavailable" for b in bodies), bodies[:3]  # type: ignore[index]
    assert len(_postmasters(plant.data_dir)) == 1


@dataclass
class Acked:
    batches: list[str] = field(default_factory=list)
    notifications: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)


async def _write_until_killed(serve: Serve, plant: Plant, acked: Acked) -> None:
    """Batches and notifications through the API, alerts straight into the store, one after
    another; each is recorded only once its commit was acknowledged."""
    db = _database(plant.url)
    n = 0
    try:
        async with httpx.AsyncClient(base_url=serve.base, headers=plant.headers) as client:
            while True:
                n += 1
                ref = f"crash-{n}"
                batch = {
                    "source_type": "erp",
                    "source_id": "crash-test",
                    "batch_reference": ref,
                    "data": {
                        "items": [
                            {"sku": f"{ref}-{i}", "name": f"Part {i}", "unit_cost": 1.5}
                            for i in range(ITEMS_PER_BATCH)
                        ]
                    },
                }
                r = await client.post("/api/v1/ingest", json=batch, timeout=20)
                if r.status_code in (200, 201):
                    assert r.json()["status"] == "success", r.text
                    acked.batches.append(ref)
                r = await client.post(
                    "/api/v1/send",
                    json={
                        "user_id": "user123",
                        "title": f"t{n}",
                        "message": "m",
                        "channel": "email",
                    },
                    timeout=20,
                )
                if r.status_code == 200:
                    acked.notifications += [x["id"] for x in r.json()["notifications"]]
                alert_id = str(uuid.uuid4())
                async with db.engine.begin() as conn:
                    await conn.execute(
                        text(
                            "INSERT INTO forecast_alerts (id, site, item_id, sku, alert_type, "
                            "severity, message, details, status, escalation_level) "
                            "SELECT :id, 'main', id, sku, 'stockout', 'high', 'm', '{}', "
                            "'active', 0 FROM manufacturing_items WHERE sku = :sku"
                        ),
                        {"id": alert_id, "sku": f"{acked.batches[-1]}-0"},
                    )
                acked.alerts.append(alert_id)
    except (httpx.HTTPError, OSError, Exception):
        return  # the kill: whatever was in flight is not acknowledged
    finally:
        await db.dispose()


async def test_app_and_postgres_sigkilled_together_lose_no_commit(
    plant: Plant, serve: Serve
) -> None:
    acked = Acked()
    writer = asyncio.create_task(_write_until_killed(serve, plant, acked))
    deadline = time.monotonic() + 20
    while len(acked.alerts) < 5 and time.monotonic() < deadline and not writer.done():
        await asyncio.sleep(0.1)
    assert len(acked.alerts) >= 5, plant.log.read_text()[-3000:]
    postmasters = _postmasters(plant.data_dir)
    assert len(postmasters) == 1
    # Together, mid-writes: the app's process group and the postmaster (its backends die
    # with it, as after a power cut of the box).
    os.killpg(serve.proc.pid, signal.SIGKILL)
    postmasters[0].kill()
    serve.proc.wait(10)
    await asyncio.wait_for(writer, 30)
    psutil.wait_procs(postmasters, timeout=10)
    assert (plant.data_dir / "postmaster.pid").exists()  # stale, as after a crash

    again = Serve(plant)
    try:
        await again.healthy()
        assert len(_postmasters(plant.data_dir)) == 1
        db = _database(plant.url)
        async with db.engine.connect() as conn:
            rows = (
                await conn.execute(
                    text("SELECT batch_reference, status, inserted FROM raw_data_batches")
                )
            ).all()
            skus = set((await conn.execute(text("SELECT sku FROM manufacturing_items"))).scalars())
            alerts = set(
                (await conn.execute(text("SELECT id::text FROM forecast_alerts"))).scalars()
            )
            notes = set((await conn.execute(text("SELECT id::text FROM notifications"))).scalars())
        await db.dispose()
        status = {ref: (st, inserted) for ref, st, inserted in rows}
        for ref in acked.batches:
            assert status[ref] == ("success", ITEMS_PER_BATCH), (ref, status.get(ref))
        for ref, (st, _) in status.items():
            mine = {f"{ref}-{i}" for i in range(ITEMS_PER_BATCH)}
            # All of a batch's rows or none of them, and "success" exactly when all.
            assert mine <= skus if st == "success" else not mine & skus, (ref, st)
        assert set(acked.alerts) <= alerts
        assert set(acked.notifications) <= notes
        assert acked.notifications, "no notification was acknowledged before the kill"
        # The restarted app writes again.
        async with httpx.AsyncClient(base_url=again.base, headers=plant.headers) as client:
            r = await client.get("/api/v1/batches", timeout=20)
            assert r.status_code == 200, r.text
    finally:
        stop(again.proc)
