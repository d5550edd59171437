"""The agent's StateGraph.

    START -> prepare -> model -> (read/draft calls) tools -> model ...
                              -> (a write call)      approval -> execute -> model ...
                              -> (no calls)          END

`prepare` starts a turn: it resets the turn's budgets and repairs a history left broken by
a crashed run. Read and draft calls of one model message run together in the tool node;
write calls then go one at a time through approval and execute. Budgets: the model node
stops with a polite answer when the steps or tokens of the turn run out, and the runner
catches the recursion limit as a last resort.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import RemoveMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import REMOVE_ALL_MESSAGES
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode
from langgraph.types import Send

from opscopilot.agent.approval import make_approval_node, make_execute_node, next_gated, unanswered
from opscopilot.agent.llm import ModelChain
from opscopilot.agent.model_node import make_model_node
from opscopilot.agent.repair import repaired
from opscopilot.agent.state import AgentState
from opscopilot.tools.context import ToolContext
from opscopilot.tools.observe import observe_tool_call
from opscopilot.tools.registry import ToolRegistry
from opscopilot.tools.scrub import tool_error_message


def prepare(state: AgentState) -> dict[str, Any]:
    update: dict[str, Any] = {"turn_tokens": 0, "turn_model_calls": 0, "approved": None}
    fixed = repaired(state["messages"])
    if fixed is not None:
        update["messages"] = [RemoveMessage(id=REMOVE_ALL_MESSAGES), *fixed]
    return update


def build_graph(
    *,
    chain: ModelChain,
    registry: ToolRegistry,
    max_steps: int,
    token_budget: int,
    checkpointer: BaseCheckpointSaver[Any] | None,
) -> CompiledStateGraph[AgentState, ToolContext, AgentState, AgentState]:
    tool_node = ToolNode(
        [spec.tool for spec in registry.runnable()],
        handle_tool_errors=tool_error_message,
        awrap_tool_call=observe_tool_call,
    )

    def after_model(state: AgentState) -> Any:
        calls = unanswered(state["messages"])
        if not calls:
            return END
        plain = [c for c in calls if not registry.gated(c["name"])]
        if plain:
            # One Send with the list: the tool node runs them concurrently in one step.
            return [Send("tools", plain)]
        return "approval"

    def after_tools(state: AgentState) -> str:
        return "approval" if next_gated(state["messages"], registry) else "model"

    def after_approval(state: AgentState) -> str:
        return "execute" if state.get("approved") else after_tools(state)

    graph = StateGraph(AgentState, context_schema=ToolContext)
    graph.add_node("prepare", prepare)
    graph.add_node("model", make_model_node(chain, max_steps=max_steps, token_budget=token_budget))
    graph.add_node("tools", tool_node)
    graph.add_node("approval", make_approval_node(registry))
    graph.add_node("execute", make_execute_node(registry))
    graph.add_edge(START, "prepare")
    graph.add_edge("prepare", "model")
    graph.add_conditional_edges("model", after_model, ["tools", "approval", END])
    graph.add_conditional_edges("tools", after_tools, ["approval", "model"])
    graph.add_conditional_edges("approval", after_approval, ["execute", "approval", "model"])
    graph.add_conditional_edges("execute", after_tools, ["approval", "model"])
    return graph.compile(checkpointer=checkpointer, name="opscopilot")


def recursion_limit(max_steps: int) -> int:
    """Supersteps for `max_steps` model calls: each round is a model step and a tool (or
    approval + execute) step, plus `prepare` and a final answer."""
    return 3 * max_steps + 4
