"""Web sign-in through the plant's identity provider (OIDC, authorization code + PKCE).

`/auth/oidc/login` sends the browser to the provider with a fresh state, nonce and PKCE
verifier, kept in a short signed cookie scoped to `/auth/oidc`; `/auth/oidc/callback`
checks the state, exchanges the code, checks the id_token and sets the session cookie
(signed, HttpOnly, SameSite=Lax, Secure outside development) that the page then uses for
the chat API. `/auth/session` tells the page whether sign-in is on and who is signed in.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse

from opscopilot.access import oidc, sessions
from opscopilot.api.deps import Session, SettingsDep
from opscopilot.core.errors import Unauthorized

router = APIRouter(prefix="/auth", include_in_schema=False)

FLOW_TTL_S = 600
FLOW_PATH = "/auth/oidc"


@router.get("/session")
async def current_session(request: Request, settings: SettingsDep) -> dict[str, Any]:
    """Whether the provider sign-in is on, and who the session cookie belongs to."""
    principal = sessions.principal_from_session(
        settings, request.cookies.get(sessions.SESSION_COOKIE)
    )
    body: dict[str, Any] = {"oidc": oidc.enabled(settings), "signed_in": principal is not None}
    if principal is not None:
        body |= {"user": principal.external_id, "role": principal.role,
                 "sites": list(principal.sites)}  # fmt: skip
    return body


@router.get("/oidc/login")
async def login(settings: SettingsDep) -> RedirectResponse:
    flow = await oidc.begin(settings)
    response = RedirectResponse(flow.url, status_code=303)
    value = sessions.sign(
        settings,
        purpose="oidc-flow",
        data={"state": flow.state, "nonce": flow.nonce, "verifier": flow.verifier},
        ttl_s=FLOW_TTL_S,
    )
    response.set_cookie(
        sessions.FLOW_COOKIE,
        value,
        **sessions.cookie_options(settings, max_age=FLOW_TTL_S, path=FLOW_PATH),
    )
    return response


@router.get("/oidc/callback")
async def callback(
    request: Request,
    session: Session,
    settings: SettingsDep,
    code: Annotated[str | None, Query(max_length=4096)] = None,
    state: Annotated[str | None, Query(max_length=512)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> RedirectResponse:
    flow = sessions.verify(
        settings, purpose="oidc-flow", value=request.cookies.get(sessions.FLOW_COOKIE)
    )
    if error:
        raise Unauthorized(f"the identity provider refused the sign-in ({error})")
    if flow is None:
        raise Unauthorized("the sign-in expired or was started elsewhere; please sign in again")
    if not code or not state or not hmac.compare_digest(state, str(flow["state"])):
        raise Unauthorized("the sign-in state does not match; please sign in again")
    principal, name = await oidc.finish(
        session, settings, code=code, nonce=str(flow["nonce"]), verifier=str(flow["verifier"])
    )
    await session.commit()
    ttl = settings.oidc.session_ttl_s
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(sessions.FLOW_COOKIE, path=FLOW_PATH)
    response.set_cookie(
        sessions.SESSION_COOKIE,
        sessions.sign(
            settings, purpose="session", data=sessions.session_for(principal, name), ttl_s=ttl
        ),
        **sessions.cookie_options(settings, max_age=ttl),
    )
    return response


@router.post("/oidc/logout", status_code=204)
async def logout(settings: SettingsDep) -> Response:
    response = Response(status_code=204)
    options = sessions.cookie_options(settings, max_age=0)
    response.delete_cookie(
        sessions.SESSION_COOKIE, path="/", secure=options["secure"], httponly=True, samesite="lax"
    )
    return response
