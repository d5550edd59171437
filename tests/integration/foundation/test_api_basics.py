"""Health, the one error shape, and keys on every route."""

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from opscopilot.core.settings import Settings
from opscopilot.store.engine import open_database
from tests.conftest import make_settings


async def test_health_reports_database_revision_and_pgvector(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["database"]["revision"] == body["database"]["head"]
    assert body["database"]["pgvector"].startswith("0.")
    assert isinstance(body["jobs"], dict)
    assert (await client.get("/api/v1/health/live")).json() == {"status": "ok"}


async def test_unknown_route_is_json_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/nothing-here")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    assert r.json()["error"]["request_id"] == r.headers["x-request-id"]


async def test_malformed_json_is_422_naming_the_field(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    r = await client.post(
        "/api/v1/keys",
        content=b'{"user": ',
        headers={**admin_headers, "content-type": "application/json"},
    )
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_error"
    r = await client.post("/api/v1/keys", json={"user": "x", "role": "king"}, headers=admin_headers)
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "role"


async def test_routes_need_a_key_and_the_right_role(
    client: httpx.AsyncClient, viewer_headers: dict[str, str], admin_headers: dict[str, str]
) -> None:
    assert (await client.get("/api/v1/keys")).status_code == 401
    bad = {"Authorization": "Bearer ocp_not-a-real-key-at-all"}
    assert (await client.get("/api/v1/keys", headers=bad)).status_code == 401
    r = await client.get("/api/v1/keys", headers=viewer_headers)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden"
    created = await client.post(
        "/api/v1/keys", json={"user": "ci-bot", "role": "viewer"}, headers=admin_headers
    )
    assert created.status_code == 201
    new = {"Authorization": f"Bearer {created.json()['key']}"}
    assert (await client.get("/api/v1/keys", headers=new)).status_code == 403
    r = await client.delete(f"/api/v1/keys/{created.json()['id']}", headers=admin_headers)
    assert r.status_code == 204
    assert (await client.get("/api/v1/keys", headers=new)).status_code == 401


async def test_oversized_body_is_413(
    client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> None:
    big = b'{"user": "' + b"x" * (11 * 1024 * 1024) + b'"}'
    r = await client.post(
        "/api/v1/keys", content=big, headers={**admin_headers, "content-type": "application/json"}
    )
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"


@pytest.fixture
def silent_server() -> Iterator[int]:
    """Accepts TCP connections and never answers: a database that hangs."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield port
    stop.set()
    t.join()
    for c in held:
        c.close()
    sock.close()


@pytest.mark.parametrize("target", ["refused", "hanging"])
async def test_health_is_503_within_two_seconds_when_database_is_down(
    settings: Settings, silent_server: int, target: str
) -> None:
    from opscopilot.api.routers.health import ready
    from opscopilot.api.state import AppState

    port = 1 if target == "refused" else silent_server
    down = make_settings(f"postgresql://postgres@127.0.0.1:{port}/postgres")
    db = open_database(down)
    state = AppState(settings=down, db=db, jobs=None, embedded=False)  # type: ignore[arg-type]
    started = time.perf_counter()
    response = await asyncio.wait_for(ready(state), timeout=5)
    elapsed = time.perf_counter() - started
    await db.dispose()
    assert response.status_code == 503
    assert elapsed < 2.0
