"""The agent's rows: threads and runs, the per-thread lease, approvals and audit entries.

Each function opens its own short transaction from the session factory; none is held
while the model thinks. Approvals move pending -> approved | rejected | expired, and an
approved one moves approved -> executing -> executed | failed by compare-and-set updates,
so two deciders or two resumed runs cannot both win.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.access.roles import Principal
from opscopilot.access.service import audit
from opscopilot.core.errors import NotFoundError, PermissionDenied
from opscopilot.store.engine import Database
from opscopilot.store.models import Approval, ChatRun, ChatThread


async def record_audit(
    db: Database,
    *,
    actor: Principal | str,
    event_type: str,
    subject: str | None = None,
    details: dict[str, Any] | None = None,
    site: str | None = None,
    thread_id: str | None = None,
) -> None:
    async with db.transaction() as session:
        await audit(
            session,
            actor=actor,
            event_type=event_type,
            subject=subject,
            details=details,
            site=site,
            thread_id=thread_id,
        )


# -- threads, runs and the lease ----------------------------------------------------------


async def open_turn(
    db: Database,
    *,
    thread_id: str,
    principal: Principal,
    site: str,
    surface: str,
    run_id: uuid.UUID,
    question: str | None,
    lease: timedelta,
    check_owner: bool,
) -> bool:
    """Create or check the thread and the run, and take the thread's lease; for a question,
    also audit it and let the thread's open approvals lapse (a new message instead of a
    decision: the graph drops the paused node, `prepare` answers its call as not done).
    One transaction: a turn starts with one commit.

    Returns False when another run holds the lease. A thread belongs to the person who
    opened it (admins excepted; an approver resumes it without owning it); a surface may
    have created the thread and the run already.
    """
    async with db.transaction() as session:
        return await take_turn(
            session,
            thread_id=thread_id,
            principal=principal,
            site=site,
            surface=surface,
            run_id=run_id,
            question=question,
            lease=lease,
            check_owner=check_owner,
        )


async def take_turn(
    session: AsyncSession,
    *,
    thread_id: str,
    principal: Principal,
    site: str,
    surface: str,
    run_id: uuid.UUID,
    question: str | None,
    lease: timedelta,
    check_owner: bool,
    thread: ChatThread | None = None,
    fresh: bool = False,
) -> bool:
    """`open_turn` inside the caller's transaction (a surface that opens its thread in the
    same one starts a turn with a single commit); the caller commits.

    `thread` is the thread's row when the caller has it already, locked or just added in
    this transaction; `fresh` says the caller made both the thread and the run id in this
    transaction, so there is no run row to look for and no approval to let lapse: the
    turn is then three INSERTs (thread with its lease, run, audit) and nothing else."""
    now = datetime.now(UTC)
    if thread is None:
        thread = await session.get(ChatThread, thread_id, with_for_update=True)
    if thread is None:
        thread = ChatThread(
            id=thread_id,
            user_id=principal.user_id,
            surface=surface,
            title=(question or "")[:120] or None,
            site=site,
        )
        session.add(thread)
    elif check_owner and thread.user_id != principal.user_id and principal.role != "admin":
        raise PermissionDenied("this conversation belongs to someone else")
    held = thread.busy_run_id not in (None, run_id)
    if held and thread.busy_until is not None and thread.busy_until > now:
        return False
    thread.busy_run_id = run_id
    thread.busy_until = now + lease
    # The thread's row first (a new one is inserted with its lease): the unit of work does
    # not order rows by foreign key, and the run's points at it.
    await session.flush()
    run = None if fresh else await session.get(ChatRun, run_id)
    if run is None:
        session.add(ChatRun(id=run_id, thread_id=thread_id, status="running", question=question))
    if question is not None:
        await audit(
            session,
            actor=principal,
            event_type="chat.question",
            subject=question[:2000],
            details={"surface": surface, "run_id": str(run_id)},
            site=site,
            thread_id=thread_id,
        )
        if not fresh:
            await _expire_pending(session, thread_id=thread_id, principal=principal)
    return True


async def close_turn(
    db: Database,
    *,
    thread_id: str,
    run_id: uuid.UUID,
    status: str,
    answer: str | None,
    usage: dict[str, Any],
    error: str | None,
) -> None:
    """End the run and free the thread's lease, without waiting for the WAL flush.

    This is bookkeeping on the path to every answer's `done`: the stored events say the
    same, and a lease lost to a Postgres crash just expires. Audits stay durable. Both
    rows change in one statement (the run's update rides along as a CTE), on a plain
    connection: no ORM session for two fixed updates."""
    ended = (
        update(ChatRun)
        .where(ChatRun.id == run_id)
        .values(
            status=status,
            answer=answer,
            usage=usage,
            error=error,
            finished_at=datetime.now(UTC),
        )
        .cte("ended_run")
    )
    freed = (
        update(ChatThread)
        .where(ChatThread.id == thread_id, ChatThread.busy_run_id == run_id)
        .values(busy_run_id=None, busy_until=None)
        .add_cte(ended)
    )
    async with db.engine.begin() as conn:
        await conn.execute(text("SET LOCAL synchronous_commit TO OFF"))
        await conn.execute(freed)


# -- approvals --------------------------------------------------------------------------


@dataclass(frozen=True)
class ApprovalRow:
    id: str
    thread_id: str
    site: str | None
    tool_name: str
    tool_call_id: str | None
    arguments: dict[str, Any]
    description: str
    status: str
    requested_by: str | None
    requested_role: str | None
    decided_by: str | None
    idempotency_key: str
    result: dict[str, Any] | None


def _row(a: Approval) -> ApprovalRow:
    return ApprovalRow(
        id=str(a.id),
        thread_id=a.thread_id,
        site=a.site,
        tool_name=a.tool_name,
        tool_call_id=a.tool_call_id,
        arguments=a.arguments,
        description=a.description,
        status=a.status,
        requested_by=a.requested_by,
        requested_role=a.requested_role,
        decided_by=a.decided_by,
        idempotency_key=a.idempotency_key,
        result=a.result,
    )


def _uuid(approval_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(approval_id)
    except ValueError:
        raise NotFoundError("no such approval", field="approval_id") from None


async def ensure_approval(
    db: Database,
    *,
    principal: Principal,
    thread_id: str,
    run_id: str,
    site: str,
    tool_name: str,
    tool_call_id: str,
    arguments: dict[str, Any],
    description: str,
) -> ApprovalRow:
    """The approval of one proposed call; the same call (a re-run node) finds the same row."""
    key = f"{thread_id}:{tool_call_id}"
    async with db.transaction() as session:
        inserted = await session.scalar(
            insert(Approval)
            .values(
                id=uuid.uuid4(),
                thread_id=thread_id,
                run_id=uuid.UUID(run_id),
                site=site,
                tool_name=tool_name,
                tool_call_id=tool_call_id,
                arguments=arguments,
                description=description,
                status="pending",
                requested_by=principal.external_id,
                requested_role=principal.role,
                idempotency_key=key,
            )
            .on_conflict_do_nothing(index_elements=[Approval.idempotency_key])
            .returning(Approval.id)
        )
        if inserted is not None:
            await audit(
                session,
                actor=principal,
                event_type="approval.requested",
                subject=str(inserted),
                details={"tool": tool_name, "arguments": arguments, "description": description},
                site=site,
                thread_id=thread_id,
            )
        row = await session.scalar(select(Approval).where(Approval.idempotency_key == key))
        assert row is not None
        return _row(row)


async def get_approval(db: Database, approval_id: str) -> ApprovalRow:
    async with db.session() as session:
        row = await session.get(Approval, _uuid(approval_id))
        if row is None:
            raise NotFoundError("no such approval", field="approval_id")
        return _row(row)


async def decide_approval(
    db: Database, *, approval_id: str, approve: bool, principal: Principal, comment: str | None
) -> ApprovalRow | None:
    """pending -> approved | rejected; None when it was not pending (someone else decided)."""
    status = "approved" if approve else "rejected"
    async with db.transaction() as session:
        row = await session.scalar(
            update(Approval)
            .where(Approval.id == _uuid(approval_id), Approval.status == "pending")
            .values(status=status, decided_by=principal.external_id, decided_at=datetime.now(UTC))
            .returning(Approval)
        )
        if row is None:
            return None
        await audit(
            session,
            actor=principal,
            event_type=f"approval.{status}",
            subject=approval_id,
            details={"tool": row.tool_name, "comment": comment, "requested_by": row.requested_by},
            site=row.site,
            thread_id=row.thread_id,
        )
        return _row(row)


async def _expire_pending(session: AsyncSession, *, thread_id: str, principal: Principal) -> None:
    ids = (
        await session.scalars(
            update(Approval)
            .where(Approval.thread_id == thread_id, Approval.status == "pending")
            .values(status="expired", decided_at=datetime.now(UTC))
            .returning(Approval.id)
        )
    ).all()
    for approval_id in ids:
        await audit(
            session,
            actor=principal,
            event_type="approval.expired",
            subject=str(approval_id),
            details={"reason": "a new message was sent instead of a decision"},
            thread_id=thread_id,
        )


async def claim_execution(db: Database, *, approval_id: str) -> tuple[bool, ApprovalRow]:
    """approved -> executing; (True, row) for the one caller that may run the write."""
    async with db.transaction() as session:
        claimed = await session.scalar(
            update(Approval)
            .where(Approval.id == _uuid(approval_id), Approval.status == "approved")
            .values(status="executing")
            .returning(Approval)
        )
        if claimed is not None:
            return True, _row(claimed)
        row = await session.get(Approval, _uuid(approval_id))
        if row is None:
            raise NotFoundError("no such approval", field="approval_id")
        return False, _row(row)


async def finish_execution(
    db: Database,
    *,
    approval: ApprovalRow,
    ok: bool,
    result: dict[str, Any],
    actor: str,
) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(Approval)
            .where(Approval.id == _uuid(approval.id), Approval.status == "executing")
            .values(status="executed" if ok else "failed", result=result)
        )
        await audit(
            session,
            actor=actor,
            event_type="tool.executed" if ok else "tool.failed",
            subject=approval.tool_name,
            details={"approval_id": approval.id, "arguments": approval.arguments, "result": result},
            site=approval.site,
            thread_id=approval.thread_id,
        )
