"""OIDC sign-in for the web page against a loopback provider: the redirect flow driven with
httpx (no browser), the session cookie that lets the page call the chat API, and every
refusal (bad state, wrong audience, expired or foreign-signed token, no role)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, select

from opscopilot.access.oidc import role_and_sites
from opscopilot.access.service import set_user
from opscopilot.core.errors import PermissionDenied
from opscopilot.core.settings import OIDCSettings, Settings
from opscopilot.store.engine import Database
from opscopilot.store.models import AuditEvent, User
from tests.conftest import make_settings
from tests.peers.oidc import CLIENT_ID, CLIENT_SECRET, OIDCStandIn, Person

ROLE_MAP = {"ops-viewers": "viewer", "ops-operators": "operator", "ops-admins": "admin"}
SESSION_HEADER = {"X-OpsCopilot-Session": "1"}


@pytest.fixture(scope="module")
def idp() -> Iterator[OIDCStandIn]:
    with OIDCStandIn() as peer:
        yield peer


@pytest.fixture(autouse=True)
def _reset(idp: OIDCStandIn) -> None:
    idp.person = Person()
    idp.audience, idp.expires_in, idp.sign_with_stranger, idp.nonce = None, 300, False, None


def _settings(url: str, idp: OIDCStandIn, **oidc: Any) -> Settings:
    values: dict[str, Any] = {
        "issuer": idp.issuer,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "role_map": ROLE_MAP,
        "http_timeout_s": 5.0,
        "leeway_s": 0,
    }
    values.update(oidc)
    return make_settings(url, oidc=values, api={"public_url": "http://web.test"})


@pytest.fixture
async def web(
    migrated: str, clean_db: Database, idp: OIDCStandIn
) -> AsyncIterator[httpx.AsyncClient]:
    from opscopilot.api.app import create_app

    app: FastAPI = create_app(_settings(migrated, idp), database=clean_db)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://web.test") as client:
            yield client


async def _to_callback(web: httpx.AsyncClient) -> str:
    """Start the sign-in, let the provider answer; the callback URL it redirects to."""
    start = await web.get("/auth/oidc/login")
    assert start.status_code == 303
    authorize = start.headers["location"]
    query = parse_qs(urlsplit(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["nonce"][0] and query["state"][0]
    async with httpx.AsyncClient() as browser:
        at_idp = await browser.get(authorize)
    assert at_idp.status_code == 302, at_idp.text
    callback = at_idp.headers["location"]
    assert callback.startswith("http://web.test/auth/oidc/callback?")
    return callback


async def _sign_in(web: httpx.AsyncClient) -> httpx.Response:
    return await web.get(await _to_callback(web))


async def test_sign_in_sets_a_session_the_page_can_chat_with(
    web: httpx.AsyncClient, clean_db: Database, idp: OIDCStandIn
) -> None:
    idp.person = Person(claims={"roles": ["ops-viewers", "unrelated"], "sites": ["north"]})
    done = await _sign_in(web)
    assert done.status_code == 303 and done.headers["location"] == "/"
    cookie = next(h for h in done.headers.get_list("set-cookie") if "opscopilot_session=" in h)
    assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    assert "Secure" not in cookie  # a test environment; Secure outside development and test
    # The PKCE verifier went to the token endpoint (the stand-in checked it).
    assert idp.requests[-1]["code_verifier"]

    me = (await web.get("/auth/session")).json()
    assert me == {
        "oidc": True, "signed_in": True, "user": "oidc:u-1001", "role": "viewer",
        "sites": ["north"],
    }  # fmt: skip
    threads = await web.get("/api/v1/chat/threads")
    assert threads.status_code == 200
    async with clean_db.sessions() as session:
        user = await session.scalar(select(User).where(User.external_id == "oidc:u-1001"))
        audited = await session.scalar(
            select(AuditEvent).where(AuditEvent.event_type == "auth.oidc_sign_in")
        )
    assert user is not None and user.role == "viewer" and user.sites == ["north"]
    assert user.email == "olivia@plant.example" and audited is not None

    # Signing out drops the session.
    assert (await web.post("/auth/oidc/logout")).status_code == 204
    assert (await web.get("/api/v1/chat/threads")).status_code == 401


async def test_a_signed_in_viewer_cannot_approve_writes(
    web: httpx.AsyncClient, idp: OIDCStandIn
) -> None:
    idp.person = Person(claims={"roles": "ops-viewers"})
    await _sign_in(web)
    body = {"decision": "approve"}
    res = await web.post("/api/v1/approvals/ap-123", json=body, headers=SESSION_HEADER)
    assert res.status_code == 403


async def test_an_operator_session_needs_the_page_header_for_writes(
    web: httpx.AsyncClient, idp: OIDCStandIn
) -> None:
    idp.person = Person(claims={"roles": ["ops-operators"]})
    await _sign_in(web)
    write = f"/api/v1/alerts/{uuid.uuid4()}/acknowledge"
    # A cross-site form could carry the cookie but not the header.
    assert (await web.post(write)).status_code == 403
    res = await web.post(write, headers=SESSION_HEADER)
    assert res.status_code == 404  # past authentication and role: no such alert


async def test_a_session_follows_its_user_row(
    web: httpx.AsyncClient, clean_db: Database, idp: OIDCStandIn
) -> None:
    idp.person = Person(claims={"roles": ["ops-operators"]})
    await _sign_in(web)
    write = f"/api/v1/alerts/{uuid.uuid4()}/acknowledge"
    assert (await web.post(write, headers=SESSION_HEADER)).status_code == 404
    async with clean_db.sessions() as session:
        await set_user(session, external_id="oidc:u-1001", role="viewer")
        await session.commit()
    # Lowered at once, without waiting for the cookie to expire.
    assert (await web.post(write, headers=SESSION_HEADER)).status_code == 403
    async with clean_db.transaction() as session:
        await session.execute(delete(User).where(User.external_id == "oidc:u-1001"))
    assert (await web.get("/api/v1/chat/threads")).status_code == 401


async def test_a_bad_state_is_refused(web: httpx.AsyncClient) -> None:
    callback = await _to_callback(web)
    forged = callback.replace("state=", "state=x")
    res = await web.get(forged)
    assert res.status_code == 401
    assert "opscopilot_session" not in res.headers.get("set-cookie", "")
    # Nor does a callback without the flow cookie (started in another browser) pass.
    async with httpx.AsyncClient(transport=web._transport, base_url="http://web.test") as other:
        assert (await other.get(callback)).status_code == 401


@pytest.mark.parametrize(
    "knob",
    [
        {"audience": "another-client"},
        {"expires_in": -120},
        {"sign_with_stranger": True},
        {"nonce": "replayed-nonce"},
    ],
    ids=["wrong-audience", "expired", "foreign-key", "wrong-nonce"],
)
async def test_a_bad_id_token_is_refused(
    web: httpx.AsyncClient, idp: OIDCStandIn, knob: dict[str, Any]
) -> None:
    for name, value in knob.items():
        setattr(idp, name, value)
    res = await _sign_in(web)
    assert res.status_code == 401, res.text
    assert (await web.get("/auth/session")).json()["signed_in"] is False
    assert (await web.get("/api/v1/chat/threads")).status_code == 401


async def test_a_rotated_provider_key_is_fetched_again(
    web: httpx.AsyncClient, idp: OIDCStandIn
) -> None:
    assert (await _sign_in(web)).status_code == 303  # the keys are cached now
    idp.rotate("k-rotated")
    try:
        assert (await _sign_in(web)).status_code == 303
    finally:
        idp.rotate("k-main")


async def test_a_person_without_a_mapped_role_is_refused(
    web: httpx.AsyncClient, idp: OIDCStandIn
) -> None:
    idp.person = Person(claims={"roles": ["finance"]})
    res = await _sign_in(web)
    assert res.status_code == 403
    assert (await web.get("/api/v1/chat/threads")).status_code == 401


async def test_a_forged_session_cookie_is_refused(web: httpx.AsyncClient) -> None:
    web.cookies.set("opscopilot_session", "eyJyb2xlIjoiYWRtaW4ifQ.AAAA", domain="web.test")
    assert (await web.get("/api/v1/chat/threads")).status_code == 401


async def test_without_a_provider_sign_in_is_off(client: httpx.AsyncClient) -> None:
    assert (await client.get("/auth/session")).json() == {"oidc": False, "signed_in": False}
    assert (await client.get("/auth/oidc/login")).status_code == 404


def test_claims_map_to_the_highest_role_and_the_sites() -> None:
    oidc = OIDCSettings(role_map=ROLE_MAP, roles_claim="realm_access.roles")
    claims = {"realm_access": {"roles": ["ops-viewers", "ops-admins"]}, "sites": "north, south"}
    assert role_and_sites(oidc, claims) == ("admin", ["north", "south"])
    plain = OIDCSettings(default_sites=["main"])  # no map: role names as they are
    assert role_and_sites(plain, {"roles": "operator"}) == ("operator", ["main"])
    with pytest.raises(PermissionDenied):
        role_and_sites(oidc, {"realm_access": {"roles": ["finance"]}})
