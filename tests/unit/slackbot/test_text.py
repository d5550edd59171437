"""Escaping, streaming escape and splitting of what the bot writes to Slack."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from opscopilot.slackbot.text import SafeText, cut_point, escape, question_from, split

# What must never reach Slack from the model or the data.
_CONTROL = re.compile(r"<[!@#]|<https?:|@(channel|here|everyone)\b|\]\(", re.IGNORECASE)

INJECTIONS = [
    "<!channel> stock is fine",
    "ping <!here|here> and <!everyone>",
    "ask <@U012ABCDEF> or <@W0123|boss>",
    "see <#C0123|ops>",
    "click <http://evil.example/login|the ERP>",
    "@channel @Here @everyone",
    "[your invoice](http://phish.example/x)",
    "a & b < c > d",
]


def test_escape_neutralises_every_control_sequence() -> None:
    for text in INJECTIONS:
        escaped = escape(text)
        assert not _CONTROL.search(escaped), (text, escaped)


def test_escape_keeps_the_meaning_visible() -> None:
    assert escape("<!channel> now") == "&lt;!channel&gt; now"
    assert escape("a & b") == "a &amp; b"
    assert escape("[invoice](http://phish.example/x)") == "invoice (http://phish.example/x)"
    assert escape("[http://a.example](http://a.example)") == "http://a.example"
    assert escape("hi @channel!") == "hi @\u2060channel!"
    assert escape("write to ops@channels.example") == "write to ops@channels.example"


def test_streamed_fragments_cannot_assemble_a_mention_or_link() -> None:
    fragments = ["tell @ch", "annel that [cl", "ick](http://ph", "ish.example) and <!", "here>"]
    safe = SafeText()
    sent = "".join(safe.feed(f) for f in fragments) + safe.flush()
    assert sent == escape("".join(fragments))
    assert not _CONTROL.search(sent)


# A busy CI box must not fail these on generation time.
relaxed = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@relaxed
@given(st.lists(st.text(alphabet="ab<>&@[]()!: \nchanelhr", max_size=8), max_size=20))
@example(["[", "]([", ")"])  # a link's look-alike start inside a complete link
def test_streaming_escape_equals_escaping_the_whole(fragments: list[str]) -> None:
    safe = SafeText()
    sent = "".join(safe.feed(f) for f in fragments) + safe.flush()
    assert sent == escape("".join(fragments))


def test_a_tail_that_can_no_longer_be_a_link_is_released() -> None:
    safe = SafeText()
    assert safe.feed("see [1] for details") == "see [1] for details"
    assert safe.feed("array[") == "array"
    assert safe.feed("0] = 1\n") == "[0] = 1\n"


def test_split_keeps_every_character_and_respects_the_limit() -> None:
    text = escape(("line with <tags> & entities\n" * 900) + "x" * 13_000)
    parts = split(text, 12_000)
    assert "".join(parts) == text
    assert all(0 < len(p) <= 12_000 for p in parts)
    assert parts[0].endswith("\n")  # split on a line break when one is near the end


def test_split_never_cuts_an_entity() -> None:
    text = "x" * 9 + "&amp;" + "y" * 20
    for limit in range(10, 15):
        cut = cut_point(text, limit)
        assert text[:cut].count("&") == text[:cut].count(";")
    assert cut_point("&amp;rest", 3) == 0
    assert split("&amp;" * 3, 3) and "".join(split("&amp;" * 3, 3)) == "&amp;" * 3


@relaxed
@given(st.text(alphabet="ab &;\n", max_size=300), st.integers(min_value=6, max_value=50))
def test_split_round_trips(text: str, limit: int) -> None:
    escaped = escape(text)
    parts = split(escaped, limit)
    assert "".join(parts) == escaped
    assert all(len(p) <= limit for p in parts)


def test_question_from_a_slack_message() -> None:
    text = (
        "<@U0BOT> how much ITEM-001 for <@U1|bob> in <#C1|plant-ops>? "
        "see <https://erp.example/x|the ERP> &lt;urgent&gt; <!here>"
    )
    assert question_from(text, bot_user_id="U0BOT") == (
        "how much ITEM-001 for @bob in #plant-ops? "
        "see the ERP (https://erp.example/x) <urgent> @here"
    )
    assert question_from("<@U0BOT>", bot_user_id="U0BOT") == ""
