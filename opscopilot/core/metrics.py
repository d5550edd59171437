"""Prometheus metrics: defined once here, observed by each part, exported at /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

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
    "Time from a chat request to its first streamed token",
    ["surface"],
    registry=REGISTRY,
)
TOOL_CALLS = Counter(
    "opscopilot_tool_calls_total", "Agent tool calls", ["tool", "outcome"], registry=REGISTRY
)
LLM_TOKENS = Counter(
    "opscopilot_llm_tokens_total", "LLM tokens", ["model", "kind"], registry=REGISTRY
)
LLM_COST = Counter("opscopilot_llm_cost_usd_total", "LLM cost", ["model"], registry=REGISTRY)
INGEST_ROWS = Counter(
    "opscopilot_ingest_rows_total",
    "Ingested rows by outcome",
    ["kind", "outcome"],
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
JOB_QUEUE = Gauge(
    "opscopilot_job_queue_jobs", "Jobs in the queue by status", ["status"], registry=REGISTRY
)
DB_POOL = Gauge(
    "opscopilot_db_pool_connections", "Database pool connections", ["state"], registry=REGISTRY
)
