"""`opscopilot serve`, `worker` and `db` as a user runs them, on the embedded default."""

from __future__ import annotations

import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from sqlalchemy import create_engine, pool, text

from opscopilot.store.urls import psycopg_sqlalchemy_url
from tests.e2e.procs import base_env, free_port, opscopilot, run_cli, serving, stop, wait_healthy


@pytest.fixture
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="oc-e2e-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _postmasters(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] == "postgres" and str(data_dir) in " ".join(
            proc.info["cmdline"] or []
        ):
            if "-D" in (proc.info["cmdline"] or []):
                found.append(proc)
    return found


def test_serve_answers_health_over_http(migrated: str, workdir: Path) -> None:
    env = base_env(OPSCOPILOT_DB__URL=migrated)
    with serving(env, log=workdir / "serve.log") as (port, _):
        body = httpx.get(f"http://127.0.0.1:{port}/api/v1/health").json()
    assert body["database"]["revision"] == body["database"]["head"]
    assert body["database"]["pgvector"]


def _count(url: str, sql: str) -> int:
    engine = create_engine(psycopg_sqlalchemy_url(url), poolclass=pool.NullPool)
    with engine.connect() as conn:
        value = conn.execute(text(sql)).scalar()
    engine.dispose()
    return int(value or 0)


def test_processes_share_one_embedded_database_and_survive_sigkill(workdir: Path) -> None:
    data_dir = workdir / "pgdata"
    env = base_env(
        OPSCOPILOT_DB__EMBEDDED_DIR=str(data_dir),
        OPSCOPILOT_JOBS__IN_PROCESS_WORKER="false",
        OPSCOPILOT_JOBS__STALLED_AFTER_S="2",
        OPSCOPILOT_JOBS__HEARTBEAT_S="0.5",
        OPSCOPILOT_JOBS__RETRY_STALLED_CRON="* * * * * */2",
    )
    log = workdir / "procs.log"
    port_a, port_b = free_port(), free_port()
    api_a = opscopilot("serve", "--port", str(port_a), env=env, log=log)
    procs = [api_a]
    try:
        health = wait_healthy(port_a, api_a).json()
        assert health["embedded"] is True
        api_b = opscopilot("serve", "--port", str(port_b), env=env, log=log)
        procs.append(api_b)
        wait_healthy(port_b, api_b)
        assert len(_postmasters(data_dir)) == 1

        # SIGKILL one api and start it again: no second postmaster, it serves again.
        stop(api_a, signal.SIGKILL)
        api_a = opscopilot("serve", "--port", str(port_a), env=env, log=log)
        procs.append(api_a)
        wait_healthy(port_a, api_a)
        assert len(_postmasters(data_dir)) == 1

        # A worker takes a slow job and is SIGKILLed mid-job; another worker retries it.
        url = f"postgresql://postgres@/postgres?host={data_dir}"
        worker = opscopilot("worker", env=env, log=log)
        procs.append(worker)
        defer = run_cli("jobs", "probe", "killed-mid-job", "--seconds", "4", env=env)
        assert defer.returncode == 0, defer.stderr
        # Generous: a worker's start-up takes tens of seconds on a loaded 2-core machine.
        deadline = time.monotonic() + 120
        while (
            _count(
                url,
                "SELECT count(*) FROM jobs.procrastinate_jobs "
                "WHERE status = 'doing' AND task_name = 'maint.probe'",
            )
            == 0
        ):
            assert time.monotonic() < deadline, "the worker never started the job"
            time.sleep(0.2)
        stop(worker, signal.SIGKILL)
        assert (
            _count(url, "SELECT count(*) FROM audit_events WHERE subject = 'killed-mid-job'") == 0
        )
        worker = opscopilot("worker", env=env, log=log)
        procs.append(worker)
        deadline = time.monotonic() + 180
        while (
            _count(url, "SELECT count(*) FROM audit_events WHERE subject = 'killed-mid-job'") == 0
        ):
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        attempts = _count(
            url,
            "SELECT max(attempts) FROM jobs.procrastinate_jobs "
            "WHERE args->>'marker' = 'killed-mid-job'",
        )
        assert attempts >= 1
    finally:
        for proc in procs:
            stop(proc)
    # The last holder exited: the server stops with it.
    deadline = time.monotonic() + 15
    while _postmasters(data_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _postmasters(data_dir) == []


def _table_counts(url: str) -> dict[str, int]:
    engine = create_engine(psycopg_sqlalchemy_url(url), poolclass=pool.NullPool)
    with engine.connect() as conn:
        tables = (
            conn.execute(
                text(
                    "SELECT schemaname || '.' || tablename FROM pg_tables "
                    "WHERE schemaname IN ('public', 'jobs')"
                )
            )
            .scalars()
            .all()
        )
        counts = {
            t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar() or 0) for t in tables
        }
    engine.dispose()
    return counts


def test_backup_then_restore_into_an_empty_data_directory(workdir: Path) -> None:
    from opscopilot.store.embedded import start_embedded, stop_embedded

    dir_a, dir_b = workdir / "a" / "pgdata", workdir / "b" / "pgdata"
    url_a, url_b = start_embedded(dir_a), start_embedded(dir_b)
    try:
        first = base_env(OPSCOPILOT_DB__EMBEDDED_DIR=str(dir_a))
        assert run_cli("db", "upgrade", env=first).returncode == 0
        for n in range(3):
            created = run_cli("keys", "create", "--role", "operator", "--user", f"u{n}", env=first)
            assert created.returncode == 0, created.stderr
        assert run_cli("jobs", "probe", "queued-before-backup", env=first).returncode == 0
        dump = workdir / "backup.dump"
        result = run_cli("db", "backup", str(dump), env=first)
        assert result.returncode == 0, result.stderr

        second = base_env(OPSCOPILOT_DB__EMBEDDED_DIR=str(dir_b))
        result = run_cli("db", "restore", str(dump), env=second)
        assert result.returncode == 0, result.stderr
        before, after = _table_counts(url_a), _table_counts(url_b)
        assert before == after
        assert before["public.api_keys"] == 3
        assert before["jobs.procrastinate_jobs"] == 1
        # Refuses to overwrite a database that is not empty unless told to.
        again = run_cli("db", "restore", str(dump), env=second)
        assert again.returncode == 1
        assert "--force" in again.stderr
        forced = run_cli("db", "restore", str(dump), "--force", env=second)
        assert forced.returncode == 0, forced.stderr
        assert _table_counts(url_b) == before
    finally:
        stop_embedded(dir_a)
        stop_embedded(dir_b)
