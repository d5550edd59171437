"""The LangGraph agent: state, model node (litellm or offline), tools, approvals, memory."""
