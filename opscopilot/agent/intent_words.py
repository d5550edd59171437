"""The offline parser's vocabulary: the words and patterns each supported form listens for."""

from __future__ import annotations

import re


def words(*options: str) -> re.Pattern[str]:
    """A pattern matching any of `options` as whole words (options may be regexes)."""
    return re.compile(r"\b(?:" + "|".join(options) + r")\b")


SKU = re.compile(r"\b([A-Za-z]{2,6}-(?=[A-Za-z0-9-]*\d)[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*)\b")
UUID = re.compile(r"\b[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\b")
NUMBER = re.compile(r"(?<![\w.-])(\d+(?:[.,]\d+)?)(?![\w-])")
ORDER_REF = re.compile(r"(?i)\b(?:po|wo)-?\s?\d+\b")

PERIODS = {
    "daily": "daily", "day": "daily", "days": "daily",
    "weekly": "weekly", "week": "weekly", "weeks": "weekly",
    "monthly": "monthly", "month": "monthly", "months": "monthly",
    "quarterly": "quarterly", "quarter": "quarterly", "quarters": "quarterly",
}  # fmt: skip
HORIZON = re.compile(r"(?:next|coming|for)\s+(\d+)\s+(days?|weeks?|months?|quarters?)")
FORECAST_TYPES = (
    ("quality", ("quality", "scrap", "defect")),
    ("supply", ("supply", "receipt", "receipts", "deliveries")),
    ("inventory", ("inventory", "stock level", "on hand", "on-hand")),
    ("demand", ("demand", "sales")),
)
SEVERITIES = ("critical", "warning", "info")  # of notifications
ALERT_SEVERITIES = ("critical", "high", "medium", "low")
CHANNELS = ("email", "sms", "slack", "webhook")
ACTION_KINDS = (
    ("work_order_change", words(r"work[- ]?order(?: change)?", "wo")),
    ("expedite", words(r"expedit\w*")),
    ("transfer", words("transfer", "move stock")),
    (
        "purchase_request",
        words(r"purchase (?:request|order|requisition)", "pr", "po", "reorder", "buy"),
    ),
)

# Words that never name an item: removed before an item is searched by its words.
FILLER = frozenset(
    """a an the our my we do does did have has is are what whats what's how many much of for
    on in at to me please can you tell show give find search look up lookup locate item items
    sku part parts which any there stock inventory level levels left available quantity qty
    hand onhand on-hand currently right now today got with about info details detail describe
    current i need want know from by buy bought supplied supplier called named get us""".split()
)
FORECAST_FILLER = (
    "forecast", "predict", "demand", "supply", "quality", "latest", "weekly", "monthly", "daily",
    "quarterly", "next", "week", "weeks", "month", "months", "run", "make", "generate", "sales",
    "last", "why", "change", "changed", "jump", "jumped", "drop", "dropped", "did",
)  # fmt: skip
DOC_FILLER = (
    "say", "says", "said", "according", "sop", "sops", "procedure", "manual", "document",
    "documents", "docs", "policy", "should", "instructions", "guidelines",
)  # fmt: skip
COVER_FILLER = (
    "days", "cover", "long", "last", "will", "run", "out", "before", "next", "receipt",
    "stockout", "supply", "coverage",
)  # fmt: skip

SUBMIT = re.compile(r"\b(approve|submit|export|send)\b.*\baction\b")
DRAFT = words("draft", "create", "raise", "make", "open", "prepare", "request", "suggest")
ACTIONS = re.compile(r"\baction(?:s| requests?)\b|\bstatus of (?:the |my )?action")
PREFERENCES = re.compile(
    r"\b(?:preferences?|quiet hours|notification settings)\b"
    r"|\bmy (?:email|sms|slack) notifications\b"
)
NOTIFY = re.compile(
    r"\b(?:notify|tell|message|email|e-mail|text|ping|inform|let)\s+(?!me\b)(?:user\s+)?"
    r"(?P<who>the [a-z ]+? on[- ]call|on[- ]call [a-z]+|[\w.@+-]+)"
    r"(?:\s+know)?(?:\s+(?:that|about|:|to say)\b|:)?\s*(?P<msg>.*)$",
    re.S,
)
ON_CALL = re.compile(r"(?:the\s+)?([a-z]+)\s+on[- ]call|on[- ]call\s+([a-z]+)")
ALERT_ACTION = re.compile(r"\b(acknowledge|ack|snooze|resolve|close)\b.*\balert")
WHY_FORECAST = re.compile(
    r"\bwhy\b.*\bforecast|\bforecast\b.*"
    r"\b(?:change|changed|jump|jumped|drop|dropped|differ|move|moved|go up|went up)\b"
)
WHAT_IF = re.compile(
    r"\bwhat[- ]if\b|\bif (?:demand|sales)\b.*\b(?:rise|grow|drop|fall|increase|decrease)s?\b"
    r"|\b(?:is|are|runs?) \d+ (?:weeks?|days?) late\b"
)
DOWN = words("drop", "drops", "fall", "falls", "decrease", "decreases", "down")
FORECAST = re.compile(r"\b(?:forecast|predict|prediction|projection|project)\w*\b")
LATEST = words("latest", "last", "current", "existing", "show", "get")
COMPUTE = words("run", "make", "create", "generate", "compute", "new")
RUN_MODEL = re.compile(r"\brun\s+(?:the\s+)?(?:model\s+)?([\w.-]+)(?:\s+model)?\s+(?:on|for)\s+")
MODELS = re.compile(
    r"\b(?:list|which|what|show)\b.*\bmodels\b|\bmodels\b.*\b(?:available|registered|have)\b"
)
ALERTS = words("alerts?")
BATCH_REF = re.compile(r"\b(batch_[\w.:-]+)")
BATCH_NAMED = re.compile(
    r"(?i)\bbatch\s+(?:reference\s+|ref\s+|id\s+)?([a-z0-9][\w.:-]*\d[\w.:-]*)"
)
DATA_ARRIVED = re.compile(r"\bdata\b.*\b(?:arrive|arrived|come in|came in)\b")
FEEDS = words("ingestion", "data feeds?", "feeds?", "sources?", "imports?", "data loads?")
FEED_STATE = words(
    "health", "healthy", "stale", "status", "ok", "okay", "working", "failing", "failed", "late",
    "arrive", "arrived", "last",
)  # fmt: skip
ON_TIME = re.compile(
    r"\bon[- ]?time\b|\blate deliver|\bdelivery performance\b"
    r"|\bsupplier (?:performance|reliability)\b"
)
SUPPLIER_NAMED = (
    re.compile(r"\b(?:for|of|from)\s+([a-z][\w ]+?)(?:\?|$| over| in| this| last)"),
    re.compile(r"\b(?:is|are)\s+([a-z][\w ]+?)\s+(?:delivering|on[- ]?time)"),
)
SCRAP = re.compile(r"\b(?:scrap|defect|reject)\w*\b|\bquality rate\b|\byield\b")
AT_RISK = re.compile(
    r"\bstock ?outs?\b|\bat risk\b|\brunning (?:low|short)\b|\bshortages?\b|\bwhat will run out\b"
)
COVER = re.compile(
    r"\bdays? of (?:cover|supply|stock|inventory)\b|\bhow long\b.*\blast\b|\brun out\b"
    r"|\bstock ?out\b|\bcoverage\b"
)
DOCUMENTS = words(
    "sop", "sops", "procedure", "manual", "document", "documents", "docs", "policy",
    "instructions?", "checklist", "guidelines?", r"how (?:do|should) (?:i|we)",
)  # fmt: skip
STOCK = words(
    "stock", "inventory", r"on[- ]?hand", "how many", "how much", "quantity", "available",
    "in store",
)  # fmt: skip
FIND = words(
    "find", "search", r"look ?up", "locate", "which item", "what item", "who supplies", "buy from",
    "bought from", "supplied by",
)  # fmt: skip
