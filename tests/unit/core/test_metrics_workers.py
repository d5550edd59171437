"""Prometheus across uvicorn workers: processes writing to one PROMETHEUS_MULTIPROC_DIR are
summed by a scrape (a stopped worker's pool gauge leaves the sum, its counts stay); `serve`
prepares a fresh directory per run and empties one it is given; one process is unchanged."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from opscopilot.core import metrics

# One uvicorn worker's life, in its own interpreter as uvicorn spawns them.
WORKER = """
import sys
from opscopilot.core import metrics
metrics.TOOL_CALLS.labels(tool="find_items", outcome="ok").inc()
metrics.HTTP_LATENCY.labels(route="/api/v1/items", method="GET", status="2xx").observe(0.02)
metrics.DB_POOL.labels(state="checkedout").set(int(sys.argv[1]))
if sys.argv[2] == "stops":
    metrics.process_exiting()
"""


def _worker(checked_out: int, end: str) -> None:
    subprocess.run([sys.executable, "-c", WORKER, str(checked_out), end], check=True, timeout=60)


def _sample(body: str, prefix: str) -> float:
    [line] = [line for line in body.splitlines() if line.startswith(prefix)]
    return float(line.rsplit(" ", 1)[1])


def test_two_workers_are_summed_in_one_scrape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = tmp_path / "counter_4242.db"  # a previous serve's worker
    stale.write_bytes(b"left over")
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(tmp_path))
    with metrics.across_workers(2) as directory:
        assert directory == tmp_path and not stale.exists()
        _worker(2, "runs")
        _worker(3, "stops")
        body = metrics.exposition().decode()
    assert _sample(body, 'opscopilot_tool_calls_total{outcome="ok",tool="find_items"}') == 2
    count = 'opscopilot_http_request_seconds_count{method="GET",route="/api/v1/items",status="2xx"}'
    assert _sample(body, count) == 2
    # livesum: the worker that stopped no longer holds connections.
    assert _sample(body, 'opscopilot_db_pool_connections{state="checkedout"}') == 2
    assert tmp_path.is_dir()  # a directory the operator named is kept


def test_each_serve_gets_its_own_directory_removed_after(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    with metrics.across_workers(2) as directory:
        assert directory is not None and directory.is_dir()
        assert os.environ[metrics.MULTIPROC_ENV] == str(directory)
    assert not directory.exists() and metrics.MULTIPROC_ENV not in os.environ
    with metrics.across_workers(1) as single:
        assert single is None and metrics.MULTIPROC_ENV not in os.environ
    # One process: this process's own registry, as before.
    metrics.TOOL_CALLS.labels(tool="single_process_probe", outcome="ok").inc()
    assert b'tool="single_process_probe"' in metrics.exposition()
