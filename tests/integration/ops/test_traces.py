"""OpenTelemetry traces of a chat turn, read back from the SDK's in-memory exporter: one root
span per turn, a child span per model call and per tool call; nothing loaded when off."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from opscopilot.core import telemetry
from opscopilot.core.settings import Settings
from opscopilot.store.engine import Database
from tests.agent_support.factories import add_item
from tests.agent_support.harness import new_thread, of, runner_for, turn
from tests.agent_support.scripted import ScriptedChatModel, calls, say


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    telemetry.configure_tracing(None, exporter=exporter)
    yield exporter
    telemetry.configure_tracing(None)


def _named(found: tuple[ReadableSpan, ...], prefix: str) -> list[ReadableSpan]:
    return [s for s in found if s.name.startswith(prefix)]


async def test_a_turn_is_one_trace_with_a_span_per_model_and_tool_call(
    ops_settings: Settings, clean_db: Database, spans: InMemorySpanExporter
) -> None:
    await add_item(clean_db, "GSK-040", name="Gasket 40mm", on_hand=380, daily_demand=60)
    model = ScriptedChatModel(
        responses=[
            calls(("days_of_cover", {"sku": "GSK-040"}), ("find_items", {"query": "gasket"})),
            say("GSK-040 has about six days of cover."),
        ]
    )
    async with runner_for(ops_settings, clean_db, model=model) as runner:
        events = await turn(runner, "days of cover for gaskets?", thread_id=new_thread())
    assert events[-1].type == "done", events[-1]
    assert sorted(e["name"] for e in of(events, "tool_result")) == ["days_of_cover", "find_items"]

    found = spans.get_finished_spans()
    (root,) = [s for s in found if s.parent is None]
    assert root.name == "chat turn"
    assert root.attributes is not None and root.attributes["chat.surface"] == "eval"
    assert root.context is not None
    trace_id, root_id = root.context.trace_id, root.context.span_id
    assert {s.context.trace_id for s in found if s.context} == {trace_id}

    tools = _named(found, "execute_tool ")
    assert sorted(s.name for s in tools) == [
        "execute_tool days_of_cover",
        "execute_tool find_items",
    ]
    for s in tools:
        assert s.parent is not None and s.parent.span_id == root_id
        assert s.attributes is not None
        assert s.name == f"execute_tool {s.attributes['gen_ai.tool.name']}"
        assert s.status.status_code != StatusCode.ERROR
    llm = _named(found, "chat offline")
    assert len(llm) == 2
    assert all(s.parent is not None and s.parent.span_id == root_id for s in llm)


async def test_a_failing_tool_call_is_an_error_span(
    ops_settings: Settings, clean_db: Database, spans: InMemorySpanExporter
) -> None:
    model = ScriptedChatModel(
        responses=[calls(("get_item", {"sku": "NO-SUCH-SKU"})), say("No such item.")]
    )
    async with runner_for(ops_settings, clean_db, model=model) as runner:
        events = await turn(runner, "cover of NO-SUCH-SKU?", thread_id=new_thread())
    assert of(events, "tool_result")[0]["ok"] is False
    (tool,) = _named(spans.get_finished_spans(), "execute_tool ")
    assert tool.status.status_code == StatusCode.ERROR


def test_tracing_off_loads_no_sdk() -> None:
    code = (
        "import sys\n"
        "from opscopilot.core import telemetry\n"
        "with telemetry.span('x') as s:\n"
        "    assert s is None\n"
        "assert telemetry.tracer() is None\n"
        "assert not [m for m in sys.modules if m.startswith('opentelemetry.sdk')]\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPSCOPILOT_OTEL")}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
