"""Short, scrubbed error texts for the model and the chat: no DSNs, hosts, paths or traces.

A tool error goes back to the model as a ToolMessage and may be quoted to the person, so
it must say what went wrong in domain words and nothing that locates or unlocks
infrastructure. Our own domain errors are written for people and pass (scrubbed anyway);
anything else (a driver error, a bug) becomes its kind only.
"""

from __future__ import annotations

import re

from opscopilot.core.errors import OpsCopilotError

MAX_CHARS = 300

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    # URLs and DSNs first: they hold credentials, hosts and paths.
    (re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://\S+"), "<url>"),
    (re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"), "<email>"),
    (re.compile(r"(?i)\b(bearer|basic)\s+\S+"), r"\1 <redacted>"),
    (
        re.compile(
            r"(?i)\b(password|passwd|pwd|secret|token|api[_-]?key|user(?:name)?|dbname|"
            r"host(?:addr)?|port|sslmode|server)(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|\S+)"
        ),
        r"\1\2<redacted>",
    ),
    (re.compile(r"(?i)(server at|connection to|connect to)\s+\S+(\s*\([^)]*\))?"), r"\1 <host>"),
    (re.compile(r"(?i)\b(?:for|of) (user|role|database) \"[^\"]*\""), r'for \1 "<redacted>"'),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"), "<ip>"),
    (re.compile(r"(?i)(?<![\w:])(?=[0-9a-f:]*::)[0-9a-f:]{2,39}(?![\w:])"), "<ip>"),
    (re.compile(r"(?<![\w.])(?:~|\.{1,2})?/(?:[\w.@+-]+/)+[\w.@+-]*"), "<path>"),
    (re.compile(r"\b[A-Za-z]:\\\S*"), "<path>"),
    (
        re.compile(
            r"(?i)\b(?:[a-z0-9-]+\.)+(?:com|net|org|io|ai|dev|cloud|local|internal|lan|corp|"
            r"svc|cluster|example|test)\b(?::\d+)?"
        ),
        "<host>",
    ),
)
# Driver errors quote the statement and its parameters after these markers.
_CUT_MARKERS = ("\n[SQL:", "[SQL:", "\nDETAIL:", "(Background on this error", "\nTraceback")


def scrub_text(text: str) -> str:
    for marker in _CUT_MARKERS:
        cut = text.find(marker)
        if cut >= 0:
            text = text[:cut]
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    text = " ".join(text.split())
    if len(text) > MAX_CHARS:
        text = text[: MAX_CHARS - 3] + "..."
    return text


def describe_error(exc: BaseException) -> str:
    """What the model (and the person) may read about a failed tool call."""
    if isinstance(exc, OpsCopilotError):
        return scrub_text(exc.message)
    kind = type(exc).__name__
    if "Timeout" in kind or isinstance(exc, TimeoutError):
        return "the lookup timed out; try again or narrow the question"
    module = type(exc).__module__
    if module.startswith(("sqlalchemy", "asyncpg", "psycopg")):
        return "the database could not answer this lookup right now"
    if module.startswith(("httpx", "aiohttp")):
        return "an upstream system could not be reached"
    if isinstance(exc, ValueError | TypeError | KeyError | LookupError):
        message = scrub_text(str(exc))
        return f"invalid request: {message}" if message else "invalid request"
    return f"internal error ({kind})"


def tool_error_message(exc: Exception) -> str:
    """ToolNode's `handle_tool_errors`: the graph continues with this as the tool result."""
    from langgraph.prebuilt.tool_node import ToolInvocationError

    if isinstance(exc, ToolInvocationError):
        # Argument validation: the model can fix these; no infrastructure in them.
        return scrub_text(f"Error: {exc.message}") + " Please fix the arguments."
    return f"Error: {describe_error(exc)}"
