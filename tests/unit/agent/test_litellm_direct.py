"""The message a litellm stream adds up to (chunks shaped like litellm's `ModelResponseStream`;
the real stream is covered end to end in tests/integration/agent/test_litellm_path.py)."""

from __future__ import annotations

from types import SimpleNamespace as NS
from typing import Any

from opscopilot.agent.litellm_direct import Assembly


def chunk(
    content: str | None = None,
    calls: list[Any] | None = None,
    finish: str | None = None,
    usage: Any = None,
) -> Any:
    delta = NS(content=content, tool_calls=calls)
    choices = [] if usage is not None else [NS(delta=delta, finish_reason=finish)]
    return NS(choices=choices, usage=usage)


def fragment(index: int | None, *, id: str | None = None, name: str = "", args: str = "") -> Any:
    return NS(index=index, id=id, function=NS(name=name or None, arguments=args or None))


def test_text_pieces_are_returned_as_they_come_and_joined_once() -> None:
    assembly = Assembly()
    pieces = [assembly.add(c) for c in (chunk(""), chunk("Hello"), chunk(" world"), chunk())]
    usage = NS(prompt_tokens=7, completion_tokens=2, total_tokens=9)
    assert assembly.add(chunk(finish="stop")) == ""
    assert assembly.add(chunk(usage=usage)) == ""

    message = assembly.message("openai/stand-in")
    assert pieces == ["", "Hello", " world", ""]
    assert message.content == "Hello world" and message.id == assembly.message_id
    assert message.usage_metadata == {"input_tokens": 7, "output_tokens": 2, "total_tokens": 9}
    assert message.response_metadata["finish_reason"] == "stop"
    assert message.tool_calls == []


def test_parallel_tool_call_fragments_are_put_together_by_index() -> None:
    assembly = Assembly()
    assembly.add(chunk(calls=[fragment(0, id="call_a", name="find_items")]))
    assembly.add(chunk(calls=[fragment(1, id="call_b", name="get_inventory")]))
    assembly.add(chunk(calls=[fragment(0, args='{"query": "gas')]))
    assembly.add(chunk(calls=[fragment(1, args='{"sku": "GSK-040"}')]))
    assembly.add(chunk(calls=[fragment(0, args='ket"}')], finish="tool_calls"))

    message = assembly.message("m")
    assert [(c["name"], c["args"], c["id"]) for c in message.tool_calls] == [
        ("find_items", {"query": "gasket"}, "call_a"),
        ("get_inventory", {"sku": "GSK-040"}, "call_b"),
    ]
    assert message.content == ""


def test_a_call_without_id_gets_one_and_unreadable_arguments_are_kept_as_invalid() -> None:
    assembly = Assembly()
    assembly.add(chunk(calls=[fragment(None, name="find_items", args='{"query": "x"}')]))
    assembly.add(chunk(calls=[fragment(None, id="call_z", name="notify", args="not json")]))

    message = assembly.message("m")
    assert message.tool_calls[0]["name"] == "find_items"
    assert message.tool_calls[0]["id"]
    assert [(c["name"], c["args"], c["id"]) for c in message.invalid_tool_calls] == [
        ("notify", "not json", "call_z")
    ]
