"""AI-runtime tools: list the registered models, run one on an item's history (read tier)."""

from __future__ import annotations

from typing import Any, Literal

from langchain_core.tools import tool
from langgraph.prebuilt import ToolRuntime

from opscopilot.inference import service as inference
from opscopilot.inference.runtime import get_runtime
from opscopilot.tools.base import ToolSpec, respond
from opscopilot.tools.context import ToolContext

Reply = tuple[str, dict[str, Any]]
LIST_CAP = 10


def _compact(value: Any) -> Any:
    """Model outputs can be long lists; the model needs the head and the count."""
    if isinstance(value, list):
        head = [_compact(v) for v in value[:LIST_CAP]]
        return head + ([f"... {len(value) - LIST_CAP} more"] if len(value) > LIST_CAP else [])
    if isinstance(value, dict):
        return {k: _compact(v) for k, v in value.items()}
    return value


@tool(parse_docstring=True, response_format="content_and_artifact")
async def list_models(runtime: ToolRuntime[ToolContext]) -> Reply:
    """The registered AI models: name, kind, description and active version."""
    ctx = runtime.context
    async with ctx.db.session() as session:
        found = await inference.list_models(session)
    models = [
        {
            "name": m.name,
            "kind": m.kind,
            "description": m.description,
            "active_version": m.active_version,
            "versions": m.versions,
        }
        for m in found.models
    ]
    return respond("list_models", {"models": models})


@tool(parse_docstring=True, response_format="content_and_artifact")
async def run_model(
    runtime: ToolRuntime[ToolContext],
    model: str,
    sku: str,
    metric: Literal["demand", "quality"] = "demand",
    period: Literal["weekly", "monthly"] = "monthly",
) -> Reply:
    """Run a registered series model (e.g. anomaly-detector) on one item's demand or
    quality history at the chat's site; the run is recorded with its id.

    Args:
        model: The model's name, from list_models.
        sku: The item's SKU.
        metric: demand or quality.
        period: weekly or monthly buckets.
    """
    ctx = runtime.context
    async with ctx.db.session() as session:
        outcome = await inference.run_model_on_item(
            session,
            runtime=get_runtime(),
            queue=None,
            sku=sku.strip(),
            model=model.strip(),
            kind=metric,
            period=period,
            site=ctx.site,
            sites=ctx.principal.site_filter(),
            actor=ctx.principal.external_id,
        )
    data = {
        "job_id": str(outcome.job_id),
        "model": outcome.model,
        "version": outcome.version,
        "status": outcome.status,
        "sku": sku.strip(),
        "output": _compact(outcome.output),
        "reason": outcome.reason,
    }
    return respond("run_model", data)


def specs() -> list[ToolSpec]:
    return [
        ToolSpec(tool=list_models, tier="read", status="listing the models"),
        ToolSpec(tool=run_model, tier="read", status="running the model"),
    ]
