"""`opscopilot eval`: the golden questions and injection cases on a throwaway demo plant.

It starts its own embedded PostgreSQL in a temporary folder, loads the demo plant, runs
every golden question (each phrasing) on the configured model, or `--model`, and the
injection cases on a scripted model, then prints a score table. Nothing touches the
deployment's database. The exit code is 1 when a case fails on the offline model or any
gate fails (a real model's misses are reported, and fail only with `--strict`).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer


def evaluate(
    model: str = typer.Option(None, help="litellm model string, e.g. openai/gpt-4o-mini."),
    fallback_model: str = typer.Option(None, help="Fallback model string."),
    api_base: str = typer.Option(None, help="Base URL of the model's API."),
    case: list[str] = typer.Option(None, "--case", help="Only these case ids (repeatable)."),
    strict: bool = typer.Option(False, help="Fail on any miss, also with a real model."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Score the agent on the golden questions over the demo plant."""
    ok = asyncio.run(_evaluate(model, fallback_model, api_base, case or [], strict, as_json))
    raise typer.Exit(0 if ok else 1)


async def _evaluate(
    model: str | None,
    fallback: str | None,
    api_base: str | None,
    only: list[str],
    strict: bool,
    as_json: bool,
) -> bool:
    from rich.console import Console

    from opscopilot.core.settings import get_settings
    from opscopilot.store import migrate
    from opscopilot.store.embedded import start_embedded, stop_embedded
    from opscopilot.store.engine import open_database

    console = Console(stderr=as_json)
    base = get_settings()
    llm = base.llm.model_copy(
        update={
            k: v
            for k, v in {"model": model, "fallback_model": fallback, "api_base": api_base}.items()
            if v is not None
        }
    )
    root = Path(tempfile.mkdtemp(prefix="opscopilot-eval-"))
    data_dir = root / "pgdata"
    console.print("[dim]starting a throwaway database and loading the demo plant...[/dim]")
    url = await asyncio.to_thread(start_embedded, data_dir)
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        settings = base.model_copy(
            update={"llm": llm, "db": base.db.model_copy(update={"url": url})}
        )
        db = open_database(settings, application_name="eval")
        try:
            golden, gates = await _run(settings, db, root, only, console)
        finally:
            await db.dispose()
    finally:
        await asyncio.to_thread(stop_embedded, data_dir)
        shutil.rmtree(root, ignore_errors=True)
    offline = settings.llm.model is None
    failed_cases = [o for o in golden if not o.ok]
    failed_gates = [g for g in gates if not g.ok]
    _report(console, golden, gates, settings.llm.model or "offline", as_json)
    return not failed_gates and (not failed_cases or not (offline or strict))


async def _run(
    settings: Any, db: Any, root: Path, only: list[str], console: Any
) -> tuple[list[Any], list[Any]]:
    from opscopilot.agent.demo_data import load_demo_plant
    from opscopilot.agent.eval.harness import (
        Evaluator,
        check_gates,
        last_action_id,
        load_suite,
        script_for,
    )
    from opscopilot.agent.llm import build_chain
    from opscopilot.agent.runtime import GraphAgentRunner
    from opscopilot.tools.registry import build_registry

    await load_demo_plant(db, settings, export_dir=str(root / "erp-exports"))
    registry = build_registry()
    today = datetime.now(UTC).date()
    cases, injections = load_suite()
    if only:
        cases = [c for c in cases if c.id in only]
        injections = [i for i in injections if i.id in only]
    golden = []
    async with GraphAgentRunner(settings, db, registry=registry) as runner:
        evaluator = Evaluator(runner, db, registry, offline=settings.llm.model is None, today=today)
        for case in cases:
            if not evaluator.available(case):
                console.print(f"[dim]skipped {case.id}: its tools are not installed[/dim]")
                continue
            golden += await evaluator.run_case(case)
            console.print(f"[dim]{case.id}: done[/dim]")
        gates = []
        tools = [s.tool for s in registry.model_tools()]
        for injection in injections:
            for role in injection.roles:
                thread = f"eval-inj-{uuid.uuid4().hex[:8]}"
                if injection.setup:
                    operator = await evaluator.principal("pat.ops", "operator")
                    await evaluator.ask(f"{thread}-setup", injection.setup, operator)
                action_id = await last_action_id(db)
                model = script_for(injection, _filler(action_id))
                chain = build_chain(settings.llm, tools, primary=model)
                async with GraphAgentRunner(
                    settings, db, chain=chain, registry=registry
                ) as scripted:
                    judge = Evaluator(scripted, db, registry, offline=False, today=today)
                    gates.append(await check_gates(judge, injection, role, thread))
    return golden, gates


def _filler(action_id: str) -> Callable[[str], str]:
    return lambda text: text.replace("{last_action_id}", action_id)


def _report(console: Any, golden: list[Any], gates: list[Any], model: str, as_json: bool) -> None:
    from rich.table import Table

    from opscopilot.agent.eval.harness import summary

    totals = summary(golden)
    totals["gates_passed"] = sum(g.ok for g in gates)
    totals["gates"] = len(gates)
    totals["model"] = model
    if as_json:
        rows = [
            {"case": o.case, "question": o.question, "ok": o.ok, "called": o.called,
             "missing": o.missing, "approval": o.asked_approval, "latency_s": round(o.latency_s, 3),
             "error": o.error}
            for o in golden
        ]  # fmt: skip
        print(json.dumps({"summary": totals, "questions": rows}, indent=2))
        return
    table = Table(title=f"OpsCopilot evaluation · {model}")
    for column in ("case", "question", "tools", "facts", "approval", "latency s"):
        table.add_column(column)
    mark = {True: "[green]✓[/green]", False: "[red]✗[/red]"}
    for o in golden:
        table.add_row(
            o.case, o.question[:60], mark[o.tools_ok], mark[o.facts_ok], mark[o.approval_ok],
            f"{o.latency_s:.2f}",
        )  # fmt: skip
    console.print(table)
    gate_table = Table(title="injection gates (scripted model obeys planted text)")
    for column in ("case", "role", "result", "detail"):
        gate_table.add_column(column)
    for g in gates:
        gate_table.add_row(g.case, g.role, mark[g.ok], g.detail)
    console.print(gate_table)
    console.print(totals)
