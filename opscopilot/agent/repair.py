"""Repair a history whose last run died between a tool call and its result.

Every provider rejects an assistant message with tool calls that are not each answered by
a tool message right after it (LangChain's INVALID_CHAT_HISTORY). A crash, a kill or a
new message sent instead of deciding an approval leaves such calls behind; each gets a
synthetic result saying it did not complete, placed right after its call.
"""

from __future__ import annotations

from langchain_core.messages import AIMessage, AnyMessage, ToolMessage

INTERRUPTED = (
    "Not completed: the previous run stopped before this tool reported a result "
    "(interrupted, superseded by a new message, or never approved). It will not be run "
    "again automatically; ask again if it is still needed."
)


def orphaned_calls(messages: list[AnyMessage]) -> list[str]:
    answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
    return [
        call["id"]
        for m in messages
        if isinstance(m, AIMessage)
        for call in m.tool_calls
        if call["id"] and call["id"] not in answered
    ]


def repaired(messages: list[AnyMessage], *, skip_last: bool = False) -> list[AnyMessage] | None:
    """The history with a synthetic result after each unanswered call, or None if whole.

    `skip_last` leaves the calls of the final message alone (they are about to run)."""
    answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
    out: list[AnyMessage] = []
    changed = False
    last = len(messages) - 1
    for i, message in enumerate(messages):
        out.append(message)
        if not isinstance(message, AIMessage) or (skip_last and i == last):
            continue
        for call in message.tool_calls:
            if call["id"] and call["id"] not in answered:
                out.append(
                    ToolMessage(
                        INTERRUPTED,
                        tool_call_id=call["id"],
                        name=call["name"],
                        status="error",
                    )
                )
                answered.add(call["id"])
                changed = True
    return out if changed else None
