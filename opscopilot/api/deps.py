"""Annotated dependency aliases: the app state, a session per request, the caller."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.access import keycache
from opscopilot.access.roles import Principal, Role
from opscopilot.access.service import authenticate, hash_key
from opscopilot.api.state import AppState
from opscopilot.core.errors import PermissionDenied, Unauthorized
from opscopilot.core.settings import Settings

log = logging.getLogger(__name__)


# Dependencies are `async def` even where nothing awaits: FastAPI runs a plain `def` one in
# its thread pool, a thread hop per dependency per request.
async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.oc
    return state


State = Annotated[AppState, Depends(get_state)]


async def get_settings_dep(state: State) -> Settings:
    return state.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


async def get_session(state: State) -> AsyncIterator[AsyncSession]:
    # Services commit explicitly: the response never goes out before its data is durable.
    session = state.db.sessions()
    try:
        yield session
    finally:
        try:
            await session.close()
        except SQLAlchemyError as exc:
            # The connection broke under the request (the server restarted): whatever the
            # request did is already answered, so drop the connection instead of failing
            # after the fact (which would cut the client off without a response).
            log.warning("closing a broken database session", extra={"error": repr(exc)})
            with contextlib.suppress(SQLAlchemyError):
                await session.invalidate()


Session = Annotated[AsyncSession, Depends(get_session)]


async def get_read_session(state: State) -> AsyncIterator[AsyncSession]:
    # For routes that only read: each statement commits by itself (no BEGIN / ROLLBACK).
    async with state.db.reads() as session:
        yield session


ReadSession = Annotated[AsyncSession, Depends(get_read_session)]

_bearer = HTTPBearer(auto_error=False, description="An API key: `opscopilot keys create`")


async def get_principal(
    request: Request,
    state: State,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        return await _from_session(request, state)
    digest = hash_key(credentials.credentials)
    principal = keycache.cached(digest)
    if principal is not None:
        return principal
    async with state.db.sessions() as session:
        principal = await authenticate(session, raw_key=credentials.credentials)
        await session.commit()
    keycache.remember(digest, principal, ttl_s=state.settings.api.key_cache_ttl_s)
    return principal


async def _from_session(request: Request, state: AppState) -> Principal:
    """The web page's caller after an OIDC sign-in (the signed session cookie)."""
    from opscopilot.access import sessions

    cookie = request.cookies.get(sessions.SESSION_COOKIE)
    principal = None
    if cookie:
        async with state.db.sessions() as session:
            principal = await sessions.current_principal(session, state.settings, cookie)
    if principal is None:
        raise Unauthorized("an API key is required (Authorization: Bearer <key>)")
    # A cookie rides along on cross-site requests too: a write must also carry a header
    # that only our own page's script sets (CORS is closed, so no other origin can).
    if request.method not in ("GET", "HEAD", "OPTIONS") and not request.headers.get(
        sessions.SESSION_HEADER
    ):
        raise PermissionDenied(
            f"a signed-in page request needs the {sessions.SESSION_HEADER} header"
        )
    return principal


def require(role: Role) -> Callable[..., Coroutine[Any, Any, Principal]]:
    async def dependency(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not principal.can(role):
            raise PermissionDenied(f"this needs the {role} role; your key has {principal.role}")
        return principal

    return dependency


def limited(role: Role, kind: str) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """`require(role)` plus the per-key rate limit of `kind` ("chat" or "write")."""
    check = require(role)

    # A default, not an Annotated alias: `check` is a closure variable, which a string
    # annotation (postponed evaluation) could not resolve.
    async def dependency(state: State, principal: Principal = Depends(check)) -> Principal:
        from opscopilot.access.ratelimit import hit

        per_min = (
            state.settings.api.rate_limit_chat_per_min
            if kind == "chat"
            else state.settings.api.rate_limit_write_per_min
        )
        who = principal.key_id or principal.external_id
        async with state.db.reads() as session:  # one upsert: autocommit
            await hit(session, key=f"{kind}:{who}", limit=per_min)
        return principal

    return dependency


Viewer = Annotated[Principal, Depends(require("viewer"))]
Operator = Annotated[Principal, Depends(require("operator"))]
Admin = Annotated[Principal, Depends(require("admin"))]
# Chat and write routes also count against the caller's rate limit (429 with Retry-After).
ChatCaller = Annotated[Principal, Depends(limited("viewer", "chat"))]
Writer = Annotated[Principal, Depends(limited("operator", "write"))]
