"""OIDC sign-in for the web page: the authorization-code flow with PKCE (authlib), and the
id_token checked against the provider's keys (joserfc): signature, issuer, audience,
expiry and nonce. The token's role and site claims become the person's user row.

`begin` makes the provider URL and the flow secrets (kept in a signed cookie by the
router); `finish` exchanges the code and returns the principal. Every refusal of the
provider's answer is `Unauthorized` (401); an unreachable provider is a 503.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from opscopilot.access.roles import ROLES, Principal, Role
from opscopilot.access.service import audit, get_or_create_user
from opscopilot.core.errors import NotFoundError, PermissionDenied, ServiceUnavailable, Unauthorized
from opscopilot.core.settings import OIDCSettings, Settings

if TYPE_CHECKING:
    # joserfc pulls in cryptography: imported where a sign-in is checked, not at start.
    from joserfc.jwk import KeySet

ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]
DISCOVERY_TTL_S = 3600.0


@dataclass
class _Provider:
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    keys: KeySet | None
    fetched: float


_providers: dict[str, _Provider] = {}


def enabled(settings: Settings) -> bool:
    return bool(settings.oidc.issuer and settings.oidc.client_id)


def redirect_uri(settings: Settings) -> str:
    return settings.api.public_url.rstrip("/") + "/auth/oidc/callback"


def _client(settings: Settings) -> Any:
    from authlib.integrations.httpx_client import AsyncOAuth2Client

    oidc = settings.oidc
    return AsyncOAuth2Client(
        client_id=oidc.client_id,
        client_secret=oidc.client_secret.get_secret_value() if oidc.client_secret else None,
        scope=oidc.scopes,
        redirect_uri=redirect_uri(settings),
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_post" if oidc.client_secret else "none",
        timeout=oidc.http_timeout_s,
    )


async def _get_json(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    try:
        response = await client.get(url)
        response.raise_for_status()
        data = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ServiceUnavailable("the identity provider is unreachable") from exc
    if not isinstance(data, dict):
        raise ServiceUnavailable("the identity provider sent an unexpected answer")
    return data


async def _provider(settings: Settings, *, fresh_keys: bool = False) -> _Provider:
    """The provider's endpoints and keys, cached for an hour (keys again on an unknown kid)."""
    issuer = cast(str, settings.oidc.issuer).rstrip("/")
    known = _providers.get(issuer)
    async with httpx.AsyncClient(timeout=settings.oidc.http_timeout_s) as client:
        if known is None or time.monotonic() - known.fetched > DISCOVERY_TTL_S:
            doc = await _get_json(client, issuer + "/.well-known/openid-configuration")
            if str(doc.get("issuer", "")).rstrip("/") != issuer:
                raise ServiceUnavailable("the identity provider names another issuer")
            known = _Provider(
                authorization_endpoint=str(doc["authorization_endpoint"]),
                token_endpoint=str(doc["token_endpoint"]),
                jwks_uri=str(doc["jwks_uri"]),
                keys=None,
                fetched=time.monotonic(),
            )
            _providers[issuer] = known
        if known.keys is None or fresh_keys:
            from joserfc.jwk import KeySet

            known.keys = KeySet.import_key_set(await _get_json(client, known.jwks_uri))  # type: ignore[arg-type]
    return known


@dataclass(frozen=True)
class Flow:
    url: str
    state: str
    nonce: str
    verifier: str


async def begin(settings: Settings) -> Flow:
    if not enabled(settings):
        raise NotFoundError("web sign-in through an identity provider is not configured")
    provider = await _provider(settings)
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    async with _client(settings) as client:
        url, _ = client.create_authorization_url(
            provider.authorization_endpoint, state=state, code_verifier=verifier, nonce=nonce
        )
    return Flow(url=url, state=state, nonce=nonce, verifier=verifier)


def _decode(token: str, keys: KeySet) -> dict[str, Any]:
    from joserfc import jwt

    return dict(jwt.decode(token, keys, algorithms=ALGORITHMS).claims)


async def _id_token_claims(settings: Settings, id_token: str, *, nonce: str) -> dict[str, Any]:
    from joserfc import jwt
    from joserfc.errors import InvalidKeyIdError, JoseError

    oidc = settings.oidc
    provider = await _provider(settings)
    assert provider.keys is not None
    try:
        try:
            claims = _decode(id_token, provider.keys)
        except InvalidKeyIdError:  # the provider may have rotated its keys
            provider = await _provider(settings, fresh_keys=True)
            assert provider.keys is not None
            claims = _decode(id_token, provider.keys)
        jwt.JWTClaimsRegistry(
            leeway=oidc.leeway_s,
            iss={"essential": True, "value": cast(str, oidc.issuer).rstrip("/")},
            aud={"essential": True, "value": cast(str, oidc.client_id)},
            exp={"essential": True},
            sub={"essential": True},
            nonce={"essential": True, "value": nonce},
        ).validate(claims)
    except (JoseError, ValueError) as exc:
        raise Unauthorized(f"the sign-in token was refused ({type(exc).__name__})") from exc
    return claims


def _claim(claims: dict[str, Any], path: str) -> Any:
    """A claim by name, or by a dotted path into nested claims (`realm_access.roles`)."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def role_and_sites(oidc: OIDCSettings, claims: dict[str, Any]) -> tuple[Role, list[str]]:
    """The highest role the claims map to, and the person's sites; PermissionDenied for a
    person the provider knows but who has no OpsCopilot role."""
    raw = _claim(claims, oidc.roles_claim)
    values = [raw] if isinstance(raw, str) else [str(v) for v in raw or [] if v is not None]
    mapped = [oidc.role_map.get(v, v if not oidc.role_map else "") for v in values]
    roles: list[Role] = [r for r in ROLES if r in mapped]
    if not roles:
        raise PermissionDenied("your account has no OpsCopilot role; ask your administrator")
    sites_raw = _claim(claims, oidc.sites_claim)
    if isinstance(sites_raw, str):
        sites = [s for s in sites_raw.replace(",", " ").split() if s]
    elif isinstance(sites_raw, list):
        sites = [str(s) for s in sites_raw if s]
    else:
        sites = list(oidc.default_sites)
    return max(roles, key=ROLES.index), sites


async def finish(
    session: AsyncSession, settings: Settings, *, code: str, nonce: str, verifier: str
) -> tuple[Principal, str | None]:
    """Exchange the code, check the id_token, update the person's user row. Caller commits."""
    provider = await _provider(settings)
    from authlib.common.errors import AuthlibBaseError

    try:
        async with _client(settings) as client:
            token = await client.fetch_token(
                provider.token_endpoint, code=code, code_verifier=verifier
            )
    except AuthlibBaseError as exc:
        raise Unauthorized("the identity provider refused the sign-in") from exc
    except httpx.HTTPStatusError as exc:
        raise Unauthorized("the identity provider refused the sign-in") from exc
    except httpx.HTTPError as exc:
        raise ServiceUnavailable("the identity provider is unreachable") from exc
    id_token = token.get("id_token")
    if not isinstance(id_token, str):
        raise Unauthorized("the identity provider sent no id_token")
    claims = await _id_token_claims(settings, id_token, nonce=nonce)
    role, sites = role_and_sites(settings.oidc, claims)
    name = claims.get("name") or claims.get("preferred_username") or claims.get("email")
    user = await get_or_create_user(
        session, external_id=f"oidc:{claims['sub']}", role=role, sites=sites
    )
    # The provider is the source of truth: each sign-in brings the role and sites up to date.
    user.role, user.sites = role, sites
    user.name = str(name) if name else user.name
    if isinstance(claims.get("email"), str):
        user.email = claims["email"]
    principal = Principal(
        user_id=user.id, external_id=user.external_id, role=role, sites=tuple(sites)
    )
    await audit(session, actor=principal, event_type="auth.oidc_sign_in", subject=user.external_id)
    return principal, user.name
