"""The copilot as an OpenAI model ("opscopilot"): `POST /v1/chat/completions`, `GET /v1/models`.

Any OpenAI client (the `openai` SDK, Open WebUI) can use it with an API key as its bearer key.
The agent's own tools are its business: they are never sent as OpenAI `tool_calls` (a client
would try to run them); an approval the agent asks for is told as text. Errors after the 200
go out as `data: {"error": ...}`, which the SDK raises as `APIError`.

Thread continuity, first that applies: header `X-OpsCopilot-Thread` (a thread id, e.g. one
started on the web); Open WebUI's `X-OpenWebUI-Chat-Id` (its chat id, scoped to the key's
user); else the conversation itself: the caller's thread whose questions so far are exactly
this request's earlier user messages; else a new thread. The response names the thread in
`X-OpsCopilot-Thread`. Only the last user message goes to the agent, whose memory holds the
rest; system messages are ignored (the copilot has its own prompt).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse

from opscopilot.access.roles import Principal
from opscopilot.api import chat_store
from opscopilot.api.chat_runs import ChatRuns, LiveRun
from opscopilot.api.chat_runtime import chat_runtime
from opscopilot.api.deps import ChatCaller, State, Viewer
from opscopilot.api.errors import error_response
from opscopilot.core.errors import NotFoundError, ValidationFailed

router = APIRouter(prefix="/v1", tags=["openai"])

MODEL_ID = "opscopilot"
_CREATED = 1_767_225_600  # fixed: the model's identity does not change per process


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict[str, Any]] | None = None


class StreamOptions(BaseModel):
    include_usage: bool = False


class CompletionIn(BaseModel):
    model_config = ConfigDict(extra="allow")  # temperature, max_tokens, ...: the agent decides
    model: str
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = None


def _model() -> dict[str, Any]:
    return {"id": MODEL_ID, "object": "model", "created": _CREATED, "owned_by": "opscopilot"}


@router.get("/models")
async def models(_: Viewer) -> dict[str, Any]:
    return {"object": "list", "data": [_model()]}


@router.get("/models/{model_id}")
async def model(model_id: str, _: Viewer) -> dict[str, Any]:
    if model_id != MODEL_ID:
        raise NotFoundError(f"the model {model_id!r} does not exist", field="model")
    return _model()


def _text(message: Message) -> str:
    if isinstance(message.content, str):
        return message.content
    parts = message.content or []
    return "\n".join(str(p.get("text", "")) for p in parts if p.get("type") == "text")


async def _thread_for(
    runs: ChatRuns,
    principal: Principal,
    body: CompletionIn,
    explicit: str | None,
    openwebui_chat: str | None,
) -> str | None:
    if explicit:
        return explicit
    if openwebui_chat:
        scoped = f"{principal.user_id}:{openwebui_chat}".encode()
        return "owui-" + hashlib.sha256(scoped).hexdigest()[:40]
    earlier = [_text(m).strip() for m in body.messages[:-1] if m.role == "user"]
    async with runs.db.sessions() as session:
        return await chat_store.thread_by_questions(
            session, principal=principal, surface="openai", questions=earlier
        )


def _approval_text(data: dict[str, Any]) -> str:
    return (
        f"\n\n**Approval needed:** {data.get('description', data.get('tool', 'a change'))}\n"
        f"An operator can approve it in the web chat or with "
        f"`POST /api/v1/approvals/{data.get('approval_id')}` "
        '`{"decision": "approve"}` (or `"reject"`).'
    )


def _usage(data: dict[str, Any]) -> dict[str, int]:
    usage = data.get("usage") or {}
    prompt = int(usage.get("prompt_tokens", usage.get("input_tokens", 0)) or 0)
    completion = int(usage.get("completion_tokens", usage.get("output_tokens", 0)) or 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": int(usage.get("total_tokens", prompt + completion) or 0),
    }


@router.post("/chat/completions", response_model=None)
async def completions(
    body: CompletionIn,
    state: State,
    principal: ChatCaller,
    x_opscopilot_thread: Annotated[str | None, Header()] = None,
    x_openwebui_chat_id: Annotated[str | None, Header()] = None,
) -> EventSourceResponse | JSONResponse:
    if body.model != MODEL_ID:
        raise NotFoundError(f"the model {body.model!r} does not exist; use {MODEL_ID!r}")
    last = body.messages[-1]
    question = _text(last).strip()
    if last.role != "user" or not question:
        raise ValidationFailed(
            "the last message must be a non-empty user message", field="messages"
        )
    runs = await chat_runtime(state)
    thread_id = await _thread_for(runs, principal, body, x_opscopilot_thread, x_openwebui_chat_id)
    run = await runs.start(
        principal=principal, message=question, thread_id=thread_id, site=None, surface="openai"
    )
    headers = {"X-OpsCopilot-Thread": run.thread_id, "X-Run-Id": str(run.run_id)}
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return EventSourceResponse(
            _chunks(runs, run, include_usage),
            ping=state.settings.api.sse_ping_s,
            send_timeout=state.settings.api.sse_send_timeout_s,
            sep="\n",
            headers=headers,
        )
    return await _complete(runs, run, headers)


def _frame(payload: dict[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else orjson.dumps(payload).decode()
    return f"data: {data}\n\n".encode()


async def _chunks(runs: ChatRuns, run: LiveRun, include_usage: bool) -> AsyncIterator[bytes]:
    base = {
        "id": f"chatcmpl-{run.run_id.hex}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": MODEL_ID,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return _frame({**base, "choices": [choice]})

    yield chunk({"role": "assistant", "content": ""})
    async with aclosing(runs.watch(run.run_id, after=0)) as events:
        async for event in events:
            if event.event == "token":
                yield chunk({"content": str(event.data.get("text", ""))})
            elif event.event == "approval_required":
                yield chunk({"content": _approval_text(event.data)})
            elif event.event == "done":
                yield chunk({}, "stop")
                if include_usage:
                    yield _frame({**base, "choices": [], "usage": _usage(event.data)})
                yield _frame("[DONE]")
                return
            elif event.event == "error":
                error = {
                    "message": str(event.data.get("message", "the agent failed")),
                    "type": "server_error",
                    "code": str(event.data.get("code", "agent_error")),
                }
                yield _frame({"error": error})
                return


async def _complete(runs: ChatRuns, run: LiveRun, headers: dict[str, str]) -> JSONResponse:
    parts: list[str] = []
    async with aclosing(runs.watch(run.run_id, after=0)) as events:
        async for event in events:
            if event.event == "token":
                parts.append(str(event.data.get("text", "")))
            elif event.event == "approval_required":
                parts.append(_approval_text(event.data))
            elif event.event == "error":
                return error_response(
                    502,
                    str(event.data.get("code", "agent_error")),
                    str(event.data.get("message", "the agent failed")),
                    headers=headers,
                )
            elif event.event == "done":
                content = "".join(parts) or str(event.data.get("answer", ""))
                return JSONResponse(
                    {
                        "id": f"chatcmpl-{run.run_id.hex}",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": MODEL_ID,
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": content},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": _usage(event.data),
                    },
                    headers=headers,
                )
    return error_response(502, "incomplete", "the agent stopped without an answer", headers=headers)
