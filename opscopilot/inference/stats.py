"""Per model version metrics, aggregated in PostgreSQL from `inference_jobs`.

Computed where the rows are, so a model with millions of runs costs one grouped scan, not
a transfer. The definitions are those of `metrics.py`: calls and error rate over finished
runs; latency percentiles (percentile_cont: linear interpolation, as `metrics.percentile`)
over successful runs; ground-truth scores pooled over runs with actuals, each run weighted
by its number of scored values (RMSE pooled through its square).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.inference.schemas import VersionUsage

_USAGE_SQL = """
SELECT model_version AS version,
  count(*) FILTER (WHERE status IN ('succeeded', 'failed', 'timed_out')) AS calls,
  count(*) FILTER (WHERE status IN ('failed', 'timed_out')) AS errors,
  count(*) FILTER (WHERE status IN ('queued', 'running')) AS pending,
  count(*) FILTER (WHERE shadow AND status IN ('succeeded', 'failed', 'timed_out'))
    AS shadow_calls,
  percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms)
    FILTER (WHERE status = 'succeeded') AS latency_p50_ms,
  percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms)
    FILTER (WHERE status = 'succeeded') AS latency_p95_ms,
  avg(latency_ms) FILTER (WHERE status = 'succeeded') AS latency_mean_ms,
  count(*) FILTER (WHERE scores IS NOT NULL) AS with_actuals,
  sum((scores->>'mae')::float8 * (scores->>'n')::float8)
    / nullif(sum((scores->>'n')::float8) FILTER (WHERE scores->>'mae' IS NOT NULL), 0) AS mae,
  sum((scores->>'mape')::float8 * (scores->>'n_nonzero')::float8)
    / nullif(sum((scores->>'n_nonzero')::float8)
      FILTER (WHERE scores->>'mape' IS NOT NULL), 0) AS mape,
  sqrt(sum(power((scores->>'rmse')::float8, 2) * (scores->>'n')::float8)
    / nullif(sum((scores->>'n')::float8) FILTER (WHERE scores->>'rmse' IS NOT NULL), 0)) AS rmse,
  sum((scores->>'accuracy')::float8 * (scores->>'n')::float8)
    / nullif(sum((scores->>'n')::float8)
      FILTER (WHERE scores->>'accuracy' IS NOT NULL), 0) AS accuracy,
  max(finished_at) AS last_call_at
FROM inference_jobs
WHERE model_name = :name {versions}
GROUP BY model_version
"""


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


async def usage_by_version(
    session: AsyncSession, *, name: str, versions: list[str] | None = None
) -> dict[str, VersionUsage]:
    """VersionUsage per version of `name` (versions never run are absent)."""
    params: dict[str, Any] = {"name": name}
    where = ""
    if versions is not None:
        where, params["versions"] = "AND model_version = ANY(:versions)", versions
    rows = (await session.execute(text(_USAGE_SQL.format(versions=where)), params)).mappings()
    out: dict[str, VersionUsage] = {}
    for row in rows:
        calls, errors = int(row["calls"]), int(row["errors"])
        out[row["version"]] = VersionUsage(
            calls=calls,
            errors=errors,
            error_rate=errors / calls if calls else None,
            pending=int(row["pending"]),
            shadow_calls=int(row["shadow_calls"]),
            latency_p50_ms=_number(row["latency_p50_ms"]),
            latency_p95_ms=_number(row["latency_p95_ms"]),
            latency_mean_ms=_number(row["latency_mean_ms"]),
            with_actuals=int(row["with_actuals"]),
            mae=_number(row["mae"]),
            mape=_number(row["mape"]),
            rmse=_number(row["rmse"]),
            accuracy=_number(row["accuracy"]),
            last_call_at=row["last_call_at"],
        )
    return out


async def shared_inputs(session: AsyncSession, *, name: str, a: str, b: str) -> int:
    """Distinct inputs that both versions ran on: what shadow runs give a comparison."""
    count = await session.scalar(
        text(
            "SELECT count(*) FROM (SELECT input_hash FROM inference_jobs "
            "WHERE model_name = :name AND model_version = :a INTERSECT "
            "SELECT input_hash FROM inference_jobs "
            "WHERE model_name = :name AND model_version = :b) shared"
        ),
        {"name": name, "a": a, "b": b},
    )
    return int(count or 0)


_COMPARED = ("error_rate", "latency_p50_ms", "latency_p95_ms", "mae", "mape", "rmse", "accuracy")


def comparable(usage: VersionUsage, registered: dict[str, Any]) -> dict[str, Any]:
    """The numbers to set side by side: measured ones, then registered (training or
    backtest) numbers that were not measured, under their own names."""
    values: dict[str, Any] = {k: getattr(usage, k) for k in _COMPARED}
    values["calls"] = usage.calls
    flat = dict(registered)
    nested = flat.pop("backtest", None)
    if isinstance(nested, dict):
        flat.update({f"backtest_{k}": v for k, v in nested.items()})
    for key, value in flat.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            values.setdefault(key if values.get(key) is None else f"registered_{key}", value)
    return values


def verdict(a: str, b: str, table: dict[str, dict[str, Any]], shared: int) -> str:
    """One sentence for the agent: where b is better or worse than a."""
    better = [k for k, v in table.items() if v["better"] == "b"]
    worse = [k for k, v in table.items() if v["better"] == "a"]
    if not better and not worse:
        return f"No measured difference between {a} and {b} yet: run both (shadow), post actuals."
    parts = []
    if better:
        parts.append(f"{b} is better on {', '.join(better)}")
    if worse:
        parts.append(f"worse on {', '.join(worse)}")
    basis = f" ({shared} shared inputs)" if shared else " (no shared inputs: not a paired test)"
    return f"Against {a}, " + "; ".join(parts) + basis + "."
