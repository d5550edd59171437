"""A configured model called through litellm itself, without a LangChain chat model around it.

Behind `ChatLiteLLM`, every streamed chunk is turned into a dict and back into a LangChain
chunk, fanned out through the callback managers (LangGraph's messages mode is one of
them), merged into the growing message, and merged once more by the caller: about as much
CPU again as litellm's own work, on the path that every token of every chat takes. Here a
chunk's text goes straight to a token sink (the graph's custom stream) and the message is
built once, at its end. The offline model and scripted test models stay LangChain chat
models (`llm.py` runs both kinds under the same deadline, watchdog, retries and fallback).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, convert_to_openai_messages
from langchain_core.messages.tool import invalid_tool_call, tool_call
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_core.utils.json import parse_partial_json

from opscopilot.core.settings import LLMSettings

# Receives each piece of streamed text with the id of the message it belongs to.
TokenSink = Callable[[str, str], None]


@dataclass(frozen=True)
class LiteLLMModel:
    """One model string with its call parameters and the tools it may call."""

    model: str
    params: dict[str, Any]
    tools: tuple[dict[str, Any], ...] = ()

    @classmethod
    def create(cls, model: str, settings: LLMSettings, tools: Sequence[BaseTool]) -> LiteLLMModel:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        import litellm

        litellm.suppress_debug_info = True
        params: dict[str, Any] = {
            "temperature": settings.temperature,
            # Our watchdog owns time and retries; litellm's and the provider SDK's own
            # (the OpenAI client retries 5xx twice) would stack on top of them.
            "timeout": settings.call_deadline_s,
            "max_retries": 0,
        }
        if settings.api_base:
            params["api_base"] = settings.api_base
        if settings.api_key is not None:
            params["api_key"] = settings.api_key.get_secret_value()
        return cls(model, params, tuple(convert_to_openai_tool(t) for t in tools))

    async def stream(self, messages: Sequence[BaseMessage]) -> AsyncGenerator[Any, None]:
        """litellm's streamed chunks for one call (opening the call is the first step)."""
        import litellm

        request: dict[str, Any] = {
            "model": self.model,
            "messages": convert_to_openai_messages(list(messages)),
            "stream": True,
            "stream_options": {"include_usage": True},
            **self.params,
        }
        if self.tools:
            request["tools"] = list(self.tools)
        response = await litellm.acompletion(**request)
        try:
            async for chunk in response:
                yield chunk
        finally:
            aclose = getattr(response, "aclose", None)
            if aclose is not None:
                await aclose()


@dataclass
class Assembly:
    """The message a stream adds up to: text, tool calls by index, usage."""

    message_id: str = field(default_factory=lambda: f"run-{uuid.uuid4()}")
    text: list[str] = field(default_factory=list)
    calls: dict[int, dict[str, Any]] = field(default_factory=dict)
    usage: Any = None
    finish_reason: str | None = None

    def add(self, chunk: Any) -> str:
        """Take one chunk in; returns its text (may be empty)."""
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.usage = usage
        choices = getattr(chunk, "choices", None)
        if not choices:
            return ""
        choice = choices[0]
        if choice.finish_reason:
            self.finish_reason = choice.finish_reason
        delta = choice.delta
        for fragment in getattr(delta, "tool_calls", None) or ():
            self._call_fragment(fragment)
        text = delta.content if isinstance(delta.content, str) else ""
        if text:
            self.text.append(text)
        return text

    def _call_fragment(self, fragment: Any) -> None:
        index = fragment.index if isinstance(fragment.index, int) else len(self.calls)
        slot = self.calls.setdefault(index, {"id": None, "name": [], "args": []})
        if fragment.id:
            slot["id"] = fragment.id
        function = fragment.function
        if function is not None:
            if function.name:
                slot["name"].append(function.name)
            if function.arguments:
                slot["args"].append(function.arguments)

    def message(self, model: str) -> AIMessage:
        calls, invalid = [], []
        for index in sorted(self.calls):
            slot = self.calls[index]
            name, raw = "".join(slot["name"]), "".join(slot["args"])
            # A provider that leaves out call ids (some Ollama models) still gets a
            # history the next request accepts.
            call_id = slot["id"] or f"call_{uuid.uuid4().hex[:24]}"
            try:
                args = parse_partial_json(raw) if raw else {}
            except ValueError:
                args = None
            if isinstance(args, dict):
                calls.append(tool_call(name=name, args=args, id=call_id))
            else:
                invalid.append(invalid_tool_call(name=name, args=raw, id=call_id, error=None))
        usage = None
        if self.usage is not None:
            prompt = int(getattr(self.usage, "prompt_tokens", 0) or 0)
            completion = int(getattr(self.usage, "completion_tokens", 0) or 0)
            total = int(getattr(self.usage, "total_tokens", 0) or prompt + completion)
            usage = {"input_tokens": prompt, "output_tokens": completion, "total_tokens": total}
        metadata: dict[str, Any] = {"model_name": model, "model_provider": "litellm"}
        if self.finish_reason:
            metadata["finish_reason"] = self.finish_reason
        return AIMessage(
            content="".join(self.text),
            tool_calls=calls,
            invalid_tool_calls=invalid,
            usage_metadata=usage,  # type: ignore[arg-type]
            response_metadata=metadata,
            id=self.message_id,
        )
