"""`opscopilot chat`: the agent in the terminal, streamed, with approvals as a prompt.

The same runner as the web and Slack surfaces, so a thread id continues across them.
The terminal acts for a local user (default: the login name) with the role given; when a
write needs approval, the prompt asks this user, who must hold the operator role.
"""

from __future__ import annotations

import asyncio
import getpass
import uuid
from collections.abc import AsyncIterator
from typing import Any

import typer

ROLES = ("viewer", "operator", "admin")


def register(app: typer.Typer) -> None:
    app.command("chat")(chat)
    from opscopilot.cli.evaluate import evaluate

    app.command("eval")(evaluate)


def chat(
    message: str = typer.Option(None, "--message", "-m", help="Ask one question and exit."),
    thread: str = typer.Option(None, help="Continue this thread (from any surface)."),
    site: str = typer.Option(None, help="Plant code (default: settings default_site)."),
    user: str = typer.Option(None, help="Act as this user id (default: your login name)."),
    role: str = typer.Option("operator", help="viewer, operator or admin."),
    decide: str = typer.Option(
        "ask", help="Approvals: ask (prompt), approve or reject (for scripts)."
    ),
) -> None:
    """Chat with the copilot in the terminal."""
    if role not in ROLES:
        raise typer.BadParameter(f"role must be one of {', '.join(ROLES)}")
    if decide not in ("ask", "approve", "reject"):
        raise typer.BadParameter("decide must be ask, approve or reject")
    asyncio.run(_chat(message, thread, site, user or getpass.getuser(), role, decide))


async def _chat(
    message: str | None, thread: str | None, site: str | None, user: str, role: str, decide: str
) -> None:
    from rich.console import Console

    from opscopilot.access.roles import Principal
    from opscopilot.access.service import get_or_create_user
    from opscopilot.agent.events import TurnRequest
    from opscopilot.agent.runtime import build_runner
    from opscopilot.cli.runtime import bootstrap

    console = Console()
    settings, db = await asyncio.to_thread(bootstrap, application_name="chat")
    try:
        async with db.transaction() as session:
            person = await get_or_create_user(session, external_id=user, role=role)  # type: ignore[arg-type]
            user_id = person.id
        principal = Principal(user_id=user_id, external_id=user, role=role)  # type: ignore[arg-type]
        thread_id = thread or f"cli-{uuid.uuid4().hex[:12]}"
        where = site or settings.default_site
        model = settings.llm.model or "the built-in offline model"
        console.print(f"[dim]OpsCopilot · {settings.plant_name} · site {where} · {model}[/dim]")
        console.print(f"[dim]thread {thread_id} · you are {user} ({role}); exit with Ctrl-D[/dim]")
        async with build_runner(settings, db) as runner:
            questions = [message] if message else None
            while True:
                question = questions.pop(0) if questions else None
                if questions is None:
                    try:
                        question = await asyncio.to_thread(console.input, "[bold]you>[/bold] ")
                    except (EOFError, KeyboardInterrupt):
                        break
                if question is None:
                    break
                if not question.strip():
                    continue
                if question.strip().lower() in ("exit", "quit"):
                    break
                request = TurnRequest(
                    thread_id=thread_id,
                    message=question,
                    principal=principal,
                    site=where,
                    surface="cli",
                )
                await _render_turn(console, runner, runner.run(request), principal, decide)
                if message:
                    break
    finally:
        await db.dispose()


async def _render_turn(
    console: Any, runner: Any, events: AsyncIterator[Any], principal: Any, decide: str
) -> None:
    """Stream one turn; an approval request prompts, then the decision's turn streams."""
    from rich.panel import Panel
    from rich.prompt import Confirm

    from opscopilot.agent.events import ApprovalDecision

    while True:
        pending: dict[str, Any] | None = None
        text = ""
        async for event in events:
            data = event.data
            if event.type == "token":
                text += data["text"]
                console.print(data["text"], end="", markup=False, highlight=False)
            elif event.type == "tool_call":
                args = ", ".join(f"{k}={v!r}" for k, v in data["arguments"].items())
                console.print(f"\n[dim]→ {data['name']}({args})[/dim]")
            elif event.type == "tool_result":
                mark = "[green]✓[/green]" if data["ok"] else "[red]✗[/red]"
                console.print(
                    f"[dim]{mark} {data['name']}: {data['summary']}[/dim]", highlight=False
                )
            elif event.type == "approval_required":
                pending = data
                console.print(
                    Panel(
                        data["description"],
                        title=f"approval needed: {data['tool']}",
                        border_style="yellow",
                    )
                )
            elif event.type == "error":
                console.print(f"\n[red]error ({data['code']}): {data['message']}[/red]")
            elif event.type == "done" and text:
                console.print()
        if pending is None:
            return
        if decide == "ask":
            approve = await asyncio.to_thread(Confirm.ask, "Approve this change?", default=False)
        else:
            approve = decide == "approve"
        console.print(
            f"[dim]{'approved' if approve else 'rejected'} by {principal.external_id}[/dim]"
        )
        decision = ApprovalDecision(
            approval_id=pending["approval_id"], approve=approve, principal=principal
        )
        events = runner.resume(decision)
