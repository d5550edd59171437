"""The offline model's parser: a question in one of the supported forms -> an intent.

Pure functions over text. An intent names what the person wants and the arguments parsed
from their words; `offline.py` turns it into the same tool calls a real model would make.
Rules are tried in order, most specific first ("notify ... stock" is a notification, not a
stock question); a question no rule takes returns None and the offline model says what it
can do. The vocabulary lives in `intent_words.py`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opscopilot.agent import intent_words as w


@dataclass(frozen=True)
class Intent:
    name: str
    args: dict[str, Any] = field(default_factory=dict)
    # An item named by words rather than a sku: found with find_items first.
    item_query: str | None = None


@dataclass(frozen=True)
class Question:
    original: str  # whitespace-normalised, case kept (SKUs, messages)
    text: str  # lower case, for matching
    ids: list[str]

    def has(self, pattern: re.Pattern[str]) -> bool:
        return pattern.search(self.text) is not None


Rule = Callable[[Question], Intent | None]


def find_sku(text: str) -> str | None:
    for match in w.SKU.finditer(text):
        candidate = match.group(1)
        if re.match(r"(?i)(po|wo)-", candidate) or re.fullmatch(r"[0-9a-fA-F-]+", candidate):
            continue  # an order reference or a piece of a UUID
        return candidate.upper()
    return None


def item_phrase(text: str, *, drop: tuple[str, ...] = ()) -> str | None:
    """The words that name an item once the question's own words are removed."""
    tokens = re.findall(r"[A-Za-z0-9][A-Za-z0-9.\-/]*", text.lower())
    kept = [t for t in tokens if t not in w.FILLER and t not in drop]
    return " ".join(kept) or None


def _item(q: Question, name: str, args: dict[str, Any], drop: tuple[str, ...] = ()) -> Intent:
    sku = find_sku(q.original)
    if sku:
        return Intent(name, {**args, "sku": sku})
    return Intent(name, args, item_query=item_phrase(q.original, drop=drop))


def _first(options: tuple[str, ...], text: str) -> str | None:
    return next((o for o in options if re.search(rf"\b{o}\b", text)), None)


def _quantity(text: str) -> float | None:
    cleaned = w.ORDER_REF.sub(" ", w.SKU.sub(" ", w.UUID.sub(" ", text)))
    match = w.NUMBER.search(cleaned)
    return float(match.group(1).replace(",", ".")) if match else None


def _after(text: str, marker: str) -> str | None:
    match = re.search(rf"(?i)\b(?:{marker})\b[:\s]+(.+)$", text, flags=re.S)
    return match.group(1).strip().rstrip(".") if match else None


def _forecast_type(text: str) -> str:
    for name, options in w.FORECAST_TYPES:
        if any(re.search(rf"\b{re.escape(o)}\b", text) for o in options):
            return name
    return "demand"


# -- the rules, most specific first --------------------------------------------------------


def submit_action(q: Question) -> Intent | None:
    if q.has(w.SUBMIT) and (q.ids or re.search(r"\b(last|latest)\b", q.text)):
        return Intent("submit_action", {"action_id": q.ids[0] if q.ids else "last"})
    return None


def draft_action(q: Question) -> Intent | None:
    kind = next((k for k, p in w.ACTION_KINDS if p.search(q.text)), None)
    if not q.has(w.DRAFT) or kind is None:
        return None
    args: dict[str, Any] = {"kind": kind, "reason": _after(q.original, "because|since|reason")}
    args["reason"] = args["reason"] or "requested in chat"
    quantity = _quantity(q.text)
    if quantity is not None:
        args["quantity"] = quantity
    if kind == "transfer" and (
        m := re.search(r"\bfrom\s+(?:site\s+)?([\w-]+)\s+to\s+(?:site\s+)?([\w-]+)", q.text)
    ):
        args["from_site"], args["to_site"] = m.group(1), m.group(2)
    if kind == "expedite" and (m := re.search(r"(?i)\b(po[- ]?\d+)\b", q.text)):
        args["reference"] = m.group(1).upper().replace(" ", "-")
    if kind == "work_order_change":
        if m := re.search(r"(?i)\b(wo[- ]?\d+)\b", q.text):
            args["work_order"] = m.group(1).upper().replace(" ", "-")
        args["change"] = _after(q.original, "to") or "see reason"
    return _item(q, "draft_action", args)


def action_status(q: Question) -> Intent | None:
    if not q.has(w.ACTIONS):
        return None
    args: dict[str, Any] = {"action_id": q.ids[0]} if q.ids else {}
    if sku := find_sku(q.original):
        args["sku"] = sku
    return Intent("action_status", args)


def set_preferences(q: Question) -> Intent | None:
    if not q.has(w.PREFERENCES):
        return None
    args: dict[str, Any] = {}
    if channel := _first(w.CHANNELS, q.text):
        args["channel"] = channel
    if severity := _first(w.SEVERITIES, q.text):
        args["min_severity"] = severity
    if re.search(r"\b(turn off|disable|stop)\b", q.text):
        args["enabled"] = False
    return Intent("set_preferences", args)


def notify(q: Question) -> Intent | None:
    match = w.NOTIFY.search(q.text)
    if not match:
        return None
    who = match.group("who").strip()
    start = match.start("msg")
    message = q.original[start:].strip().strip("\"'").rstrip(".")
    args: dict[str, Any] = {"message": message or "Please check OpsCopilot."}
    if role := w.ON_CALL.search(who):
        args["on_call_role"] = role.group(1) or role.group(2)
    else:
        args["user"] = "everyone" if who in ("everybody", "all") else who
    channel = next(
        (c for c in w.CHANNELS if re.search(rf"\b(?:by|via|on|over)\s+{c}\b", q.text)), None
    )
    if channel:
        args["channel"] = channel
    if severity := _first(w.SEVERITIES, q.text):
        args["severity"] = severity
    return Intent("notify", args)


def alert_action(q: Question) -> Intent | None:
    if not q.has(w.ALERT_ACTION) or not (q.ids or find_sku(q.original)):
        return None
    verb = re.search(r"\b(acknowledge|ack|snooze|resolve|close)\b", q.text)
    assert verb is not None
    action = {"ack": "acknowledge", "close": "resolve"}.get(verb.group(1), verb.group(1))
    if q.ids:
        return Intent("alert_action", {"action": action, "alert_id": q.ids[0]})
    return _item(q, "alert_action", {"action": action})


def explain_forecast(q: Question) -> Intent | None:
    if not q.has(w.WHY_FORECAST):
        return None
    args = {"forecast_type": _forecast_type(q.text)}
    return _item(q, "explain_forecast", args, drop=w.FORECAST_FILLER)


def what_if(q: Question) -> Intent | None:
    if not q.has(w.WHAT_IF):
        return None
    args: dict[str, Any] = {}
    if pct := re.search(r"([+-]?\d+(?:\.\d+)?)\s*%", q.text):
        value = float(pct.group(1))
        args["demand_change_pct"] = -value if q.has(w.DOWN) and value > 0 else value
    if late := re.search(r"(\d+)\s*(weeks?|days?) late", q.text):
        args["supply_delay_days"] = int(late.group(1)) * (7 if late.group(2)[0] == "w" else 1)
    return _item(q, "what_if", args)


def forecast(q: Question) -> Intent | None:
    if not q.has(w.FORECAST):
        return None
    args: dict[str, Any] = {"forecast_type": _forecast_type(q.text)}
    if horizon := w.HORIZON.search(q.text):
        args["period"], args["horizon"] = w.PERIODS[horizon.group(2)], int(horizon.group(1))
    elif period := next(
        (p for word, p in w.PERIODS.items() if re.search(rf"\b{word}\b", q.text)), None
    ):
        args["period"] = period
    if q.has(w.LATEST) and not q.has(w.COMPUTE):
        args.pop("horizon", None)  # the latest forecast is what it is
        return _item(q, "get_forecast", args, drop=w.FORECAST_FILLER)
    return _item(q, "forecast", args, drop=w.FORECAST_FILLER)


def run_model(q: Question) -> Intent | None:
    match = w.RUN_MODEL.search(q.text)
    if match is None or match.group(1) in ("forecast", "a", "the"):
        return None
    return _item(q, "run_model", {"model": match.group(1)})


def simple(pattern: re.Pattern[str], name: str) -> Rule:
    return lambda q: Intent(name) if q.has(pattern) else None


def alerts(q: Question) -> Intent | None:
    if not q.has(w.ALERTS):
        return None
    severity = _first(w.ALERT_SEVERITIES, q.text)
    return Intent("alerts", {"severity": severity} if severity else {})


def batch_status(q: Question) -> Intent | None:
    if "batch" not in q.text:
        return None
    ref = w.BATCH_REF.search(q.original) or w.BATCH_NAMED.search(q.original)
    ident = q.ids[0] if q.ids else (ref.group(1).rstrip(".:") if ref else None)
    return Intent("batch_status", {"batch": ident}) if ident else None


def ingestion_health(q: Question) -> Intent | None:
    if q.has(w.DATA_ARRIVED) or (q.has(w.FEEDS) and q.has(w.FEED_STATE)):
        return Intent("ingestion_health")
    return None


def supplier_on_time(q: Question) -> Intent | None:
    if not q.has(w.ON_TIME):
        return None
    for pattern in w.SUPPLIER_NAMED:
        if (m := pattern.search(q.text)) and "supplier" not in m.group(1):
            return Intent("supplier_on_time", {"supplier": m.group(1).strip()})
    return Intent("supplier_on_time")


def scrap_rate(q: Question) -> Intent | None:
    if not q.has(w.SCRAP):
        return None
    sku = find_sku(q.original)
    return Intent("scrap_rate", {"sku": sku} if sku else {})


def stockout_risk(q: Question) -> Intent | None:
    return Intent("stockout_risk") if q.has(w.AT_RISK) and not find_sku(q.original) else None


def days_of_cover(q: Question) -> Intent | None:
    return _item(q, "days_of_cover", {}, drop=w.COVER_FILLER) if q.has(w.COVER) else None


def documents(q: Question) -> Intent | None:
    if not q.has(w.DOCUMENTS):
        return None
    keywords = item_phrase(q.original, drop=w.DOC_FILLER)
    return Intent("documents", {"query": keywords or q.original.rstrip("?")})


def stock(q: Question) -> Intent | None:
    return _item(q, "stock", {}) if q.has(w.STOCK) else None


def find(q: Question) -> Intent | None:
    if not q.has(w.FIND):
        return None
    return Intent("find", {"query": item_phrase(q.original) or q.original})


def item(q: Question) -> Intent | None:
    sku = find_sku(q.original)
    return Intent("item", {"sku": sku}) if sku else None


RULES: tuple[Rule, ...] = (
    submit_action,
    draft_action,
    action_status,
    set_preferences,
    notify,
    alert_action,
    explain_forecast,
    what_if,
    forecast,
    run_model,
    simple(w.MODELS, "list_models"),
    alerts,
    batch_status,
    ingestion_health,
    supplier_on_time,
    scrap_rate,
    stockout_risk,
    days_of_cover,
    documents,
    stock,
    find,
    item,
)


def parse(question: str) -> Intent | None:
    original = " ".join(question.split())
    q = Question(original=original, text=original.lower(), ids=w.UUID.findall(original))
    for rule in RULES:
        intent = rule(q)
        if intent is not None:
            return intent
    return None
