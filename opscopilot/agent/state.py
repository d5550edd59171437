"""The graph's state: the conversation plus this turn's budgets and approval bookkeeping."""

from __future__ import annotations

from typing import Annotated, Any, NotRequired

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from langgraph.managed import RemainingSteps
from typing_extensions import TypedDict


class AgentState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    # Reset at the start of each turn (the `prepare` node).
    turn_tokens: NotRequired[int]
    turn_model_calls: NotRequired[int]
    # Set by the approval node for the execute node: {"call_id", "approval_id"}.
    approved: NotRequired[dict[str, Any] | None]
    remaining_steps: RemainingSteps
