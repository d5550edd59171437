"""The scripted chat model and its message helpers (they live with the evaluation suite)."""

from opscopilot.agent.eval.scripted import ScriptedChatModel, call, calls, say

__all__ = ["ScriptedChatModel", "call", "calls", "say"]
