"""What a scheduled run asks the agent to write, and what a written text may say.

A task (the run's summary, a shift briefing) is a prompt from `prompts/schedule/*_task.j2`
with its parameters as a JSON line, so the offline model reads them exactly and a real model
reads the same words. Each task names the tool calls whose results are its facts
(`required_calls`); `template_text` words those results with the task's template (the
offline model's text, and the fallback when a model's text cannot be trusted);
`unsupported` lists the numbers, SKUs and dates of a text that no tool result (or the task
itself) contains.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from opscopilot.prompts import render

TaskKind = Literal["summary", "briefing"]
MARK = "Scheduled task:"
PARAMS = "Task parameters:"
MAX_LINES = 10  # per list in a briefing
CHANGES_SHOWN = 5  # the biggest forecast changes a briefing lists
# Filters that would hide part of the picture the task reports.
NARROWING = ("severity", "sku", "forecast_type")


@dataclass(frozen=True)
class ScheduledTask:
    kind: TaskKind
    site: str
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def summary(cls, *, site: str, since: datetime, run_ids: list[str]) -> ScheduledTask:
        moment = since.astimezone(UTC)
        params = {
            "since": moment.isoformat(),
            "since_text": moment.strftime("%Y-%m-%d %H:%M UTC"),
            "run_ids": list(run_ids),
        }
        return cls("summary", site, params)

    @classmethod
    def briefing(
        cls, *, site: str, shift: str, local_start: str, since: datetime | None = None
    ) -> ScheduledTask:
        """`since`: the forecast changes reported are of forecasts made after it (without
        it, the tool's default window)."""
        params: dict[str, Any] = {"shift": shift, "local_start": local_start}
        if since is not None:
            params["since"] = since.astimezone(UTC).isoformat()
        return cls("briefing", site, params)

    def prompt(self) -> str:
        block = json.dumps({"task": self.kind, "site": self.site, **self.params}, sort_keys=True)
        return render(f"schedule/{self.kind}_task", site=self.site, p=self.params,
                      params_line=f"{PARAMS} {block}")  # fmt: skip


def parse_task(text: str) -> ScheduledTask | None:
    """The task a prompt from `ScheduledTask.prompt` carries; None for anything else."""
    if not text.startswith(MARK):
        return None
    line = next((x for x in reversed(text.splitlines()) if x.startswith(PARAMS)), None)
    if line is None:
        return None
    try:
        params = json.loads(line[len(PARAMS) :])
    except ValueError:
        return None
    if not isinstance(params, dict) or params.get("task") not in ("summary", "briefing"):
        return None
    kind, site = params.pop("task"), str(params.pop("site", ""))
    return ScheduledTask(kind, site, params) if site else None


@dataclass(frozen=True)
class Call:
    name: str
    args: dict[str, Any]


def required_calls(task: ScheduledTask) -> list[Call]:
    if task.kind == "summary":
        calls = [Call("alert_changes", {"since": task.params["since"]})]
        if task.params.get("run_ids"):
            calls.insert(0, Call("forecast_run_status", {"run_ids": task.params["run_ids"]}))
        return calls
    changes: dict[str, Any] = {"limit": CHANGES_SHOWN}
    if "since" in task.params:
        changes["since"] = task.params["since"]
    return [
        Call("active_alerts", {"limit": 50}),
        Call("forecast_changes", changes),
        Call("open_approvals", {"limit": 50}),
        Call("ingestion_health", {}),
    ]


def _instant(value: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def answers(required: Call, name: str, args: Mapping[str, Any]) -> bool:
    """Does a call of `name` with `args` give the facts `required` asks for?"""
    if name != required.name or any(args.get(k) for k in NARROWING):
        return False
    if "since" in required.args and _instant(args.get("since")) != _instant(required.args["since"]):
        return False
    if "run_ids" in required.args:
        given = args.get("run_ids")
        if not isinstance(given, list) or {str(r).lower() for r in given} != {
            str(r).lower() for r in required.args["run_ids"]
        }:
            return False
    return True


def template_text(task: ScheduledTask, results: Mapping[str, dict[str, Any]]) -> str:
    """The task's text from its tool results (keyed by tool name), with its template."""
    if task.kind == "summary":
        runs = results.get("forecast_run_status") or {"count": 0, "items_done": 0,
                                                      "items_total": 0}  # fmt: skip
        return render(
            "schedule/summary",
            site=task.site,
            runs=runs["count"],
            items_done=runs["items_done"],
            items_total=runs["items_total"],
            changes=results["alert_changes"]["changes"],
            since=task.params["since_text"],
        )
    alerts = results["active_alerts"]["alerts"]
    stockouts = [{**a, "date": a.get("date") or "unknown"} for a in alerts
                 if a["alert_type"] == "stockout_risk"]  # fmt: skip
    health = results["ingestion_health"]
    return render(
        "schedule/briefing",
        site=task.site,
        shift=str(task.params["shift"]).capitalize(),
        local_start=task.params["local_start"],
        stockouts=stockouts[:MAX_LINES],
        other_alerts=[a for a in alerts if a["alert_type"] != "stockout_risk"][:MAX_LINES],
        forecast_changes=results["forecast_changes"]["changes"][:CHANGES_SHOWN],
        approvals=[a["description"] for a in results["open_approvals"]["approvals"]],
        ingestion={"status": health["status"], "failed": len(health["failed_batches"]),
                   "stale": health["stale_sources"]},
    )  # fmt: skip


# A date, a time of day, a SKU-like code (BOLT-7, ITEM-001, SKU123) or a number.
_FACT = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"|(?P<time>\b\d{1,2}:\d{2}\b)"
    r"|(?P<code>\b[A-Za-z][A-Za-z0-9]*(?:[-_/][A-Za-z0-9]+)*\b)"
    r"|(?P<number>\d+(?:,\d{3})*(?:\.\d+)?)"
)
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_ISO_T = re.compile(r"(?<=\d)T(?=\d)")  # 2026-03-01T05:00 reads as a date and a time


def _is_code(token: str) -> bool:
    """An identifier worth checking: upper case with a digit or a dash (not a plain word)."""
    return token == token.upper() and any(c.isdigit() or c in "-_/" for c in token)


def _tokens(text: str) -> Iterator[tuple[str, str]]:
    for match in _FACT.finditer(_ISO_T.sub(" ", _UUID.sub(" ", text))):
        kind = match.lastgroup or ""
        token = match.group(0)
        if kind == "code" and not _is_code(token):
            continue
        yield kind, token


@dataclass
class _Facts:
    numbers: set[float] = field(default_factory=set)
    words: set[tuple[str, str]] = field(default_factory=set)  # (kind, token)

    def add(self, value: Any) -> None:
        if isinstance(value, bool) or value is None:
            return
        if isinstance(value, int | float):
            # A text's numbers carry no sign ("down 12.5 %" quotes -12.5).
            self.numbers.add(abs(float(value)))
        elif isinstance(value, str):
            for kind, token in _tokens(value):
                if kind == "number":
                    self.numbers.add(float(token.replace(",", "")))
                else:
                    self.words.add((kind, token.upper()))
        elif isinstance(value, Mapping):
            for inner in value.values():
                self.add(inner)
        elif isinstance(value, list | tuple):
            self.numbers.add(float(len(value)))  # "3 open approvals" counts a list
            for inner in value:
                self.add(inner)

    def has_number(self, token: str) -> bool:
        value = float(token.replace(",", ""))
        digits = len(token.partition(".")[2])
        return any(abs(round(n, digits) - value) < 1e-9 for n in self.numbers)


def unsupported(text: str, task: ScheduledTask, results: Mapping[str, Any]) -> list[str]:
    """The numbers, SKU-like codes, dates and times in `text` that neither the tool results
    nor the task's own parameters contain (a rounded number counts as its fact)."""
    facts = _Facts()
    facts.add(dict(results))
    facts.add({"site": task.site, **task.params})
    found: list[str] = []
    for kind, token in _tokens(text):
        ok = facts.has_number(token) if kind == "number" else (kind, token.upper()) in facts.words
        if not ok and token not in found:
            found.append(token)
    return found
