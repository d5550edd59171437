"""A scripted chat model: plays back AIMessages whatever it is told, and records what it saw.

LangChain's fake chat models cannot bind tools; this one binds them by returning itself.
The evaluation's injection cases use it to play a model that obeys planted instructions;
graph tests use it to script tool calls. It answers in whole messages (no token stream).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatResult
from pydantic import Field


class ScriptedChatModel(FakeMessagesListChatModel):
    seen: list[list[BaseMessage]] = Field(default_factory=list)

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:  # type: ignore[override]
        return self

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        self.seen.append(list(messages))
        result = super()._generate(messages, *args, **kwargs)
        # A fresh message each time (the script cycles): new message and tool-call ids, as
        # a real model gives.
        message = result.generations[0].message
        assert isinstance(message, AIMessage)
        result.generations[0].message = message.model_copy(
            update={
                "id": None,
                "tool_calls": [
                    {**c, "id": "call_" + uuid.uuid4().hex[:10]} for c in message.tool_calls
                ],
            }
        )
        return result


def calls(*pairs: tuple[str, dict[str, Any]]) -> AIMessage:
    """A model message making these tool calls at once."""
    return AIMessage(
        content="",
        tool_calls=[
            {"name": n, "args": a, "id": "call_" + uuid.uuid4().hex[:10]} for n, a in pairs
        ],
    )


def call(name: str, **args: Any) -> AIMessage:
    return calls((name, args))


def say(text: str) -> AIMessage:
    return AIMessage(content=text)
