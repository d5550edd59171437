"""Scrub model error messages before they are stored, returned or shown to the agent.

A model's exception text can carry a DSN, a file path, a hostname or a token (a plugin
that reads a database, a traceback line). We keep the exception type and the gist of the
message and replace everything that locates or unlocks infrastructure.
"""

from __future__ import annotations

import re

MAX_MESSAGE_CHARS = 500

_HOST_SUFFIXES = (
    "com|net|org|io|ai|dev|cloud|local|localdomain|internal|intra|lan|corp|home|int|svc|"
    "cluster|arpa|example|test|invalid"
)

# Order matters: URLs (which hold DSN credentials) go before hosts and paths inside them.
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+"), "<url>"),
    (re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"), "<email>"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[\w.~+/-]+=*"), r"\1 <redacted>"),
    (re.compile(r"(?i)\b(user|role|database)\s+\"[^\"]*\""), r'\1 "<redacted>"'),
    (
        re.compile(
            r"(?i)\b(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|"
            r"authorization|user(?:name)?|dbname)(\s*[=:]\s*)(?:\"[^\"]*\"|'[^']*'|\S+)"
        ),
        r"\1\2<redacted>",
    ),
    (
        re.compile(r"(?i)\b(host(?:name|addr)?|server)(\s*[=:]\s*)['\"]?[\w.:-]+['\"]?"),
        r"\1\2<host>",
    ),
    (re.compile(r"(?i)(server at\s+)\"[^\"]+\""), r'\1"<host>"'),
    (re.compile(r"\b[A-Za-z]:\\[^\s'\"]*"), "<path>"),
    (re.compile(r"(?<![\w.~])(?:~|\.{1,2})?/(?:[\w.@+-]+/)*[\w.@+-]+/?"), "<path>"),
    (re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b"), "<ip>"),
    # IPv6 only when unmistakable ("::" or eight groups), so "12:30:45" stays a time.
    (re.compile(r"(?i)(?<![\w:])(?=[0-9a-f:]*::)[0-9a-f:]{2,39}(?![\w:])"), "<ip>"),
    (re.compile(r"(?i)\b(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}\b"), "<ip>"),
    (
        re.compile(
            r"(?i)\b(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:" + _HOST_SUFFIXES + r")\b"
            r"(?::\d{1,5})?"
        ),
        "<host>",
    ),
)


def scrub_message(text: str) -> str:
    """Remove URLs/DSNs, credentials, paths, IPs and hostnames; cap the length."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    text = " ".join(text.split())
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 3] + "..."
    return text


def describe_exception(exc: BaseException) -> str:
    """`TypeName: scrubbed message`; the traceback (full of paths) is never included."""
    message = scrub_message(str(exc))
    name = type(exc).__name__
    return f"{name}: {message}" if message else name
