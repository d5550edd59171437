"""Runs outlive their responses: a client that leaves has a grace period of two pings to come
back, then its read-only run is cancelled and leaves no task behind; a run carrying an
approved write finishes; a client that stops reading is dropped after the send timeout.
The real runner on a scripted model, with slow tools to have runs in flight."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import insert, select

from opscopilot.store.engine import Database
from opscopilot.store.models import Approval, ChatEvent, ChatRun
from tests.agent_support.scripted import ScriptedChatModel, call, say
from tests.integration.chat.conftest import PING_S, SEND_TIMEOUT_S, LiveServer, eventually
from tests.integration.chat.sse import collect, events
from tests.integration.chat.test_chat_sse import ask, replay, stored
from tests.integration.chat.tools import SlowRead, SlowWrite

GRACE_S = 2 * PING_S


async def run_row(db: Database, run_id: str) -> ChatRun:
    async with db.sessions() as session:
        run = await session.get(ChatRun, run_id)
        assert run is not None
        return run


async def test_a_client_that_leaves_has_its_read_only_run_cancelled_without_leftovers(
    serve: Callable[..., LiveServer],
    http: httpx.AsyncClient,
    viewer_headers: dict[str, str],
    clean_db: Database,
) -> None:
    server = serve()
    slow = SlowRead(seconds=60)
    model = ScriptedChatModel(responses=[say("Ready."), call("slow_lookup", sku="A-1")])
    await server.use_model(model, slow.spec())
    await ask(http, server, viewer_headers)  # builds the runtime and its long-lived tasks
    before = await server.task_names()

    async with http.stream(
        "POST", f"{server.url}/api/v1/chat", json={"message": "A-1?"}, headers=viewer_headers
    ) as response:
        run_id = response.headers["x-run-id"]
        (first,) = await collect(response, limit=1)
    left = time.monotonic()
    assert first.event == "tool_call"

    await asyncio.sleep(GRACE_S / 2)
    assert (await run_row(clean_db, run_id)).status == "running"  # still within the grace
    assert not slow.cancelled.is_set()

    async def cancelled() -> bool:
        return (await run_row(clean_db, run_id)).status == "cancelled"

    await eventually(cancelled, timeout=GRACE_S + 5)
    assert time.monotonic() - left >= GRACE_S * 0.9
    assert slow.cancelled.is_set() and not slow.finished.is_set()
    last = (await stored(clean_db, run_id))[-1]
    assert (last.event, last.data["code"]) == ("error", "cancelled")

    # Task names are unique: any name not there before is a task the run left behind.
    left_over: set[str] = set()

    async def no_leftovers() -> bool:
        left_over.clear()
        left_over.update(set(await server.task_names()) - set(before))
        return not left_over

    try:
        await eventually(no_leftovers, timeout=5)
    except AssertionError:
        raise AssertionError(f"tasks left behind: {sorted(left_over)}") from None
    assert server.runs.live == {} and server.runs.open_streams == 0


async def test_a_client_back_within_the_grace_period_gets_the_rest_exactly(
    serve: Callable[..., LiveServer],
    http: httpx.AsyncClient,
    viewer_headers: dict[str, str],
    clean_db: Database,
) -> None:
    server = serve()
    slow = SlowRead(seconds=GRACE_S * 1.5)
    model = ScriptedChatModel(responses=[call("slow_lookup", sku="A-1"), say("A-1: 42 on hand.")])
    await server.use_model(model, slow.spec())

    async with http.stream(
        "POST", f"{server.url}/api/v1/chat", json={"message": "A-1?"}, headers=viewer_headers
    ) as response:
        run_id = response.headers["x-run-id"]
        seen = await collect(response, limit=1)
    await asyncio.sleep(GRACE_S / 3)
    rest = await replay(http, server, viewer_headers, run_id, seen[-1].id or 0)

    assert seen + rest == await stored(clean_db, run_id)
    assert rest[-1].event == "done" and rest[-1].data["answer"] == "A-1: 42 on hand."
    assert slow.finished.is_set() and (await run_row(clean_db, run_id)).status == "done"


async def test_another_replica_follows_a_live_run_from_the_store(
    serve: Callable[..., LiveServer],
    http: httpx.AsyncClient,
    viewer_headers: dict[str, str],
    clean_db: Database,
) -> None:
    first, second = serve(), serve()
    # The run stays live until the second replica has answered (however slowly it starts).
    gate = threading.Event()
    slow = SlowRead(seconds=30.0, gate=gate)
    model = ScriptedChatModel(responses=[call("slow_lookup", sku="A-1"), say("A-1: 42 on hand.")])
    await first.use_model(model, slow.spec())

    async with http.stream(
        "POST", f"{first.url}/api/v1/chat", json={"message": "A-1?"}, headers=viewer_headers
    ) as response:
        run_id, thread_id = response.headers["x-run-id"], response.headers["x-thread-id"]
        stream = events(response)
        head = [await anext(stream)]
        follower = asyncio.create_task(replay(http, second, viewer_headers, run_id, 0))
        busy = await http.post(
            f"{second.url}/api/v1/chat",
            json={"message": "and B-2?", "thread_id": thread_id},
            headers=viewer_headers,
        )
        gate.set()
        tail = [event async for event in stream]

    assert busy.status_code == 409 and busy.json()["error"]["details"]["run_id"] == run_id
    followed = await follower
    assert followed == head + tail == await stored(clean_db, run_id)
    assert followed[-1].event == "done"


async def _approval_asked(
    server: LiveServer, http: httpx.AsyncClient, headers: dict[str, str]
) -> dict[str, Any]:
    response, events = await ask(http, server, headers, message="post that line 2 is down")
    (asked,) = [e.data for e in events if e.event == "approval_required"]
    assert events[-1].event == "done"
    assert asked["how_to_approve"]["url"] == f"/api/v1/approvals/{asked['approval_id']}"
    return {**asked, "thread_id": response.headers["x-thread-id"]}


async def test_approving_resumes_the_thread_and_streams_it(
    serve: Callable[..., LiveServer],
    http: httpx.AsyncClient,
    operator_headers: dict[str, str],
    viewer_headers: dict[str, str],
    clean_db: Database,
) -> None:
    server = serve()
    write = SlowWrite(seconds=0)
    model = ScriptedChatModel(responses=[call("slow_note", text="Line 2 down"), say("Posted.")])
    await server.use_model(model, write.spec())
    asked = await _approval_asked(server, http, operator_headers)
    url = f"{server.url}/api/v1/approvals/{asked['approval_id']}"

    as_viewer = await http.post(url, json={"decision": "approve"}, headers=viewer_headers)
    unknown = await http.post(
        f"{server.url}/api/v1/approvals/00000000-0000-0000-0000-000000000000",
        json={"decision": "approve"},
        headers=operator_headers,
    )
    async with http.stream(
        "POST", url, json={"decision": "approve"}, headers=operator_headers
    ) as response:
        assert response.status_code == 200
        run_id = response.headers["x-run-id"]
        events = await collect(response)
    again = await http.post(url, json={"decision": "approve"}, headers=operator_headers)

    assert (as_viewer.status_code, unknown.status_code, again.status_code) == (403, 404, 409)
    assert [e.event for e in events if e.event != "status"][-2:] == ["token", "done"]
    (result,) = [e.data for e in events if e.event == "tool_result"]
    assert result["ok"] and write.effects == ["Line 2 down"]
    assert events[-1].data["answer"] == "Posted." and events[-1].data["run_id"] == run_id
    assert await stored(clean_db, run_id) == events
    run = await run_row(clean_db, run_id)
    assert run.thread_id == asked["thread_id"] and run.status == "done"
    history = (
        await http.get(
            f"{server.url}/api/v1/chat/threads/{asked['thread_id']}", headers=operator_headers
        )
    ).json()
    assert history["pending_approvals"] == []
    assert history["messages"][-1]["content"] == "Posted."


async def test_an_approved_write_finishes_when_its_client_leaves(
    serve: Callable[..., LiveServer],
    http: httpx.AsyncClient,
    operator_headers: dict[str, str],
    clean_db: Database,
) -> None:
    server = serve()
    write = SlowWrite(seconds=GRACE_S * 2)
    model = ScriptedChatModel(responses=[call("slow_note", text="Line 2 down"), say("Posted.")])
    await server.use_model(model, write.spec())
    asked = await _approval_asked(server, http, operator_headers)

    decision = asyncio.create_task(
        http.post(
            f"{server.url}/api/v1/approvals/{asked['approval_id']}",
            json={"decision": "approve"},
            headers=operator_headers,
        )
    )
    await eventually(lambda: asyncio.sleep(0, write.started.is_set()))
    decision.cancel()  # the approver's browser closes while the write runs

    async def executed() -> bool:
        async with clean_db.sessions() as session:
            row = await session.get(Approval, asked["approval_id"])
            return row is not None and row.status == "executed"

    await eventually(executed, timeout=GRACE_S * 2 + 10)
    assert write.effects == ["Line 2 down"]
    async with clean_db.sessions() as session:
        run_id = await session.scalar(
            select(ChatRun.id).where(
                ChatRun.thread_id == asked["thread_id"], ChatRun.question.is_(None)
            )
        )

    async def done() -> bool:
        return (await run_row(clean_db, str(run_id))).status == "done"

    await eventually(done)
    events = await stored(clean_db, str(run_id))
    assert events[-1].event == "done" and events[-1].data["answer"] == "Posted."


async def test_a_client_that_stops_reading_is_dropped_after_the_send_timeout(
    serve: Callable[..., LiveServer],
    http: httpx.AsyncClient,
    viewer_headers: dict[str, str],
    clean_db: Database,
) -> None:
    server = serve()
    response, events = await ask(http, server, viewer_headers)
    run_id = response.headers["x-run-id"]
    # A run far bigger than every socket buffer between the server and the client.
    filler = "x" * 60_000
    rows = [
        {"run_id": run_id, "seq": seq, "event": "token", "data": {"text": filler}}
        for seq in range(len(events) + 1, len(events) + 400)
    ]
    async with clean_db.transaction() as session:
        await session.execute(insert(ChatEvent), rows)

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    auth = viewer_headers["Authorization"]
    sock.sendall(
        f"GET /api/v1/chat/runs/{run_id}/events HTTP/1.1\r\nHost: test\r\n"
        f"Authorization: {auth}\r\n\r\n".encode()
    )
    try:

        async def streaming() -> bool:
            return bool(server.runs.open_streams == 1)

        async def dropped() -> bool:
            return bool(server.runs.open_streams == 0)

        await eventually(streaming)
        await eventually(dropped, timeout=SEND_TIMEOUT_S + 2 * PING_S + 10)
        # The server gave up on us: what is left is the buffered part, then the end.
        sock.settimeout(10)
        received = 0
        while chunk := sock.recv(1 << 20):
            received += len(chunk)
        assert received < len(filler) * len(rows)
    finally:
        sock.close()
