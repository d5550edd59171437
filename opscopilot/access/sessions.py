"""Signed cookies: the web session after an OIDC sign-in, and the sign-in's own state.

A cookie holds base64url(JSON) and an HMAC-SHA256 of it under `api.secret_key` (with a
purpose, so a flow cookie cannot pass for a session). Sessions are stateless: they end at
their expiry, but each request checks the user row too, so a user removed or narrowed
(`opscopilot users set`) loses the access at once. Each sign-in reads the role and sites
from the provider again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from typing import Any, cast
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.access.roles import ROLES, Principal, Role
from opscopilot.access.service import effective_sites
from opscopilot.core.errors import ServiceUnavailable
from opscopilot.core.settings import Settings
from opscopilot.store.models import User

log = logging.getLogger(__name__)

SESSION_COOKIE = "opscopilot_session"
FLOW_COOKIE = "opscopilot_oidc_flow"
# Cookie-authenticated writes must carry this header: a cross-site form cannot set it, and a
# cross-site script could only with a CORS preflight, which is closed by default.
SESSION_HEADER = "x-opscopilot-session"

_dev_secret = secrets.token_bytes(32)


def _secret(settings: Settings) -> bytes:
    if settings.api.secret_key is not None:
        return settings.api.secret_key.get_secret_value().encode()
    if settings.environment in ("development", "test"):
        # Sessions then last as long as this process: fine on a laptop, not behind replicas.
        return _dev_secret
    raise ServiceUnavailable("web sign-in needs OPSCOPILOT_API__SECRET_KEY")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(settings: Settings, *, purpose: str, data: dict[str, Any], ttl_s: int) -> str:
    body = _b64(json.dumps({**data, "exp": int(time.time()) + ttl_s}).encode())
    mac = hmac.new(_secret(settings), f"{purpose}.{body}".encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def verify(settings: Settings, *, purpose: str, value: str | None) -> dict[str, Any] | None:
    """The data of a cookie this app signed for `purpose`, or None (forged, stale, garbled)."""
    if not value or value.count(".") != 1:
        return None
    body, mac = value.split(".")
    expected = hmac.new(_secret(settings), f"{purpose}.{body}".encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(_unb64(mac), expected):
            return None
        data = json.loads(_unb64(body))
    except ValueError:
        return None
    if not isinstance(data, dict) or int(data.get("exp", 0)) < time.time():
        return None
    return data


def cookie_options(settings: Settings, *, max_age: int, path: str = "/") -> dict[str, Any]:
    return {
        "max_age": max_age,
        "path": path,
        "httponly": True,
        "samesite": "lax",
        "secure": settings.environment not in ("development", "test"),
    }


def session_for(principal: Principal, name: str | None) -> dict[str, Any]:
    return {
        "uid": str(principal.user_id) if principal.user_id else None,
        "sub": principal.external_id,
        "role": principal.role,
        "sites": list(principal.sites),
        "name": name,
    }


def principal_from_session(settings: Settings, value: str | None) -> Principal | None:
    data = verify(settings, purpose="session", value=value)
    if data is None or data.get("role") not in ROLES:
        return None
    uid = data.get("uid")
    return Principal(
        user_id=UUID(uid) if uid else None,
        external_id=str(data["sub"]),
        role=cast(Role, data["role"]),
        sites=tuple(str(s) for s in data.get("sites") or ()),
    )


async def current_principal(
    session: AsyncSession, settings: Settings, value: str | None
) -> Principal | None:
    """The session's principal, bounded by its user row as it is now (None: no access)."""
    signed = principal_from_session(settings, value)
    if signed is None or signed.user_id is None:
        return None
    user = await session.get(User, signed.user_id)
    if user is None or user.role not in ROLES:
        return None
    sites = effective_sites(list(signed.sites), user.sites)
    if sites is None:
        return None
    # Never more than the user row allows now (an admin may have lowered it).
    role: Role = ROLES[min(ROLES.index(signed.role), ROLES.index(user.role))]
    return Principal(user_id=user.id, external_id=user.external_id, role=role, sites=sites)
