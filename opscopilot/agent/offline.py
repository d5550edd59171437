"""The built-in offline model: deterministic, no download, no network.

A LangChain chat model so the graph cannot tell it from a real one. Each step reads the
turn so far (the person's last question and the tool results after it), parses the
question into an intent (`intents.py`) and either makes the next tool call, exactly as a
real model would, or answers from the tool results with a template from `prompts/answers`.
Answers quote tool results only, and say that the offline model wrote them. The answer
streams word by word, so surfaces show streaming as with a real model.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    ToolMessage,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

from opscopilot.agent import scheduled_tasks
from opscopilot.agent.intents import parse
from opscopilot.prompts import render
from opscopilot.tools.base import unwrap_data

# intent -> the tool that answers it
TOOL_FOR = {
    "stock": "get_inventory",
    "find": "find_items",
    "item": "get_item",
    "days_of_cover": "days_of_cover",
    "stockout_risk": "stockout_risk",
    "scrap_rate": "scrap_rate",
    "supplier_on_time": "supplier_on_time",
    "documents": "search_documents",
    "ingestion_health": "ingestion_health",
    "batch_status": "batch_status",
    "forecast": "run_forecast",
    "get_forecast": "get_forecast",
    "explain_forecast": "explain_forecast",
    "what_if": "what_if",
    "alerts": "active_alerts",
    "alert_action": "alert_action",
    "notify": "send_notification",
    "set_preferences": "set_preferences",
    "list_models": "list_models",
    "run_model": "run_model",
    "draft_action": "draft_action_request",
    "action_status": "action_status",
    "submit_action": "submit_action_request",
}


@dataclass(frozen=True)
class Result:
    name: str
    data: dict[str, Any] | None
    error: str | None


def _turn(messages: Sequence[BaseMessage]) -> tuple[str, list[Result]]:
    last_human = max((i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=-1)
    question = str(messages[last_human].content) if last_human >= 0 else ""
    results: list[Result] = []
    for message in messages[last_human + 1 :]:
        if not isinstance(message, ToolMessage):
            continue
        data = message.artifact if isinstance(message.artifact, dict) else None
        if data is None:
            data = unwrap_data(str(message.content))
        error = str(message.content) if message.status == "error" else None
        results.append(Result(message.name or "", data, error))
    return question, results


def _call(name: str, args: dict[str, Any]) -> AIMessage:
    call_id = "call_" + uuid.uuid4().hex[:12]
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id}])


def _answer(template: str, **variables: Any) -> AIMessage:
    text = render(template, **variables)
    return AIMessage(content=f"{text}\n\n{render('messages/offline_note')}")


def _latest(results: list[Result], name: str) -> Result | None:
    return next((r for r in reversed(results) if r.name == name), None)


def plan(question: str, results: list[Result], tool_names: frozenset[str]) -> AIMessage:
    """The next step of the turn: a tool call, or the answer."""
    task = scheduled_tasks.parse_task(question)
    if task is not None:
        return _plan_task(task, results, tool_names)
    intent = parse(question)
    if intent is None:
        return _answer("answers/help", question=question, tools=sorted(tool_names))
    tool = TOOL_FOR[intent.name]
    if tool not in tool_names:
        return _answer("answers/unavailable", intent=intent.name, tool=tool)
    args = dict(intent.args)

    if intent.item_query is not None and "sku" not in args:
        if not intent.item_query:
            return _answer("answers/need_item", intent=intent.name)
        found = _latest(results, "find_items")
        if found is None:
            if "find_items" not in tool_names:
                return _answer("answers/need_item", intent=intent.name)
            return _call("find_items", {"query": intent.item_query, "limit": 5})
        items = (found.data or {}).get("items") or []
        if found.error or not items:
            return _answer("answers/no_match", query=intent.item_query, error=found.error)
        args["sku"] = items[0]["sku"]

    if intent.name == "submit_action" and args.get("action_id") == "last":
        listed = _latest(results, "action_status")
        if listed is None:
            return _call("action_status", {"status": "draft", "limit": 1})
        drafts = (listed.data or {}).get("actions") or []
        if not drafts:
            return _answer("answers/no_draft")
        args["action_id"] = drafts[0]["id"]

    if intent.name == "alert_action" and "alert_id" not in args:
        listed = _latest(results, "active_alerts")
        if listed is None:
            return _call("active_alerts", {"sku": args["sku"], "limit": 1})
        alerts = (listed.data or {}).get("alerts") or []
        if not alerts:
            return _answer("answers/no_alert", sku=args["sku"])
        args = {"alert_id": alerts[0]["id"], "action": args["action"]}

    done = _latest(results, tool)
    if done is None:
        return _call(tool, args)
    if done.error:
        if done.data and "outcome" in done.data:  # a write refused, rejected or unknown
            return _answer("answers/not_done", text=_strip_error(done.error))
        return _answer("answers/error", tool=tool, error=_strip_error(done.error))
    return _answer(f"answers/{intent.name}", r=done.data or {}, args=args, question=question)


def _plan_task(
    task: scheduled_tasks.ScheduledTask, results: list[Result], tool_names: frozenset[str]
) -> AIMessage:
    """A scheduled run's summary or briefing: every fact-giving call at once, then the
    task's template over their results (no offline note: it is posted to a channel)."""
    calls = scheduled_tasks.required_calls(task)
    for call in calls:
        if call.name not in tool_names:
            return _answer("answers/unavailable", intent=task.kind, tool=call.name)
    missing = [c for c in calls if _latest(results, c.name) is None]
    if missing:
        return AIMessage(
            content="",
            tool_calls=[
                {"name": c.name, "args": c.args, "id": "call_" + uuid.uuid4().hex[:12]}
                for c in missing
            ],
        )
    done = {c.name: _latest(results, c.name) for c in calls}
    for name, result in done.items():
        if result is None or result.error:
            error = _strip_error(result.error or "") if result else "no result"
            return _answer("answers/error", tool=name, error=error)
    data = {name: r.data or {} for name, r in done.items() if r is not None}
    return AIMessage(content=scheduled_tasks.template_text(task, data))


def _strip_error(text: str) -> str:
    return re.sub(r"^Error:\s*", "", text).strip()


def _usage(messages: Sequence[BaseMessage], output: AIMessage) -> UsageMetadata:
    # A rough count (4 characters a token) so the per-turn budget works offline too.
    seen = sum(len(str(m.content)) for m in messages) // 4
    made = (len(str(output.content)) + len(json.dumps(output.tool_calls))) // 4
    return {"input_tokens": seen, "output_tokens": made, "total_tokens": seen + made}


def _pieces(text: str) -> Iterator[str]:
    for match in re.finditer(r"\S+\s*|\s+", text):
        yield match.group(0)


class OfflineChatModel(BaseChatModel):
    """Deterministic stand-in for an LLM; `bind_tools` returns itself."""

    tool_names: frozenset[str] = Field(default_factory=frozenset)

    @property
    def _llm_type(self) -> str:
        return "opscopilot-offline"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> OfflineChatModel:  # type: ignore[override]
        return self

    def _respond(self, messages: Sequence[BaseMessage]) -> AIMessage:
        question, results = _turn(messages)
        message = plan(question, results, self.tool_names)
        message.usage_metadata = _usage(messages, message)
        return message

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._respond(messages))])

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        message = self._respond(messages)
        if message.tool_calls:
            chunks = [
                {"name": c["name"], "args": json.dumps(c["args"]), "id": c["id"], "index": i}
                for i, c in enumerate(message.tool_calls)
            ]
            yield ChatGenerationChunk(
                message=AIMessageChunk(
                    content="", tool_call_chunks=chunks, usage_metadata=message.usage_metadata
                )
            )
            return
        pieces = list(_pieces(str(message.content)))
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            yield ChatGenerationChunk(
                message=AIMessageChunk(
                    content=piece, usage_metadata=message.usage_metadata if last else None
                )
            )
