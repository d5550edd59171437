"""A history with unanswered tool calls gets synthetic answers right after the calls."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from opscopilot.agent.repair import orphaned_calls, repaired


def _ai(*ids: str) -> AIMessage:
    return AIMessage("", tool_calls=[{"name": "t", "args": {}, "id": i} for i in ids])


def test_whole_history_is_left_alone() -> None:
    history = [HumanMessage("q"), _ai("a"), ToolMessage("r", tool_call_id="a"), AIMessage("done")]
    assert repaired(history) is None
    assert orphaned_calls(history) == []


def test_orphans_are_answered_in_place() -> None:
    history = [
        HumanMessage("q"),
        _ai("a", "b"),
        ToolMessage("r", tool_call_id="a"),
        HumanMessage("again"),
    ]
    fixed = repaired(history)
    assert fixed is not None
    assert [type(m).__name__ for m in fixed] == [
        "HumanMessage",
        "AIMessage",
        "ToolMessage",
        "ToolMessage",
        "HumanMessage",
    ]
    synthetic = fixed[2]
    assert isinstance(synthetic, ToolMessage) and synthetic.tool_call_id == "b"
    assert synthetic.status == "error"


def test_the_calls_about_to_run_can_be_spared() -> None:
    history = [HumanMessage("q"), _ai("a")]
    assert repaired(history, skip_last=True) is None
    assert orphaned_calls(history) == ["a"]
