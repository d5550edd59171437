"""Chat benchmark: `python -m bench.chat.run`. Time to first token and total time of concurrent
chats through the full stack (HTTP -> graph -> litellm -> SSE) against a bare FastAPI SSE
relay of the same stand-in LLM stream, measured in the same run."""
