"""POST /api/v1/chat over a real uvicorn with the real agent runner on the offline model:
numbered events stored exactly as streamed, replay by Last-Event-ID on any replica,
threads and their owners."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from opscopilot.store.engine import Database
from opscopilot.store.models import ChatEvent, ChatRun
from tests.integration.chat.conftest import LiveServer
from tests.integration.chat.sse import Event, collect

QUESTION = "which items are at risk of a stockout?"


async def ask(
    http: httpx.AsyncClient, server: LiveServer, headers: dict[str, str], **body: Any
) -> tuple[httpx.Response, list[Event]]:
    async with http.stream(
        "POST", f"{server.url}/api/v1/chat", json={"message": QUESTION, **body}, headers=headers
    ) as response:
        if response.status_code != 200:
            await response.aread()
            return response, []
        return response, await collect(response)


async def replay(
    http: httpx.AsyncClient, server: LiveServer, headers: dict[str, str], run_id: str, last: int
) -> list[Event]:
    async with http.stream(
        "GET",
        f"{server.url}/api/v1/chat/runs/{run_id}/events",
        headers={**headers, "Last-Event-ID": str(last)},
    ) as response:
        assert response.status_code == 200, await response.aread()
        return await collect(response)


async def stored(db: Database, run_id: str) -> list[Event]:
    """The run's stored events, once its end is stored (storing trails the live stream)."""
    deadline = time.monotonic() + 10
    while True:
        async with db.sessions() as session:
            rows = await session.execute(
                select(ChatEvent.seq, ChatEvent.event, ChatEvent.data)
                .where(ChatEvent.run_id == run_id)
                .order_by(ChatEvent.seq)
            )
            events = [Event(seq, event, data) for seq, event, data in rows.tuples()]
        if (events and events[-1].event in ("done", "error")) or time.monotonic() > deadline:
            return events
        await asyncio.sleep(0.05)


async def test_a_turn_streams_numbered_events_stored_exactly_as_sent(
    serve: Callable[..., LiveServer],
    http: httpx.AsyncClient,
    viewer_headers: dict[str, str],
    clean_db: Database,
) -> None:
    server = serve()
    response, events = await ask(http, server, viewer_headers)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-store"
    run_id, thread_id = response.headers["x-run-id"], response.headers["x-thread-id"]
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    kinds = [e.event for e in events]
    assert kinds[-1] == "done" and "token" in kinds and "error" not in kinds
    done = events[-1].data
    assert done["run_id"] == run_id and done["thread_id"] == thread_id
    assert "offline model" in done["answer"]
    assert "".join(e.data["text"] for e in events if e.event == "token").strip() == done["answer"]
    assert await stored(clean_db, run_id) == events
    async with clean_db.sessions() as session:
        run = await session.get(ChatRun, run_id)
    assert run is not None and run.status == "done" and run.question == QUESTION


async def test_last_event_id_replays_exactly_the_events_after_it_on_any_replica(
    serve: Callable[..., LiveServer],
    http: httpx.AsyncClient,
    viewer_headers: dict[str, str],
) -> None:
    first, second = serve(), serve()
    response, events = await ask(http, first, viewer_headers)
    run_id = response.headers["x-run-id"]
    for server in (first, second):
        for last in range(len(events) + 1):
            assert await replay(http, server, viewer_headers, run_id, last) == events[last:]
    # The query form serves clients that cannot set the header.
    async with http.stream(
        "GET",
        f"{second.url}/api/v1/chat/runs/{run_id}/events",
        params={"after": 1},
        headers=viewer_headers,
    ) as r:
        assert await collect(r) == events[1:]


async def test_a_thread_continues_and_keeps_its_history(
    serve: Callable[..., LiveServer],
    http: httpx.AsyncClient,
    viewer_headers: dict[str, str],
) -> None:
    server = serve()
    first, events_1 = await ask(http, server, viewer_headers)
    thread_id = first.headers["x-thread-id"]
    second, events_2 = await ask(
        http, server, viewer_headers, message="what can you do?", thread_id=thread_id
    )
    assert second.headers["x-thread-id"] == thread_id

    history = (
        await http.get(f"{server.url}/api/v1/chat/threads/{thread_id}", headers=viewer_headers)
    ).json()
    assert [(m["role"], m["content"]) for m in history["messages"]] == [
        ("user", QUESTION),
        ("assistant", events_1[-1].data["answer"]),
        ("user", "what can you do?"),
        ("assistant", events_2[-1].data["answer"]),
    ]
    assert history["last_run"] == {"run_id": second.headers["x-run-id"], "status": "done"}
    listed = (await http.get(f"{server.url}/api/v1/chat/threads", headers=viewer_headers)).json()
    assert [t["thread_id"] for t in listed] == [thread_id]


async def test_threads_and_runs_are_their_owners_alone(
    serve: Callable[..., LiveServer],
    http: httpx.AsyncClient,
    viewer_headers: dict[str, str],
    key_factory: Any,
) -> None:
    server = serve()
    response, _ = await ask(http, server, viewer_headers)
    thread_id, run_id = response.headers["x-thread-id"], response.headers["x-run-id"]
    other = await key_factory("viewer", "someone-else")

    thread = await http.get(f"{server.url}/api/v1/chat/threads/{thread_id}", headers=other)
    events = await http.get(f"{server.url}/api/v1/chat/runs/{run_id}/events", headers=other)
    hijack, _ = await ask(http, server, other, thread_id=thread_id)
    listed = (await http.get(f"{server.url}/api/v1/chat/threads", headers=other)).json()
    assert (thread.status_code, events.status_code, hijack.status_code) == (404, 404, 404)
    assert listed == []


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"message": ""}, 422, "message"),
        ({"message": "hi", "thread_id": "has spaces"}, 422, "thread_id"),
        ({"message": "hi", "site": "north"}, 403, "site"),
    ],
)
async def test_bad_turns_are_refused_before_streaming(
    serve: Callable[..., LiveServer],
    http: httpx.AsyncClient,
    key_factory: Any,
    body: dict[str, Any],
    status: int,
    field: str,
) -> None:
    server = serve()
    headers = await key_factory("viewer", "south-only", ["south"])
    response = await http.post(f"{server.url}/api/v1/chat", json=body, headers=headers)
    assert response.status_code == status
    assert response.json()["error"]["field"] == field


async def test_chat_needs_a_key(serve: Callable[..., LiveServer], http: httpx.AsyncClient) -> None:
    server = serve()
    response = await http.post(f"{server.url}/api/v1/chat", json={"message": "hi"})
    assert response.status_code == 401
    bad = await http.get(
        f"{server.url}/api/v1/chat/runs/not-a-run/events",
        headers={"Authorization": "Bearer ocp_nope"},
    )
    assert bad.status_code == 401
