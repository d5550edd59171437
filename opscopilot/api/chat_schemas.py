"""Request and response bodies of the chat routes (the OpenAI format lives with its router)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field


class ChatIn(BaseModel):
    message: str = Field(min_length=1, max_length=8000, description="The question.")
    thread_id: str | None = Field(
        None, max_length=128, description="Continue this thread; a new one when absent."
    )
    site: str | None = Field(None, max_length=64, description="Plant code; the default site.")


class DecisionIn(BaseModel):
    decision: Literal["approve", "reject"]
    comment: str | None = Field(None, max_length=2000)


class MessageRead(BaseModel):
    role: Literal["user", "assistant"]
    content: str
    run_id: UUID
    at: datetime
    status: str | None = None
    error: str | None = None


class PendingApproval(BaseModel):
    approval_id: UUID
    tool: str
    description: str


class LastRun(BaseModel):
    run_id: UUID
    status: str


class ThreadRead(BaseModel):
    thread_id: str
    title: str | None
    site: str | None
    surface: str
    created_at: datetime
    messages: list[MessageRead]
    pending_approvals: list[PendingApproval]
    last_run: LastRun | None


class ThreadSummary(BaseModel):
    thread_id: str
    title: str | None
    surface: str
    updated_at: datetime


SSE_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": (
            "Server-Sent Events, each with an `id` (its sequence number in the run): "
            "`token` {text}, `tool_call` {name, arguments, call_id}, `tool_result` {name, "
            "call_id, summary, ok}, `approval_required` {approval_id, tool, description, "
            "arguments, how_to_approve}, `status` {text}, `done` {thread_id, run_id, answer, "
            "usage}, `error` {code, message}. Headers `X-Run-Id` and `X-Thread-Id` name the "
            "run; `GET /api/v1/chat/runs/{run_id}/events` with `Last-Event-ID` resumes it."
        ),
        "content": {"text/event-stream": {}},
    }
}
