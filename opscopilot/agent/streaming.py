"""LangGraph's stream (messages, custom and updates modes) -> the surfaces' `AgentEvent`s.

Tokens come from the model node: a model called through litellm writes them to the custom
stream, a LangChain chat model's streamed chunks come through messages mode. A model
message that was not streamed (a budget notice, a model that does not stream) is sent as
one token when its node finishes, so every answer reaches the person exactly once.
Complete tool calls, tool results and interrupts come from the updates mode.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, ToolMessage

from opscopilot.agent.events import AgentEvent
from opscopilot.tools.registry import ToolRegistry

SUMMARY_CHARS = 240
# Tool data larger than this is summarised only (surfaces store every event).
MAX_EVENT_DATA = 32_000


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            p.get("text", "") if isinstance(p, dict) else str(p)
            for p in content
            if not isinstance(p, dict) or p.get("type") in (None, "text")
        ]
        return "".join(parts)
    return str(content)


def summarize(message: ToolMessage) -> str:
    if message.status == "error":
        return text_of(message.content)[:SUMMARY_CHARS]
    data = message.artifact if isinstance(message.artifact, dict) else None
    if data is None:
        return text_of(message.content)[:SUMMARY_CHARS]
    for key, value in data.items():
        if isinstance(value, list):
            return f"{len(value)} {key}"
    compact = json.dumps(data, separators=(",", ":"), default=str)
    return compact if len(compact) <= SUMMARY_CHARS else compact[: SUMMARY_CHARS - 3] + "..."


class EventMapper:
    def __init__(self, registry: ToolRegistry) -> None:
        self.registry = registry
        self.parts: list[str] = []
        self.streamed: set[str] = set()
        self.usage: dict[str, int] = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
        self.approval: str | None = None

    @property
    def answer(self) -> str:
        return "".join(self.parts).strip()

    def feed(self, mode: str, chunk: Any) -> Iterator[AgentEvent]:
        if mode == "messages":
            yield from self._token(*chunk)
        elif mode == "custom":
            if isinstance(chunk, dict) and "token" in chunk:
                yield from self._text(str(chunk["token"]), chunk.get("message_id"))
        elif mode == "updates":
            for node, update in chunk.items():
                yield from self._update(node, update)

    def extra_answer(self, text: str) -> Iterator[AgentEvent]:
        """A closing text the runner adds itself (e.g. the step budget ran out)."""
        if self.parts:
            text = "\n\n" + text
        self.parts.append(text)
        yield AgentEvent("token", {"text": text})

    def _token(self, message: Any, meta: dict[str, Any]) -> Iterator[AgentEvent]:
        if not isinstance(message, AIMessageChunk) or meta.get("langgraph_node") != "model":
            return
        yield from self._text(text_of(message.content), message.id)

    def _text(self, text: str, message_id: str | None) -> Iterator[AgentEvent]:
        if not text:
            return
        if message_id and message_id not in self.streamed:
            self.streamed.add(message_id)
            if self.parts:  # a second answer in the turn starts a new paragraph
                text = "\n\n" + text
        self.parts.append(text)
        yield AgentEvent("token", {"text": text})

    def _update(self, node: str, update: Any) -> Iterator[AgentEvent]:
        if node == "__interrupt__":
            for item in update:
                payload = item.value if isinstance(item.value, dict) else {}
                self.approval = str(payload.get("approval_id"))
                yield AgentEvent(
                    "approval_required",
                    {
                        "approval_id": self.approval,
                        "tool": payload.get("tool"),
                        "description": payload.get("description"),
                        "arguments": payload.get("arguments", {}),
                    },
                )
            return
        if not isinstance(update, dict):
            return
        for message in update.get("messages") or []:
            if isinstance(message, AIMessage):
                yield from self._model_message(message)
            elif isinstance(message, ToolMessage):
                yield self._tool_result(message)

    def _model_message(self, message: AIMessage) -> Iterator[AgentEvent]:
        for key, value in (message.usage_metadata or {}).items():
            if key in self.usage and isinstance(value, int):
                self.usage[key] += value
        text = text_of(message.content)
        if text and message.id not in self.streamed:
            if self.parts:
                text = "\n\n" + text
            self.parts.append(text)
            yield AgentEvent("token", {"text": text})
        for call in message.tool_calls:
            yield AgentEvent(
                "tool_call",
                {"name": call["name"], "arguments": call["args"], "call_id": call["id"]},
            )
            spec = self.registry.get(call["name"])
            if spec is not None:
                yield AgentEvent("status", {"text": spec.status})

    def _tool_result(self, message: ToolMessage) -> AgentEvent:
        data: dict[str, Any] = {
            "name": message.name,
            "call_id": message.tool_call_id,
            "summary": summarize(message),
            "ok": message.status != "error",
        }
        artifact = message.artifact
        if isinstance(artifact, dict) and len(json.dumps(artifact, default=str)) <= MAX_EVENT_DATA:
            data["data"] = artifact
        return AgentEvent("tool_result", data)
