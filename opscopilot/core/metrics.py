"""Prometheus metrics: defined once here, observed by each part, exported at /metrics.

Each part observes with one line at the single place its event happens (the tool node's
wrapper, the model call, the ingest commit, the forecast store, the notification relay);
the gauges that describe the process (pool, queue) are read at scrape time. One process
exports its own registry; with several uvicorn workers (`serve --workers N`) prometheus_client
runs in multiprocess mode: each worker writes its values to files in PROMETHEUS_MULTIPROC_DIR
(prepared per serve by `across_workers`) and a scrape, whichever worker answers, sums them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_LATENCY = Histogram(
    "opscopilot_http_request_seconds",
    "HTTP request latency by route template, method and status class",
    ["route", "method", "status"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CHAT_TTFT = Histogram(
    "opscopilot_chat_time_to_first_token_seconds",
    "Time from the start of a chat turn's agent run to its first streamed token",
    ["surface"],
    registry=REGISTRY,
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60),
)
TOOL_CALLS = Counter(
    "opscopilot_tool_calls_total",
    "Agent tool calls by tool and outcome (ok, error)",
    ["tool", "outcome"],
    registry=REGISTRY,
)
LLM_TOKENS = Counter(
    "opscopilot_llm_tokens_total",
    "LLM tokens by model and kind (input, output)",
    ["model", "kind"],
    registry=REGISTRY,
)
LLM_COST = Counter(
    "opscopilot_llm_cost_usd_total",
    "LLM cost in USD by model, from litellm's local price map (0 for unpriced models)",
    ["model"],
    registry=REGISTRY,
)
INGEST_ROWS = Counter(
    "opscopilot_ingest_rows_total",
    "Rows of committed ingest batches by source type and outcome",
    ["source_type", "outcome"],
    registry=REGISTRY,
)
FORECAST_RUNS = Counter(
    "opscopilot_forecast_runs_total", "Forecasts computed", ["type", "model"], registry=REGISTRY
)
FORECAST_SECONDS = Histogram(
    "opscopilot_forecast_seconds", "Forecast computation time", ["mode"], registry=REGISTRY
)
NOTIFICATIONS = Counter(
    "opscopilot_notifications_total",
    "Notification deliveries by channel and final status",
    ["channel", "status"],
    registry=REGISTRY,
)
INFERENCE_CALLS = Counter(
    "opscopilot_inference_calls_total",
    "Model runs",
    ["model", "version", "status"],
    registry=REGISTRY,
)
INFERENCE_LATENCY = Histogram(
    "opscopilot_inference_seconds",
    "Model run time of successful runs (inline, isolated or queued)",
    ["model", "version"],
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
# How several workers' gauges combine (ignored in one process): the queue is one count that
# any worker reads, so the latest reading; the pools are each worker's, so the live ones' sum.
JOB_QUEUE = Gauge(
    "opscopilot_job_queue_jobs",
    "Jobs in the queue by status",
    ["status"],
    registry=REGISTRY,
    multiprocess_mode="mostrecent",
)
DB_POOL = Gauge(
    "opscopilot_db_pool_connections",
    "Database pool connections",
    ["state"],
    registry=REGISTRY,
    multiprocess_mode="livesum",
)
JOB_STATUSES = ("todo", "doing", "succeeded", "failed", "cancelled", "aborting", "aborted")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class _Tally(Protocol):
    inserted: int
    updated: int
    unchanged: int
    rejected: int


INGEST_OUTCOMES = ("inserted", "updated", "unchanged", "rejected")


def observe_ingest(source_type: str, tally: _Tally) -> None:
    """A committed batch's rows (a rolled-back batch wrote none, so counts none)."""
    for outcome in INGEST_OUTCOMES:
        INGEST_ROWS.labels(source_type=source_type, outcome=outcome).inc(getattr(tally, outcome))


def llm_cost(model: str, input_tokens: int, output_tokens: int) -> float:
    """USD from litellm's price map, only where litellm is already loaded (a configured
    model): importing it costs seconds, and the offline model has no price."""
    litellm: Any = sys.modules.get("litellm")
    if litellm is None:
        return 0.0
    try:
        prompt, completion = litellm.cost_per_token(
            model=model, prompt_tokens=input_tokens, completion_tokens=output_tokens
        )
    except Exception:  # unpriced model (a local or stand-in one): litellm raises
        return 0.0
    return float(prompt) + float(completion)


def observe_llm(model: str, usage: Mapping[str, Any] | None, span: Any = None) -> float:
    """Tokens and cost of one model call; sets them on the call's span when there is one."""
    usage = usage or {}
    given, taken = int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)
    LLM_TOKENS.labels(model=model, kind="input").inc(given)
    LLM_TOKENS.labels(model=model, kind="output").inc(taken)
    cost = llm_cost(model, given, taken)
    LLM_COST.labels(model=model).inc(cost)
    if span is not None:
        span.set_attribute("gen_ai.usage.input_tokens", given)
        span.set_attribute("gen_ai.usage.output_tokens", taken)
    return cost


def observe_db_pool(pool: Any) -> None:
    for name in ("checkedout", "checkedin", "overflow", "size"):
        getter = getattr(pool, name, None)
        if callable(getter):
            DB_POOL.labels(state=name).set(getter())


_queue_read_at = float("-inf")
_QUEUE_SQL = text("SELECT status::text, count(*) FROM jobs.procrastinate_jobs GROUP BY status")


async def refresh_job_queue(engine: AsyncEngine, *, cache_s: float, timeout_s: float) -> None:
    """Jobs by status, counted at most every `cache_s` and within `timeout_s`: a scrape
    never waits on a busy database (it then shows the last count)."""
    global _queue_read_at
    if time.monotonic() - _queue_read_at < cache_s:
        return
    # Stamped before the count, so scrapes arriving meanwhile show the last one.
    _queue_read_at = time.monotonic()
    try:
        async with asyncio.timeout(timeout_s), engine.connect() as conn:
            rows = (await conn.execute(_QUEUE_SQL)).all()
    except Exception as exc:  # the scrape still answers with what the process knows
        log.warning("job queue depth not read: %s", type(exc).__name__)
        return
    counts = {str(status): int(n) for status, n in rows}
    if os.environ.get(MULTIPROC_ENV):
        # Every status, so one that emptied reads 0 rather than another worker's last count.
        counts = dict.fromkeys(JOB_STATUSES, 0) | counts
    JOB_QUEUE.clear()
    for status, n in counts.items():
        JOB_QUEUE.labels(status=status).set(n)


def exposition() -> bytes:
    """The scrape's body: this process's metrics, or in multiprocess mode every worker's."""
    directory = os.environ.get(MULTIPROC_ENV)
    if not directory:
        return generate_latest(REGISTRY)
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def process_exiting() -> None:
    """A worker stopping: its live gauges (pool use) leave the sums; counters stay counted."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client.multiprocess import mark_process_dead

        mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


@contextmanager
def across_workers(workers: int) -> Iterator[Path | None]:
    """Multiprocess mode for the worker processes `serve` is about to start (they inherit the
    environment): a fresh PROMETHEUS_MULTIPROC_DIR per serve, removed afterwards. A directory
    the environment already names (one process or many) is emptied of the last run's files,
    so no dead worker's counts are summed in. One process and no directory: unchanged."""
    given = os.environ.get(MULTIPROC_ENV)
    if workers <= 1 and not given:
        yield None
        return
    directory = Path(given) if given else Path(tempfile.mkdtemp(prefix="opscopilot-metrics-"))
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(directory)
    try:
        yield directory
    finally:
        if not given:
            os.environ.pop(MULTIPROC_ENV, None)
            shutil.rmtree(directory, ignore_errors=True)
