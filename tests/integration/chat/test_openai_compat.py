"""The OpenAI-format endpoint with the official SDK over a real uvicorn, on the offline model
(which calls tools): tool activity never leaks as OpenAI tool calls, threads continue by
header or by the resent conversation, approvals are told as text."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import openai
import pytest
from sqlalchemy import select

from opscopilot.store.engine import Database
from opscopilot.store.models import ChatEvent
from tests.agent_support.scripted import ScriptedChatModel, call, say
from tests.integration.chat.conftest import LiveServer, eventually
from tests.integration.chat.test_chat_sse import ask
from tests.integration.chat.tools import SlowWrite

QUESTION = "which items are at risk of a stockout?"


def sdk(server: LiveServer, headers: dict[str, str]) -> openai.AsyncOpenAI:
    key = headers["Authorization"].removeprefix("Bearer ")
    return openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0)


async def test_tool_calls_stay_inside_and_the_answer_streams(
    serve: Callable[..., LiveServer], viewer_headers: dict[str, str], clean_db: Database
) -> None:
    server = serve()
    client = sdk(server, viewer_headers)
    stream = await client.chat.completions.create(
        model="opscopilot", messages=[{"role": "user", "content": QUESTION}], stream=True
    )
    chunks = [chunk async for chunk in stream]
    kinds: set[str] = set()

    async def stored_to_the_end() -> bool:
        async with clean_db.sessions() as session:
            kinds.update(await session.scalars(select(ChatEvent.event)))
        return "done" in kinds

    await eventually(stored_to_the_end)

    assert "tool_call" in kinds  # the agent did use a tool...
    deltas = [c.choices[0].delta for c in chunks if c.choices]
    assert all(not d.tool_calls and d.function_call is None for d in deltas)  # ...unseen
    text = "".join(d.content or "" for d in deltas)
    assert "offline model" in text and chunks[-1].choices[0].finish_reason == "stop"


async def test_threads_continue_by_header_or_by_the_resent_conversation(
    serve: Callable[..., LiveServer], http: httpx.AsyncClient, viewer_headers: dict[str, str]
) -> None:
    server = serve()
    client = sdk(server, viewer_headers)

    async def thread_of(messages: list[dict[str, str]], **headers: str) -> str:
        raw = await client.chat.completions.with_raw_response.create(
            model="opscopilot",
            messages=messages,  # type: ignore[arg-type]
            extra_headers=headers,
        )
        return raw.headers["x-opscopilot-thread"]

    first = await thread_of([{"role": "user", "content": QUESTION}])
    follow_up = await thread_of(
        [
            {"role": "user", "content": QUESTION},
            {"role": "assistant", "content": "whatever the client kept"},
            {"role": "user", "content": "what can you do?"},
        ]
    )
    fresh = await thread_of([{"role": "user", "content": QUESTION}])
    assert follow_up == first and fresh != first

    owui_1 = await thread_of([{"role": "user", "content": "hi"}], **{"X-OpenWebUI-Chat-Id": "c1"})
    owui_2 = await thread_of([{"role": "user", "content": "hi"}], **{"X-OpenWebUI-Chat-Id": "c1"})
    assert owui_1 == owui_2 != first

    # A thread started in the web chat continues here, by its id.
    response, _ = await ask(http, server, viewer_headers)
    web_thread = response.headers["x-thread-id"]
    same = await thread_of(
        [{"role": "user", "content": "what can you do?"}], **{"X-OpsCopilot-Thread": web_thread}
    )
    assert same == web_thread
    history = (
        await http.get(f"{server.url}/api/v1/chat/threads/{web_thread}", headers=viewer_headers)
    ).json()
    assert [m["content"] for m in history["messages"] if m["role"] == "user"] == [
        QUESTION,
        "what can you do?",
    ]


async def test_an_approval_is_told_as_text(
    serve: Callable[..., LiveServer], operator_headers: dict[str, str]
) -> None:
    server = serve()
    model = ScriptedChatModel(responses=[call("slow_note", text="Line 2 down"), say("Posted.")])
    await server.use_model(model, SlowWrite(seconds=0).spec())
    completion = await sdk(server, operator_headers).chat.completions.create(
        model="opscopilot", messages=[{"role": "user", "content": "post that line 2 is down"}]
    )
    content = completion.choices[0].message.content or ""
    assert "Approval needed" in content and "/api/v1/approvals/" in content
    assert not completion.choices[0].message.tool_calls


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}, 404),
        ({"model": "opscopilot", "messages": [{"role": "assistant", "content": "hi"}]}, 422),
        ({"model": "opscopilot", "messages": []}, 422),
    ],
)
async def test_bad_requests_get_openai_shaped_errors(
    serve: Callable[..., LiveServer],
    http: httpx.AsyncClient,
    viewer_headers: dict[str, str],
    body: dict[str, object],
    status: int,
) -> None:
    server = serve()
    response = await http.post(
        f"{server.url}/v1/chat/completions", json=body, headers=viewer_headers
    )
    assert response.status_code == status
    assert response.json()["error"]["message"]
