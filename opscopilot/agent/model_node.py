"""The model node: system prompt + history -> one guarded model call, within the budgets."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, SystemMessage
from langgraph.config import get_stream_writer
from langgraph.runtime import Runtime

from opscopilot.agent.llm import ModelChain, call_model
from opscopilot.agent.policy import SiteRules
from opscopilot.agent.repair import repaired
from opscopilot.agent.state import AgentState
from opscopilot.prompts import render
from opscopilot.tools.context import ToolContext

# Supersteps a tool round needs after this one (tools or approval + execute, then model).
STEPS_PER_ROUND = 3


def system_prompt(ctx: ToolContext) -> str:
    return render(
        "system",
        plant_name=ctx.settings.plant_name,
        site=ctx.site,
        role=ctx.principal.role,
        today=ctx.today.isoformat(),
    )


class TokenCoalescer:
    """The model's streamed text, written to the graph's custom stream once per turn of
    the event loop rather than once per chunk.

    Chunks that arrive together (one network read holds several when the loop is busy, as
    under load) become one token event: one trip through LangGraph's stream, the runner,
    the SSE frame and the event store instead of one per chunk. A chunk that arrives alone
    goes out as soon as the model's task waits for the next one, so nothing is held back.
    Events are stored as sent, so a replay is the same."""

    def __init__(self, write: Callable[[dict[str, Any]], None]) -> None:
        self.write = write
        self.parts: list[str] = []
        self.message_id: str | None = None
        self.pending: asyncio.Handle | None = None

    def add(self, text: str, message_id: str) -> None:
        if self.parts and message_id != self.message_id:
            self.flush()
        self.parts.append(text)
        self.message_id = message_id
        if self.pending is None:
            self.pending = asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        if self.pending is not None:
            self.pending.cancel()
            self.pending = None
        if self.parts:
            text, self.parts = "".join(self.parts), []
            self.write({"token": text, "message_id": self.message_id})


def make_model_node(chain: ModelChain, *, max_steps: int, token_budget: int) -> Any:
    site_rules = SiteRules()

    async def model(state: AgentState, runtime: Runtime[ToolContext]) -> dict[str, Any]:
        calls = state.get("turn_model_calls", 0)
        used = state.get("turn_tokens", 0)
        if used >= token_budget:
            text = render("messages/token_budget", budget=token_budget)
            return {"messages": [AIMessage(content=text)]}
        if calls >= max_steps or state["remaining_steps"] <= STEPS_PER_ROUND:
            return {"messages": [AIMessage(content=render("messages/step_budget", steps=calls))]}
        history = state["messages"]
        history = repaired(history) or history
        messages: list[BaseMessage] = [SystemMessage(system_prompt(runtime.context)), *history]
        ctx = runtime.context
        rules = await site_rules(ctx.db, chain.llm_settings, site=ctx.site)
        # A model called through litellm streams its tokens on the graph's custom stream
        # (`agent/streaming.py` reads them); a LangChain chat model through messages mode.
        streamed = TokenCoalescer(get_stream_writer())
        try:
            answer = await call_model(
                chain, messages, site=ctx.site, rules=rules, on_token=streamed.add
            )
        finally:  # what streamed reaches the person before the answer or the error does
            streamed.flush()
        tokens = answer.usage_metadata["total_tokens"] if answer.usage_metadata else 0
        return {
            "messages": [answer],
            "turn_tokens": used + tokens,
            "turn_model_calls": calls + 1,
        }

    return model
