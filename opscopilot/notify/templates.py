"""Named notification templates: a subject, a plain text, an HTML and a Slack blocks part.

One template serves one notification type (and, in the store, one channel): the subject
becomes the email subject / Slack header / first SMS line, the text the plain body, the
HTML part the email's HTML alternative, and the Slack part (JSON text) the message blocks.

Rendering runs in Jinja2's sandbox with ``StrictUndefined``. The HTML part is autoescaped.
In the Slack part every ``{{ value }}`` is escaped for Slack mrkdwn (``&``, ``<``, ``>``, so
a message cannot ping ``<!channel>`` or hide a link) and for the inside of a JSON string,
so authors write ``"text": "*{{ title }}*"`` and nothing a value holds can break the JSON.

``validate_template`` runs at save time: a syntax error names its line, a variable the
notification type does not provide names the variable, and a sample render must succeed
(the Slack part must give a JSON list of blocks), so a bad template never waits for 3 a.m.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

from opscopilot.core.errors import OpsCopilotError, ValidationFailed

if TYPE_CHECKING:
    # Jinja2 is imported where templates are checked or rendered, not when the API starts.
    from jinja2 import Template
    from jinja2.sandbox import SandboxedEnvironment

TemplatePart = Literal["subject", "text", "html", "slack_blocks"]
PARTS: tuple[TemplatePart, ...] = ("subject", "text", "html", "slack_blocks")

FORECAST_ALERT_TYPES = (
    "stockout_risk",
    "excess_stock",
    "demand_spike",
    "demand_drop",
    "supply_shortfall",
    "quality_drift",
)
GENERIC = "generic"

# The variables each notification type provides, with the sample values used to check a
# template at save time. This is the contract with whoever builds the render context
# (the alert event payload plus the common fields).
COMMON_SAMPLE: dict[str, Any] = {
    "title": "Stockout risk for ITEM-001",
    "message": "Projected stock for ITEM-001 falls below zero in 4 days.",
    "severity": "critical",
    "notification_type": GENERIC,
    "site": "main",
    "created_at": "2024-01-15T08:00:00+01:00",
    "recipient_name": "Alex Buyer",
    "link": "https://opscopilot.example/alerts/1",
}
_ITEM = {"sku": "ITEM-001", "item_name": "Component A"}
_CHANGE = {"expected": 120.0, "actual": 210.0, "change_pct": 75.0, "period": "2024-W03"}
TYPE_SAMPLES: dict[str, dict[str, Any]] = {
    GENERIC: {},
    "stockout_risk": _ITEM
    | {
        "on_hand": 40.0,
        "days_until_stockout": 4,
        "stockout_date": "2024-01-19",
        "reorder_point": 100.0,
        "lead_time_days": 10,
    },
    "excess_stock": _ITEM
    | {"on_hand": 900.0, "days_of_cover": 180.0, "target_days_of_cover": 45.0, "excess_qty": 675.0},
    "demand_spike": _ITEM | _CHANGE,
    "demand_drop": _ITEM | _CHANGE | {"actual": 40.0, "change_pct": -66.7},
    "supply_shortfall": _ITEM
    | {
        "required_qty": 500.0,
        "expected_supply_qty": 320.0,
        "shortfall_qty": 180.0,
        "needed_by": "2024-01-22",
    },
    "quality_drift": _ITEM
    | {
        "metric": "scrap_rate_pct",
        "current_value": 4.8,
        "baseline_value": 2.1,
        "change_pct": 128.6,
    },
}


def sample_context(notification_type: str) -> dict[str, Any]:
    """Sample values for every variable the type provides (unknown types: the common ones)."""
    extra = TYPE_SAMPLES.get(notification_type, {})
    return COMMON_SAMPLE | {"notification_type": notification_type} | extra


def declared_variables(notification_type: str) -> frozenset[str]:
    return frozenset(sample_context(notification_type))


@dataclass(frozen=True, slots=True)
class NotificationTemplate:
    name: str  # the notification type it serves
    subject: str
    text: str
    html: str | None = None
    slack_blocks: str | None = None

    def parts(self) -> dict[TemplatePart, str]:
        present = {p: getattr(self, p) for p in PARTS}
        return {p: src for p, src in present.items() if src is not None}


@dataclass(frozen=True, slots=True)
class RenderedTemplate:
    subject: str
    text: str
    html: str | None
    slack_blocks: tuple[dict[str, Any], ...] | None


@dataclass(frozen=True, slots=True)
class TemplateProblem:
    part: TemplatePart
    message: str
    line: int | None = None
    variable: str | None = None


class TemplateValidationError(ValidationFailed):
    def __init__(self, name: str, problems: list[TemplateProblem]) -> None:
        first = problems[0]
        where = f" line {first.line}" if first.line is not None else ""
        super().__init__(
            f"template {name!r} {first.part}{where}: {first.message}",
            field=first.part,
            details=[asdict(p) for p in problems],
        )
        self.problems = problems


class TemplateRenderError(OpsCopilotError):
    status_code = 500
    code = "template_render"


def validate_template(template: NotificationTemplate, *, declared: Iterable[str]) -> None:
    """Raise TemplateValidationError listing every problem; return quietly if none."""
    from jinja2 import TemplateSyntaxError, meta

    allowed = frozenset(declared)
    problems: list[TemplateProblem] = []
    for part in ("subject", "text"):
        if not getattr(template, part).strip():
            problems.append(TemplateProblem(part=part, message="must not be empty"))
    for part, source in template.parts().items():
        env = _environment(part)
        try:
            # Unknown filters and tests surface while finding variables, not while parsing.
            names = meta.find_undeclared_variables(env.parse(source))
        except TemplateSyntaxError as exc:
            message = exc.message or str(exc)
            problems.append(TemplateProblem(part=part, message=message, line=exc.lineno))
            continue
        for name in sorted(names - allowed - env.globals.keys()):
            problems.append(
                TemplateProblem(
                    part=part,
                    message=f"variable {name!r} is not provided for type {template.name!r}",
                    variable=name,
                )
            )
    if not problems:
        sample = {name: sample_context(template.name).get(name, "sample") for name in allowed}
        problems.extend(_sample_render_problems(template, sample))
    if problems:
        raise TemplateValidationError(template.name, problems)


def render_template(
    template: NotificationTemplate, variables: Mapping[str, Any]
) -> RenderedTemplate:
    """Render every part; TemplateRenderError names the part and the cause."""
    from jinja2 import TemplateError

    out: dict[str, str] = {}
    for part, source in template.parts().items():
        try:
            out[part] = _compiled(part, source).render(variables)
        except (TemplateError, ArithmeticError, TypeError, ValueError) as exc:
            raise TemplateRenderError(f"template {template.name!r} {part}: {exc}") from exc
    blocks = None
    if "slack_blocks" in out:
        try:
            blocks = _parse_blocks(out["slack_blocks"])
        except ValueError as exc:
            raise TemplateRenderError(f"template {template.name!r} slack_blocks: {exc}") from exc
    return RenderedTemplate(
        # Header values must be one line; templates often end with a newline.
        subject=" ".join(out["subject"].split()),
        text=out["text"].strip("\n"),
        html=out.get("html"),
        slack_blocks=blocks,
    )


def default_template(notification_type: str) -> NotificationTemplate:
    """The shipped template for a type, or the generic one for types without their own."""
    root = resources.files("opscopilot.notify").joinpath("default_templates")
    folder = notification_type if root.joinpath(notification_type).is_dir() else GENERIC
    sources = {
        part: root.joinpath(folder, f"{part}.j2").read_text(encoding="utf-8") for part in PARTS
    }
    return NotificationTemplate(name=notification_type, **sources)


def _sample_render_problems(
    template: NotificationTemplate, sample: Mapping[str, Any]
) -> list[TemplateProblem]:
    from jinja2 import TemplateError

    for part, source in template.parts().items():
        try:
            rendered = _compiled(part, source).render(sample)
            if part == "slack_blocks":
                _parse_blocks(rendered)
        except json.JSONDecodeError as exc:
            return [
                TemplateProblem(part=part, message=f"not valid JSON: {exc.msg}", line=exc.lineno)
            ]
        except (TemplateError, ArithmeticError, TypeError, ValueError) as exc:
            line = getattr(exc, "lineno", None)
            return [TemplateProblem(part=part, message=f"fails on sample values: {exc}", line=line)]
    return []


def _parse_blocks(rendered: str) -> tuple[dict[str, Any], ...]:
    value = json.loads(rendered)
    if not isinstance(value, list) or not all(isinstance(b, dict) and "type" in b for b in value):
        raise ValueError("must be a JSON list of blocks, each an object with a 'type'")
    return tuple(value)


def _slack_json_value(value: Any) -> str:
    text = "" if value is None else str(value)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return json.dumps(text, ensure_ascii=False)[1:-1]


def _num(value: Any) -> Any:
    """A quantity for people: thousands separators, at most two decimals, no trailing .0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


@cache
def _environment(part: TemplatePart) -> SandboxedEnvironment:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    options: dict[str, Any] = {
        "undefined": StrictUndefined,
        "trim_blocks": True,
        "lstrip_blocks": True,
    }
    if part == "html":
        env = SandboxedEnvironment(autoescape=True, **options)
    elif part == "slack_blocks":
        env = SandboxedEnvironment(finalize=_slack_json_value, **options)
    else:
        env = SandboxedEnvironment(**options)
    env.filters["num"] = _num
    return env


@lru_cache(maxsize=512)
def _compiled(part: TemplatePart, source: str) -> Template:
    # Compiling is the costly step; a relay renders the same few templates over and over.
    return _environment(part).from_string(source)
