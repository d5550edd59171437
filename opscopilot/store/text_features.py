"""Text to canonical tokens: the one place item texts and queries are normalised.

Lower case, accents folded, sizes split from their units ("50mm" -> "50 mm", "M8x30" ->
"m8 30"), size codes joined ("DN 50" -> "dn50"), trade shorthand spelled out (see
vocabulary.py) and plurals folded. Pure functions, cached: the same words recur across a
catalogue.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

from opscopilot.store.vocabulary import (
    ABBREVIATIONS,
    INCH_THREAD_PREFIXES,
    MATERIAL_CODES,
    SIZE_PREFIXES,
    STOPWORDS,
    UNITS,
)


def _mixed_fraction(m: re.Match[str]) -> str:
    whole, num, den = (int(g) for g in m.groups())
    return f" {whole + num / den:g} " if den else m.group(0)


_PHRASES: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"\bo[\s\-_]?rings?\b"), " oring "),
    (re.compile(r"\bbuna[\s\-]?n\b"), " nbr "),
    (re.compile(r"\bs/s\b"), " stainless "),
    (re.compile(r"\bv/v\b"), " valve "),
    (re.compile(r"\bw/"), " "),
    (re.compile(r"\bnon[\s\-]?return\b"), " check "),
    (re.compile(r"(?<=\d)\s*v\s*(dc|ac)\b"), r" v\1 "),  # 24 V DC
    (re.compile(r"(?<=\d),(?=\d)"), "."),  # 0,75 kW
    (re.compile(r"(?<=\d)\s*(?:\"|''|”|″)"), " in "),  # 1/2"
    (re.compile(r"(?<=\d)\s*[x×*]\s*(?=\d)"), " x "),  # 50x3, M8x30
    (re.compile(r"(?<![\w/.])(\d+)[\s\-]+(\d+)/(\d+)(?![\d/])"), _mixed_fraction),  # 1 1/2"
    (re.compile(r"[øØ⌀°]"), " "),
)
_SPLIT = re.compile(r"[^a-z0-9./\-]+")
_NUM_UNIT = re.compile(r"^(\d+(?:\.\d+)?|\d+/\d+)([a-z]+)$")
_NUMBER = re.compile(r"^\d+(?:\.\d+)?$|^\d+/\d+$")
_FRACTION = re.compile(r"^\d+/\d+$")
_CODE_GRADE = re.compile(r"^([a-z]+)(\d+)$")
_PREFIXED = re.compile(r"^([a-z]+)(\d+(?:\.\d+)?|\d+/\d+)$")


def fold(text: str) -> str:
    """Lower case without accents, with the phrase-level rewrites applied."""
    text = unicodedata.normalize("NFKD", text.replace("µ", "u").replace("μ", "u"))
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    for pattern, repl in _PHRASES:
        text = pattern.sub(repl, text)
    return text


def _singular(token: str) -> str:
    if len(token) > 4 and token.isalpha() and token.endswith("s"):
        if token.endswith("ies"):
            return token[:-3] + "y"
        if not token.endswith(("ss", "us", "is")):
            return token[:-1]
    return token


def _number(token: str) -> str:
    if "." in token:
        token = token.rstrip("0").rstrip(".") or "0"
    return token


@lru_cache(maxsize=65536)
def _expand(raw: str) -> tuple[str, ...]:
    """One split-off word to canonical tokens (a unit split, an abbreviation, a plural)."""
    raw = raw.strip(".-/")
    if not raw:
        return ()
    if _NUMBER.match(raw):
        return (_number(raw),)
    m = _NUM_UNIT.match(raw)
    if m and (m.group(2) in UNITS or m.group(2) in ABBREVIATIONS):
        return (_number(m.group(1)), *_expand(m.group(2)))
    m = _CODE_GRADE.match(raw)
    if m and m.group(1) in MATERIAL_CODES:
        return (*_expand(m.group(1)), m.group(2))
    if "/" in raw and not _FRACTION.match(raw) and not _PREFIXED.match(raw):
        return tuple(t for part in raw.split("/") for t in _expand(part))
    if raw in ABBREVIATIONS:
        return ABBREVIATIONS[raw]
    if "-" in raw:
        # "6204-2RS" and "4-20" are two tokens; "buna-n" was handled as a phrase
        return tuple(t for part in raw.split("-") for t in _expand(part))
    single = _singular(raw)
    if single in ABBREVIATIONS:
        return ABBREVIATIONS[single]
    return (single,)


@lru_cache(maxsize=4096)  # queries repeat; item texts are tokenised once, on write
def canonical_tokens(text: str) -> tuple[str, ...]:
    """The canonical tokens of a text, in order, stopwords dropped."""
    words: list[str] = []
    for raw in _SPLIT.split(fold(text)):
        words.extend(_expand(raw))
    out: list[str] = []
    i = 0
    while i < len(words):
        tok = words[i]
        nxt = words[i + 1] if i + 1 < len(words) else ""
        # "5 m 3 core": a prefix that is also a unit, after a number, is that number's unit
        unit_of_prev = tok in UNITS and bool(out) and bool(_NUMBER.match(out[-1]))
        if tok in SIZE_PREFIXES and nxt and _NUMBER.match(nxt) and not unit_of_prev:
            out.append(tok + nxt)
            if tok in INCH_THREAD_PREFIXES:
                out.append(nxt)
            i += 2
            continue
        m = _PREFIXED.match(tok)
        if m and m.group(1) in INCH_THREAD_PREFIXES:
            out.extend((tok, m.group(2)))
            i += 1
            continue
        if tok not in STOPWORDS:
            out.append(tok)
        i += 1
    return tuple(out)


def is_number(token: str) -> bool:
    return bool(_NUMBER.match(token))


@lru_cache(maxsize=65536)
def char_ngrams(token: str, n: int = 3) -> tuple[str, ...]:
    """Boundary-marked character n-grams of one token ("#ga", "gas", ... "et#")."""
    padded = f"#{token}#"
    if len(padded) <= n:
        return (padded,)
    return tuple(padded[i : i + n] for i in range(len(padded) - n + 1))


def _flatten(value: Any) -> Iterable[str]:
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, Mapping):
        # JSONB hands keys back in its own order: sort, so the text (and its hash) is stable
        for key in sorted(value, key=str):
            yield from _flatten(value[key])
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _flatten(v)
    else:
        yield str(value)


def item_search_text(
    *,
    sku: str,
    name: str,
    description: str | None,
    supplier_name: str | None,
    category: str | None,
    attributes: Mapping[str, Any] | None,
) -> str:
    """What an item is found by: its identity, words and attribute values (not keys)."""
    parts = [sku, name, description or "", supplier_name or "", category or ""]
    parts.extend(_flatten(attributes or {}))
    return " | ".join(p.strip() for p in parts if p and p.strip())
