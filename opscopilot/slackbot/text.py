"""Text between Slack and the agent: questions in, escaped and split answers out.

Everything the model or the data writes is escaped before Slack sees it (OWASP LLM05): the
three mrkdwn control characters become entities, so no `<!channel>`, `<@U…>` or
`<http://x|y>` survives; `@channel` / `@here` / `@everyone` get a word joiner; a Markdown
link `[label](url)` shows its real target. `SafeText` does the same to a token stream,
holding back a tail that might still become one of those patterns.
"""

from __future__ import annotations

import math
import re

from opscopilot.core.errors import OpsCopilotError, RateLimited

# Slack's limit for markdown_text per call and for a markdown block.
TEXT_LIMIT = 12_000

_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)
_MD_LINK = re.compile(r"\[([^\]\n]{0,500})\]\(([^)\s]{1,2000})\)")
# A tail that may still grow into a link or a broadcast mention.
_LINK_PREFIX = re.compile(r"\[[^\]\n]{0,500}(?:\](?:\([^)\s]{0,2000})?)?\Z")
_MENTION_PREFIX = re.compile(r"@[A-Za-z]{0,8}\Z")
_WORD_JOINER = "\u2060"
_SLACK_MARKUP = re.compile(r"<([^<>\n]+)>")
_ENTITY_MAX = len("&amp;")


def escape(text: str) -> str:
    """Complete text from the model or the data, made inert for Slack."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _BROADCAST.sub(lambda m: "@" + _WORD_JOINER + m.group(1), text)
    return _MD_LINK.sub(_show_target, text)


def _show_target(match: re.Match[str]) -> str:
    label, url = match.group(1), match.group(2)
    return url if label.strip() in ("", url) else f"{label} ({url})"


class SafeText:
    """Escapes a stream of fragments; `feed` returns what is safe to send now."""

    def __init__(self) -> None:
        self._held = ""

    def feed(self, fragment: str) -> str:
        text = self._held + fragment
        end = len(text)
        for pattern in (_LINK_PREFIX, _MENTION_PREFIX):
            found = pattern.search(text)
            if found is not None:
                end = min(end, found.start())
        # A tail that looks like a link's start may begin inside a complete link ("[](["
        # + ")" holds "[)"): the link is kept whole, or its halves would be escaped apart.
        for link in _MD_LINK.finditer(text):
            if link.start() < end < link.end():
                end = link.start()
                break
        self._held = text[end:]
        return escape(text[:end])

    def flush(self) -> str:
        text, self._held = self._held, ""
        return escape(text)


def cut_point(text: str, limit: int) -> int:
    """Where to split escaped `text` so the first part has at most `limit` characters.

    A line break in the second half of the window is preferred, then a space; an entity
    such as `&amp;` is never cut in two (so the answer is 0 when `text` opens with an
    entity longer than `limit`).
    """
    if len(text) <= limit:
        return len(text)
    window = text[:limit]
    cut = window.rfind("\n", limit // 2) + 1 or window.rfind(" ", limit // 2) + 1 or limit
    amp = text.rfind("&", max(0, cut - _ENTITY_MAX + 1), cut)
    if amp >= 0 and ";" not in text[amp:cut]:
        cut = amp
    return cut


def split(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Escaped text in parts of at most `limit` characters; joined they give it back."""
    parts: list[str] = []
    while len(text) > limit:
        cut = cut_point(text, limit) or limit
        parts.append(text[:cut])
        text = text[cut:]
    if text or not parts:
        parts.append(text)
    return parts


def question_from(text: str, *, bot_user_id: str | None) -> str:
    """A Slack message as plain text for the agent: the bot's own mention removed, other
    mentions, channels and links written out, entities decoded."""

    def plain(match: re.Match[str]) -> str:
        target, _, label = match.group(1).partition("|")
        if bot_user_id and target == f"@{bot_user_id}":
            return ""
        if target[:1] in ("@", "#"):
            return target[0] + (label or target[1:])
        if target.startswith("!"):
            return "@" + (label or target[1:].split("^")[0])
        return f"{label} ({target})" if label and label != target else target

    text = _SLACK_MARKUP.sub(plain, text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return text.strip()


def refusal(exc: OpsCopilotError) -> str:
    """What a person reads when a question is refused before the agent runs."""
    if isinstance(exc, RateLimited):
        wait = max(1, math.ceil(exc.retry_after))
        return f"Please slow down a little: {exc.message}. Try again in {wait} s."
    return exc.message
