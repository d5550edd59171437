"""The model node's token coalescing: chunks of one loop turn become one token event."""

from __future__ import annotations

import asyncio
from typing import Any

from opscopilot.agent.model_node import TokenCoalescer


def _coalescer() -> tuple[TokenCoalescer, list[dict[str, Any]]]:
    written: list[dict[str, Any]] = []
    return TokenCoalescer(written.append), written


async def test_chunks_that_arrive_together_go_out_as_one_event() -> None:
    tokens, written = _coalescer()
    tokens.add("The ", "m1")
    tokens.add("plant ", "m1")
    assert written == []
    await asyncio.sleep(0)  # the model's task waits for its next chunk
    assert written == [{"token": "The plant ", "message_id": "m1"}]


async def test_chunks_apart_go_out_apart_and_in_order() -> None:
    tokens, written = _coalescer()
    for text in ("one ", "two ", "three"):
        tokens.add(text, "m1")
        await asyncio.sleep(0)
    assert [w["token"] for w in written] == ["one ", "two ", "three"]


async def test_a_new_message_starts_a_new_event() -> None:
    tokens, written = _coalescer()
    tokens.add("first", "m1")
    tokens.add("second", "m2")
    tokens.flush()
    assert written == [
        {"token": "first", "message_id": "m1"},
        {"token": "second", "message_id": "m2"},
    ]


async def test_flush_sends_what_is_held_once() -> None:
    tokens, written = _coalescer()
    tokens.add("last words", "m1")
    tokens.flush()
    await asyncio.sleep(0)
    tokens.flush()
    assert written == [{"token": "last words", "message_id": "m1"}]
