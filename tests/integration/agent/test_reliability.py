"""Faults: a tool leaking a DSN, a model that loops, a token hog, a run killed mid-tool."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.tools import StructuredTool
from sqlalchemy.exc import OperationalError

from opscopilot.access.roles import Principal
from opscopilot.access.service import get_or_create_user
from opscopilot.core.settings import Settings
from opscopilot.store.engine import Database
from opscopilot.tools.base import ToolSpec
from opscopilot.tools.registry import build_registry
from tests.agent_support.factories import add_item
from tests.agent_support.harness import (
    OPERATOR,
    answer,
    new_thread,
    of,
    runner_for,
    tools_called,
    turn,
)
from tests.agent_support.scripted import ScriptedChatModel, call, calls, say
from tests.agent_support.tools import RecordingWrite, failing_read
from tests.conftest import make_settings

DSN = "postgresql://ops_admin:hunter2@db-prod-7.corp.internal:5432/plant"


def _history_is_valid(messages: list[BaseMessage]) -> bool:
    """What every provider (and LangChain's INVALID_CHAT_HISTORY check) demands: each tool
    call is answered by a tool message before the next non-tool message."""
    pending: set[str] = set()
    for message in messages:
        if isinstance(message, ToolMessage):
            pending.discard(message.tool_call_id)
            continue
        if pending:
            return False
        if isinstance(message, AIMessage):
            pending = {c["id"] for c in message.tool_calls if c["id"]}
    return True


async def test_a_db_error_with_a_dsn_reaches_the_model_scrubbed_and_the_graph_goes_on(
    agent_settings: Settings, clean_db: Database
) -> None:
    error = OperationalError(
        "SELECT * FROM orders", {}, Exception(f"could not connect to {DSN}: timeout")
    )
    registry = build_registry()
    registry.add([failing_read(error)])
    model = ScriptedChatModel(
        responses=[call("lookup_orders", sku="ITEM-001"), say("The order lookup is down.")]
    )
    async with runner_for(agent_settings, clean_db, model=model, registry=registry) as runner:
        events = await turn(runner, "open orders for ITEM-001?", thread_id=new_thread())
    assert answer(events) == "The order lookup is down."
    (result,) = of(events, "tool_result")
    assert not result["ok"]
    seen = str(model.seen[-1][-1].content)
    assert seen.startswith("Error: ")
    # What a person or the model could read: the events' texts, not their random ids (a
    # call id may contain "5432" by chance).
    shown = [str(v) for e in events for k, v in e.data.items() if not k.endswith("id")]
    for secret in ("hunter2", "ops_admin", "corp.internal", "5432", "SELECT", "Traceback"):
        assert secret not in seen and not any(secret in text for text in shown)


async def test_a_model_that_loops_on_tools_gets_a_polite_stop_and_the_thread_goes_on(
    agent_settings: Settings, clean_db: Database
) -> None:
    await add_item(clean_db, "ITEM-001", name="Component A", on_hand=10, daily_demand=1)
    looping = ScriptedChatModel(responses=[call("days_of_cover", sku="ITEM-001")])
    thread = new_thread()
    async with runner_for(agent_settings, clean_db, model=looping) as runner:
        events = await turn(runner, "keep checking", thread_id=thread)
    assert events[-1].type == "done"
    assert "stopped here" in answer(events)
    assert len(tools_called(events)) == agent_settings.llm.max_steps
    after = ScriptedChatModel(responses=[say("Fine now.")])
    async with runner_for(agent_settings, clean_db, model=after) as runner:
        events = await turn(runner, "thanks", thread_id=thread)
    assert answer(events) == "Fine now."
    assert _history_is_valid(after.seen[-1])


async def test_the_token_budget_stops_a_turn_politely(migrated: str, clean_db: Database) -> None:
    settings = make_settings(migrated, llm={"max_tokens_per_turn": 50, "max_steps": 6})
    await add_item(clean_db, "ITEM-001", name="Component A", on_hand=10, daily_demand=1)
    big = AIMessage(
        content="",
        tool_calls=[{"name": "days_of_cover", "args": {"sku": "ITEM-001"}, "id": "c1"}],
        usage_metadata={"input_tokens": 40, "output_tokens": 20, "total_tokens": 60},
    )
    model = ScriptedChatModel(responses=[big, say("never reached")])
    async with runner_for(settings, clean_db, model=model) as runner:
        events = await turn(runner, "go", thread_id=new_thread())
    assert "budget of 50 tokens" in answer(events)
    assert len(model.seen) == 1


class _Gate:
    def __init__(self) -> None:
        self.entered = asyncio.Event()

    async def slow_lookup(self, sku: str) -> str:
        self.entered.set()
        await asyncio.Event().wait()
        return "never"


async def test_a_run_killed_mid_tool_leaves_a_thread_the_next_turn_repairs(
    agent_settings: Settings, clean_db: Database
) -> None:
    gate = _Gate()
    registry = build_registry()
    tool = StructuredTool.from_function(
        coroutine=gate.slow_lookup, name="slow_lookup", description="A slow lookup."
    )
    registry.add([ToolSpec(tool=tool, tier="read", status="looking up slowly")])
    model = ScriptedChatModel(responses=[call("slow_lookup", sku="X"), say("Back again.")])
    thread = new_thread()
    async with runner_for(agent_settings, clean_db, model=model, registry=registry) as runner:
        killed = asyncio.create_task(turn(runner, "look it up", thread_id=thread))
        await asyncio.wait_for(gate.entered.wait(), 10)
        killed.cancel()
        await asyncio.gather(killed, return_exceptions=True)
    # Another process (a new runner with its own checkpointer pool) continues the thread.
    async with runner_for(agent_settings, clean_db, model=model, registry=registry) as runner:
        events = await turn(runner, "are you there?", thread_id=thread)
    assert answer(events) == "Back again."
    sent = model.seen[-1]
    assert _history_is_valid(sent)
    repaired = [m for m in sent if isinstance(m, ToolMessage)]
    assert repaired and "Not completed" in str(repaired[0].content)


async def test_one_thread_continues_from_another_surface_and_remembers(
    agent_settings: Settings, clean_db: Database
) -> None:
    model = ScriptedChatModel(responses=[say("Noted: line 3."), say("You said line 3.")])
    thread = new_thread()
    async with runner_for(agent_settings, clean_db, model=model) as runner:
        await turn(runner, "remember line 3", thread_id=thread)
    async with runner_for(agent_settings, clean_db, model=model) as runner:
        events = await turn(runner, "what did I say?", thread_id=thread)
    assert answer(events) == "You said line 3."
    contents = [str(m.content) for m in model.seen[-1]]
    assert "remember line 3" in contents and "Noted: line 3." in contents


async def test_someone_elses_thread_is_refused(
    agent_settings: Settings, clean_db: Database
) -> None:
    async with clean_db.transaction() as s:
        owner = await get_or_create_user(s, external_id="owner", role="operator")
        other = await get_or_create_user(s, external_id="other", role="operator")
        owner_id, other_id = owner.id, other.id
    thread = new_thread()
    mine = Principal(user_id=owner_id, external_id="owner", role="operator")
    theirs = Principal(user_id=other_id, external_id="other", role="operator")
    model = ScriptedChatModel(responses=[say("hi")])
    async with runner_for(agent_settings, clean_db, model=model) as runner:
        await turn(runner, "hello", thread_id=thread, principal=mine)
        events = await turn(runner, "let me in", thread_id=thread, principal=theirs)
    assert events[-1].type == "error" and events[-1].data["code"] == "forbidden"
    assert uuid.UUID(str(owner_id)) != other_id


async def test_a_site_the_person_cannot_see_is_refused(
    agent_settings: Settings, clean_db: Database
) -> None:
    limited = replace(OPERATOR, sites=("north",))
    model = ScriptedChatModel(responses=[say("never")])
    async with runner_for(agent_settings, clean_db, model=model) as runner:
        events: list[Any] = await turn(runner, "hi", thread_id=new_thread(), principal=limited)
    assert events[-1].type == "error" and events[-1].data["code"] == "forbidden"
    assert model.seen == []


async def test_the_recursion_limit_itself_is_caught_and_answered_politely(
    migrated: str, clean_db: Database
) -> None:
    # A viewer's ten refused writes never reach the model again, so only the graph's own
    # recursion limit (3 * max_steps + 4 = 7 supersteps) can stop them.
    settings = make_settings(migrated, llm={"max_steps": 1})
    note = RecordingWrite()
    registry = build_registry()
    registry.add([note.spec()])
    model = ScriptedChatModel(
        responses=[calls(*[("post_note", {"text": str(n)}) for n in range(10)]), say("later")]
    )
    thread = new_thread()
    viewer = replace(OPERATOR, external_id="v", role="viewer")
    async with runner_for(settings, clean_db, model=model, registry=registry) as runner:
        events = await turn(runner, "post ten notes", thread_id=thread, principal=viewer)
        assert events[-1].type == "done"
        assert "stopped here" in answer(events)
        again = await turn(runner, "and now?", thread_id=thread, principal=viewer)
    assert note.effects == []
    assert answer(again) == "later"
    assert _history_is_valid(model.seen[-1])


async def test_a_turn_that_outlives_its_deadline_ends_with_an_error_and_frees_the_thread(
    agent_settings: Settings, clean_db: Database
) -> None:
    gate = _Gate()
    registry = build_registry()
    tool = StructuredTool.from_function(
        coroutine=gate.slow_lookup, name="slow_lookup", description="A slow lookup."
    )
    registry.add([ToolSpec(tool=tool, tier="read", status="looking up slowly")])
    model = ScriptedChatModel(responses=[call("slow_lookup", sku="X"), say("Answer now.")])
    thread = new_thread()
    async with runner_for(
        agent_settings, clean_db, model=model, registry=registry, turn_deadline_s=1.0
    ) as runner:
        events = await turn(runner, "look it up", thread_id=thread)
        assert events[-1].type == "error" and events[-1].data["code"] == "timeout"
        assert asyncio.current_task() is not None and not asyncio.current_task().cancelling()  # type: ignore[union-attr]
        after = await turn(runner, "and?", thread_id=thread)
    assert answer(after) == "Answer now."
    assert _history_is_valid(model.seen[-1])
