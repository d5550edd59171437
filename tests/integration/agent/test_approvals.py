"""Writes pause for a person with the operator role, run once, and are audited."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import func, select

from opscopilot.core.settings import Settings
from opscopilot.store.engine import Database
from opscopilot.store.models import ActionRequest, Approval, AuditEvent, Site
from opscopilot.tools.registry import build_registry
from tests.agent_support.factories import add_item
from tests.agent_support.harness import (
    APPROVER,
    VIEWER,
    answer,
    decide,
    new_thread,
    of,
    runner_for,
    tools_called,
    turn,
)
from tests.agent_support.scripted import ScriptedChatModel, call, calls, say
from tests.agent_support.tools import RecordingWrite


async def _audit_types(db: Database, thread_id: str) -> list[str]:
    async with db.session() as s:
        rows = await s.scalars(
            select(AuditEvent.event_type)
            .where(AuditEvent.thread_id == thread_id)
            .order_by(AuditEvent.id)
        )
        return list(rows)


async def _approval(db: Database, approval_id: str) -> Approval:
    async with db.session() as s:
        row = await s.get(Approval, approval_id)
        assert row is not None
        return row


def _registry_with(*writes: RecordingWrite):  # type: ignore[no-untyped-def]
    registry = build_registry()
    registry.add(w.spec() for w in writes)
    return registry


async def test_write_waits_for_approval_then_runs_once(
    agent_settings: Settings, clean_db: Database
) -> None:
    note = RecordingWrite()
    model = ScriptedChatModel(responses=[call("post_note", text="Line 2 down"), say("Posted.")])
    thread = new_thread()
    async with runner_for(
        agent_settings, clean_db, model=model, registry=_registry_with(note)
    ) as runner:
        first = await turn(runner, "post a note that line 2 is down", thread_id=thread)
        (asked,) = of(first, "approval_required")
        assert asked["tool"] == "post_note"
        assert asked["description"] == "Post the note 'Line 2 down' on the notice board."
        assert (
            first[-1].type == "done" and first[-1].data["awaiting_approval"] == asked["approval_id"]
        )
        assert note.effects == []
        assert (await _approval(clean_db, asked["approval_id"])).status == "pending"

        second = await decide(runner, asked["approval_id"], approve=True)
        again = await decide(runner, asked["approval_id"], approve=True)

    assert [e[0] for e in note.effects] == ["Line 2 down"]
    (result,) = of(second, "tool_result")
    assert result["ok"] and result["data"]["posted"] == "Line 2 down"
    assert answer(second) == "Posted."
    assert again[-1].type == "error" and again[-1].data["code"] == "conflict"
    row = await _approval(clean_db, asked["approval_id"])
    assert row.status == "executed" and row.decided_by == APPROVER.external_id
    assert note.effects[0][1] == row.idempotency_key
    types = await _audit_types(clean_db, thread)
    for expected in (
        "chat.question",
        "tool.call",
        "approval.requested",
        "approval.approved",
        "tool.executed",
    ):
        assert expected in types


async def test_rejected_write_does_nothing_and_the_model_hears_why(
    agent_settings: Settings, clean_db: Database
) -> None:
    note = RecordingWrite()
    model = ScriptedChatModel(
        responses=[call("post_note", text="x"), say("Understood, not posted.")]
    )
    thread = new_thread()
    async with runner_for(
        agent_settings, clean_db, model=model, registry=_registry_with(note)
    ) as runner:
        first = await turn(runner, "post x", thread_id=thread)
        (asked,) = of(first, "approval_required")
        second = await decide(runner, asked["approval_id"], approve=False)
    assert note.effects == []
    (result,) = of(second, "tool_result")
    assert not result["ok"] and "rejected" in result["summary"]
    assert answer(second) == "Understood, not posted."
    seen_by_model = model.seen[-1][-1]
    assert "rejected" in str(seen_by_model.content)
    assert "approval.rejected" in await _audit_types(clean_db, thread)
    assert (await _approval(clean_db, asked["approval_id"])).status == "rejected"


async def test_viewer_chat_never_produces_a_write(
    agent_settings: Settings, clean_db: Database
) -> None:
    note = RecordingWrite()
    model = ScriptedChatModel(
        responses=[call("post_note", text="from a viewer"), say("I can't do that.")]
    )
    thread = new_thread()
    async with runner_for(
        agent_settings, clean_db, model=model, registry=_registry_with(note)
    ) as runner:
        events = await turn(runner, "post a note", thread_id=thread, principal=VIEWER)
    assert of(events, "approval_required") == []
    (result,) = of(events, "tool_result")
    assert not result["ok"] and "viewer" in result["summary"]
    async with clean_db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Approval)) == 0
    assert note.effects == []
    assert "tool.refused" in await _audit_types(clean_db, thread)


async def test_a_viewer_cannot_approve(agent_settings: Settings, clean_db: Database) -> None:
    note = RecordingWrite()
    model = ScriptedChatModel(responses=[call("post_note", text="x"), say("ok")])
    async with runner_for(
        agent_settings, clean_db, model=model, registry=_registry_with(note)
    ) as runner:
        first = await turn(runner, "post x", thread_id=new_thread())
        (asked,) = of(first, "approval_required")
        refused = await decide(runner, asked["approval_id"], approve=True, principal=VIEWER)
    assert refused[-1].type == "error" and refused[-1].data["code"] == "forbidden"
    assert note.effects == []
    assert (await _approval(clean_db, asked["approval_id"])).status == "pending"


async def test_two_writes_in_one_message_are_approved_one_at_a_time(
    agent_settings: Settings, clean_db: Database
) -> None:
    note = RecordingWrite()
    model = ScriptedChatModel(
        responses=[
            calls(("post_note", {"text": "one"}), ("post_note", {"text": "two"})),
            say("Both handled."),
        ]
    )
    async with runner_for(
        agent_settings, clean_db, model=model, registry=_registry_with(note)
    ) as runner:
        first = await turn(runner, "post one and two", thread_id=new_thread())
        (a1,) = of(first, "approval_required")
        second = await decide(runner, a1["approval_id"], approve=True)
        (a2,) = of(second, "approval_required")
        assert note.effects and [e[0] for e in note.effects] == ["one"]
        third = await decide(runner, a2["approval_id"], approve=False)
    assert [e[0] for e in note.effects] == ["one"]
    assert answer(third) == "Both handled."


async def test_read_calls_run_before_the_write_is_proposed(
    agent_settings: Settings, clean_db: Database
) -> None:
    await add_item(clean_db, "ITEM-001", name="Component A", on_hand=850, daily_demand=20)
    note = RecordingWrite()
    model = ScriptedChatModel(
        responses=[
            calls(("days_of_cover", {"sku": "ITEM-001"}), ("post_note", {"text": "cover ok"})),
            say("done"),
        ]
    )
    async with runner_for(
        agent_settings, clean_db, model=model, registry=_registry_with(note)
    ) as runner:
        events = await turn(runner, "check and post", thread_id=new_thread())
    assert [r["name"] for r in of(events, "tool_result")] == ["days_of_cover"]
    assert len(of(events, "approval_required")) == 1


async def test_kill_after_approval_runs_the_write_at_most_once(
    agent_settings: Settings, clean_db: Database
) -> None:
    note = RecordingWrite(hang=True)
    model = ScriptedChatModel(responses=[call("post_note", text="once"), say("Checked.")])
    thread = new_thread()
    async with runner_for(
        agent_settings, clean_db, model=model, registry=_registry_with(note)
    ) as runner:
        first = await turn(runner, "post once", thread_id=thread)
        (asked,) = of(first, "approval_required")
        killed = asyncio.create_task(decide(runner, asked["approval_id"], approve=True))
        await asyncio.wait_for(note.started.wait(), 10)
        killed.cancel()  # the process dies while the write is in flight
        await asyncio.gather(killed, return_exceptions=True)
        assert (await _approval(clean_db, asked["approval_id"])).status == "executing"

        note.hang = False
        retried = await decide(runner, asked["approval_id"], approve=True)
    assert len(note.effects) == 1
    (result,) = of(retried, "tool_result")
    assert not result["ok"] and "at most once" in result["summary"]
    assert answer(retried) == "Checked."


async def test_new_message_instead_of_a_decision_expires_the_approval(
    agent_settings: Settings, clean_db: Database
) -> None:
    note = RecordingWrite()
    model = ScriptedChatModel(responses=[call("post_note", text="x"), say("Sure, something else.")])
    thread = new_thread()
    async with runner_for(
        agent_settings, clean_db, model=model, registry=_registry_with(note)
    ) as runner:
        first = await turn(runner, "post x", thread_id=thread)
        (asked,) = of(first, "approval_required")
        second = await turn(runner, "never mind, something else", thread_id=thread)
        late = await decide(runner, asked["approval_id"], approve=True)
    assert answer(second) == "Sure, something else."
    assert late[-1].type == "error"
    assert note.effects == []
    assert (await _approval(clean_db, asked["approval_id"])).status == "expired"


async def test_action_request_drafted_then_approved_and_exported_to_a_file(
    agent_settings: Settings, clean_db: Database, tmp_path: Path
) -> None:
    await add_item(clean_db, "GSK-040", name="Gasket 40mm")
    async with clean_db.transaction() as s:
        s.add(
            Site(
                code="main",
                name="Main",
                policy={"erp_export": {"mode": "file", "dir": str(tmp_path)}},
            )
        )
    thread = new_thread()
    async with runner_for(agent_settings, clean_db) as runner:
        drafted = await turn(
            runner,
            "Draft a purchase request for 2000 GSK-040 because cover is 5 days",
            thread_id=thread,
        )
        assert tools_called(drafted) == ["draft_action_request"]
        assert "2,000" in answer(drafted) and "draft" in answer(drafted)
        asked_events = await turn(runner, "submit the last action request", thread_id=thread)
        (asked,) = of(asked_events, "approval_required")
        assert "GSK-040" in asked["description"] and "quantity 2,000" in asked["description"]
        done = await decide(runner, asked["approval_id"], approve=True)
        status = await turn(runner, "what's the status of my action requests?", thread_id=thread)
    assert "exported" in answer(done)
    async with clean_db.session() as s:
        action = await s.scalar(select(ActionRequest))
    assert (
        action is not None
        and action.status == "exported"
        and action.decided_by == APPROVER.external_id
    )
    files = list(tmp_path.glob("action-*.json"))
    assert [f.name for f in files] == [f"action-{action.id}.json"]
    assert "exported" in answer(status)
