"""Start `opscopilot` processes the way a user would, on free loopback ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def base_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OPSCOPILOT_", "DB_")) and k != "DATABASE_URL"
    }
    env.update({"OPSCOPILOT_LOG_JSON": "false", "OPSCOPILOT_ENVIRONMENT": "test"})
    env.update(extra)
    return env


def opscopilot(*args: str, env: dict[str, str], log: Path | None = None) -> subprocess.Popen[bytes]:
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, "-m", "opscopilot.cli.main", *args],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def run_cli(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "opscopilot.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def wait_healthy(port: int, proc: subprocess.Popen[bytes], timeout: float = 120) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            r = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2)
            if r.status_code == 200:
                return r
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.05)  # a refused connect costs next to nothing; don't oversleep
    raise TimeoutError(f"port {port} never became healthy: {last}")


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@contextmanager
def serving(
    env: dict[str, str], log: Path | None = None
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    proc = opscopilot("serve", "--port", str(port), env=env, log=log)
    try:
        wait_healthy(port, proc)
        yield port, proc
    finally:
        stop(proc)
