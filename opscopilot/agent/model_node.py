"""The model node: system prompt + history -> one guarded model call, within the budgets."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, SystemMessage
from langgraph.config import get_stream_writer
from langgraph.runtime import Runtime

from opscopilot.agent.llm import ModelChain, call_model
from opscopilot.agent.policy import site_rules
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


def make_model_node(chain: ModelChain, *, max_steps: int, token_budget: int) -> Any:
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
        writer = get_stream_writer()

        def on_token(text: str, message_id: str) -> None:
            writer({"token": text, "message_id": message_id})

        answer = await call_model(chain, messages, site=ctx.site, rules=rules, on_token=on_token)
        tokens = answer.usage_metadata["total_tokens"] if answer.usage_metadata else 0
        return {
            "messages": [answer],
            "turn_tokens": used + tokens,
            "turn_model_calls": calls + 1,
        }

    return model
