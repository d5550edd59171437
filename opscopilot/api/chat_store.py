"""Chat threads, runs and their stored events: the queries behind every chat surface.

A thread belongs to the person whose key opened it; others get a 404, as if it did not
exist. Runs keep the question and the answer, so a thread's history needs no checkpointer.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from opscopilot.access.roles import Principal
from opscopilot.core.errors import ConflictError, NotFoundError, PermissionDenied, ValidationFailed
from opscopilot.store.models import Approval, ChatEvent, ChatRun, ChatThread

THREAD_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
TERMINAL_EVENTS = frozenset({"done", "error"})
# An approval in these states can still be decided (or, after a crash, resumed).
DECIDABLE = frozenset({"pending", "approved", "rejected"})


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    event: str
    data: dict[str, Any]


# A run's end as its row records it: (run id, status, answer, usage, error).
RunEnd = tuple[uuid.UUID, str, str | None, dict[str, Any], str | None]


def _owns(thread: ChatThread, principal: Principal) -> bool:
    return thread.user_id == principal.user_id or principal.role == "admin"


async def open_thread(
    session: AsyncSession,
    *,
    principal: Principal,
    thread_id: str | None,
    site: str | None,
    surface: str,
    title: str,
    default_site: str,
) -> ChatThread:
    """The caller's thread (created when new); checks the id, the owner and the site.

    A new thread is only added to the session: the caller flushes it once it has taken
    the lease (one INSERT, rather than an INSERT and then an UPDATE)."""
    if thread_id is not None and not THREAD_ID.match(thread_id):
        raise ValidationFailed(
            "thread_id: 1-128 letters, digits or _.:- characters", field="thread_id"
        )
    thread = None
    if thread_id is not None:
        # Locked like the agent's own lease check, so two turns cannot both pass it here.
        thread = await session.get(ChatThread, thread_id, with_for_update=True)
        if thread is not None and not _owns(thread, principal):
            raise NotFoundError("no such thread", field="thread_id")
    chosen = site or (thread.site if thread and thread.site else None) or default_site
    if not principal.sees_site(chosen):
        raise PermissionDenied(f"your key does not cover site {chosen!r}", field="site")
    if thread is None:
        thread = ChatThread(
            id=thread_id or uuid.uuid4().hex,
            user_id=principal.user_id,
            surface=surface,
            title=title[:120],
            site=chosen,
        )
        session.add(thread)
    else:
        _check_lease(thread)
        if thread.site != chosen:
            thread.site = chosen
    return thread


def _check_lease(thread: ChatThread) -> None:
    """One run at a time per thread (the agent's lease): say so before streaming starts."""
    held = thread.busy_run_id is not None and thread.busy_until is not None
    if held and thread.busy_until > datetime.now(UTC):  # type: ignore[operator]
        raise ConflictError(
            f"this thread is still answering (run {thread.busy_run_id}); follow it at "
            f"/api/v1/chat/runs/{thread.busy_run_id}/events or wait for it to finish",
            field="thread_id",
            details={"run_id": str(thread.busy_run_id)},
        )


async def relax_durability(conn: AsyncConnection | AsyncSession) -> None:
    """Commit this transaction without waiting for the WAL flush (only this one).

    For the chat's own bookkeeping: the events are a replay log of a stream, and the
    thread and run rows are written again by the agent in its own durable transactions.
    Visibility to other replicas is immediate; a Postgres crash could lose the last few
    hundred milliseconds of it, never anything the agent did. Waiting for a flush
    (about 10 ms here) on every batch of tokens would put the disk in the stream's path.
    """
    await conn.execute(text("SET LOCAL synchronous_commit TO OFF"))


async def create_run(
    session: AsyncSession, *, thread_id: str, question: str | None, run_id: uuid.UUID | None = None
) -> uuid.UUID:
    run = ChatRun(
        id=run_id or uuid.uuid4(), thread_id=thread_id, status="running", question=question
    )
    session.add(run)
    await session.flush()
    return run.id


async def store_events(
    conn: AsyncConnection,
    *,
    rows: list[tuple[uuid.UUID, StoredEvent]],
    finished: list[RunEnd],
) -> None:
    """One batch of events, and the runs it ends (id, status, answer, usage, error).

    The runner closes its runs itself; this only closes those it left running (it failed
    before taking them over, or crashed), and frees their threads. Three statements at
    most, however many runs the batch holds."""
    # Core statements on a plain connection: this runs for every batch of every run.
    await relax_durability(conn)
    if rows:
        await conn.execute(
            insert(ChatEvent),
            [{"run_id": r, "seq": e.seq, "event": e.event, "data": e.data} for r, e in rows],
        )
    if not finished:
        return
    now = datetime.now(UTC)
    await conn.execute(
        update(ChatRun)
        .where(ChatRun.id == bindparam("run"), ChatRun.status == "running")
        .values(
            status=bindparam("ended"),
            answer=bindparam("text"),
            usage=bindparam("counts"),
            error=bindparam("reason"),
            finished_at=now,
        ),
        [
            {"run": run_id, "ended": status, "text": answer, "counts": usage, "reason": error}
            for run_id, status, answer, usage, error in finished
        ],
    )
    # An ended run holds no lease: one the runner did not free (`ChatRuns.start` may have
    # taken it) is freed here. One it freed no longer names the run, so this is a no-op.
    await conn.execute(
        update(ChatThread)
        .where(ChatThread.busy_run_id.in_([run_id for run_id, *_ in finished]))
        .values(busy_run_id=None, busy_until=None)
    )


async def load_events(
    session: AsyncSession, *, run_id: uuid.UUID, after: int, limit: int = 500
) -> list[StoredEvent]:
    rows = await session.execute(
        select(ChatEvent.seq, ChatEvent.event, ChatEvent.data)
        .where(ChatEvent.run_id == run_id, ChatEvent.seq > after)
        .order_by(ChatEvent.seq)
        .limit(limit)
    )
    return [StoredEvent(seq, event, data) for seq, event, data in rows.tuples()]


async def run_for(session: AsyncSession, *, run_id: str, principal: Principal) -> ChatRun:
    """A run the caller may read (its thread is theirs)."""
    try:
        rid = uuid.UUID(run_id)
    except ValueError:
        raise NotFoundError("no such run", field="run_id") from None
    found = await session.execute(
        select(ChatRun, ChatThread)
        .join(ChatThread, ChatThread.id == ChatRun.thread_id)
        .where(ChatRun.id == rid)
    )
    row = found.tuples().first()
    if row is None or not _owns(row[1], principal):
        raise NotFoundError("no such run", field="run_id")
    return row[0]


async def run_status(
    session: AsyncSession, *, run_id: uuid.UUID
) -> tuple[str | None, float | None]:
    """The run's status and, once it ended, how many seconds ago."""
    found = await session.execute(
        select(ChatRun.status, func.extract("epoch", func.now() - ChatRun.finished_at)).where(
            ChatRun.id == run_id
        )
    )
    row = found.tuples().first()
    if row is None:
        return None, None
    return row[0], float(row[1]) if row[1] is not None else None


async def decidable_approval(
    session: AsyncSession, *, approval_id: str, principal: Principal
) -> Approval:
    """An approval the caller may decide: it exists, is on their sites and is still open."""
    try:
        aid = uuid.UUID(approval_id)
    except ValueError:
        raise NotFoundError("no such approval", field="approval_id") from None
    approval = await session.get(Approval, aid)
    if approval is None or (approval.site and not principal.sees_site(approval.site)):
        raise NotFoundError("no such approval", field="approval_id")
    if approval.status not in DECIDABLE:
        raise ConflictError(f"this approval is already {approval.status}", field="approval_id")
    return approval


async def busy_run(session: AsyncSession, *, thread_id: str) -> uuid.UUID | None:
    """The run holding the thread's lease."""
    run_id: uuid.UUID | None = await session.scalar(
        select(ChatThread.busy_run_id).where(ChatThread.id == thread_id)
    )
    return run_id


async def thread_history(
    session: AsyncSession, *, thread_id: str, principal: Principal
) -> dict[str, Any]:
    thread = await session.get(ChatThread, thread_id)
    if thread is None or not _owns(thread, principal):
        raise NotFoundError("no such thread", field="thread_id")
    runs = (
        await session.scalars(
            select(ChatRun).where(ChatRun.thread_id == thread_id).order_by(ChatRun.created_at)
        )
    ).all()
    messages: list[dict[str, Any]] = []
    for run in runs:
        if run.question is not None:
            messages.append(
                {"role": "user", "content": run.question, "run_id": run.id, "at": run.created_at}
            )
        if run.answer or run.status != "done":
            messages.append(
                {
                    "role": "assistant",
                    "content": run.answer or "",
                    "run_id": run.id,
                    "status": run.status,
                    "error": run.error,
                    "at": run.finished_at or run.created_at,
                }
            )
    approvals = (
        await session.scalars(
            select(Approval)
            .where(Approval.thread_id == thread_id, Approval.status == "pending")
            .order_by(Approval.created_at)
        )
    ).all()
    return {
        "thread_id": thread.id,
        "title": thread.title,
        "site": thread.site,
        "surface": thread.surface,
        "created_at": thread.created_at,
        "messages": messages,
        "pending_approvals": [
            {"approval_id": a.id, "tool": a.tool_name, "description": a.description}
            for a in approvals
        ],
        "last_run": ({"run_id": runs[-1].id, "status": runs[-1].status} if runs else None),
    }


async def list_threads(
    session: AsyncSession, *, principal: Principal, limit: int = 50
) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(ChatThread.id, ChatThread.title, ChatThread.surface, ChatThread.updated_at)
        .where(ChatThread.user_id == principal.user_id)
        .order_by(ChatThread.updated_at.desc())
        .limit(limit)
    )
    return [
        {"thread_id": i, "title": t, "surface": s, "updated_at": u} for i, t, s, u in rows.tuples()
    ]


async def thread_by_questions(
    session: AsyncSession, *, principal: Principal, surface: str, questions: list[str]
) -> str | None:
    """The caller's most recent thread whose asked questions are exactly `questions`.

    Clients of the OpenAI format resend the whole conversation each turn; its earlier user
    messages name the thread that holds the agent's memory of it.
    """
    if not questions:
        return None
    candidates = (
        await session.scalars(
            select(ChatRun.thread_id)
            .join(ChatThread, ChatThread.id == ChatRun.thread_id)
            .where(
                ChatThread.user_id == principal.user_id,
                ChatThread.surface == surface,
                ChatRun.question == questions[-1],
            )
            .group_by(ChatRun.thread_id)
            .order_by(func.max(ChatRun.created_at).desc())
            .limit(20)
        )
    ).all()
    wanted = [_norm(q) for q in questions]
    for thread_id in candidates:
        asked = (
            await session.scalars(
                select(ChatRun.question)
                .where(ChatRun.thread_id == thread_id, ChatRun.question.is_not(None))
                .order_by(ChatRun.created_at)
            )
        ).all()
        if [_norm(q or "") for q in asked] == wanted:
            return thread_id
    return None


def _norm(text: str) -> str:
    return " ".join(text.split())
