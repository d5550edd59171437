"""A loopback OpenID Connect provider: discovery document, JWKS, an authorize endpoint that
signs the configured person in at once (no login form) and a token endpoint that checks
the client, the redirect URI and the PKCE verifier, then issues an RS256 id_token.

Knobs play a misbehaving or hostile provider: `audience` (a token for another client),
`expires_in` (negative: already expired), `sign_with_stranger` (a key not in the JWKS),
`nonce` (a replayed token); `rotate` changes the signing key as providers do. `requests`
records every token request.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from tests.peers._http import ThreadedHTTPPeer

CLIENT_ID = "opscopilot-web"
CLIENT_SECRET = "oidc-test-client-secret"


@dataclass
class Person:
    sub: str = "u-1001"
    name: str = "Olivia Ops"
    email: str = "olivia@plant.example"
    claims: dict[str, Any] = field(default_factory=lambda: {"roles": ["ops-operators"]})


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str | None
    person: Person


class OIDCStandIn(ThreadedHTTPPeer):
    def __init__(self) -> None:
        super().__init__()
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k-main", "alg": "RS256"})
        self.stranger = RSAKey.generate_key(2048, parameters={"kid": "k-main", "alg": "RS256"})
        self.person = Person()
        self.audience: str | None = None
        self.expires_in = 300
        self.sign_with_stranger = False
        self.nonce: str | None = None
        self.requests: list[dict[str, str]] = []
        self._grants: dict[str, _Grant] = {}
        self._lock = threading.Lock()

    def rotate(self, kid: str) -> None:
        """Sign with a new key from now on; the JWKS serves only it."""
        self.key = RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256"})

    @property
    def issuer(self) -> str:
        return self.url

    def build_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self._discovery)
        app.router.add_get("/jwks", self._jwks)
        app.router.add_get("/authorize", self._authorize)
        app.router.add_post("/token", self._token)
        return app

    async def _discovery(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.url}/authorize",
                "token_endpoint": f"{self.url}/token",
                "jwks_uri": f"{self.url}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_post"],
            }
        )

    async def _jwks(self, request: web.Request) -> web.Response:
        return web.json_response(KeySet([self.key]).as_dict(private=False))

    async def _authorize(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("response_type") != "code" or q.get("code_challenge_method") != "S256":
            return web.json_response({"error": "invalid_request"}, status=400)
        if "openid" not in q.get("scope", "").split() or not q.get("code_challenge"):
            return web.json_response({"error": "invalid_request"}, status=400)
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._grants[code] = _Grant(
                client_id=q.get("client_id", ""),
                redirect_uri=q.get("redirect_uri", ""),
                challenge=q["code_challenge"],
                nonce=q.get("nonce"),
                person=self.person,
            )
        target = f"{q.get('redirect_uri')}?{urlencode({'code': code, 'state': q.get('state', '')})}"
        raise web.HTTPFound(target)

    async def _token(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.requests.append(form)
        with self._lock:
            grant = self._grants.pop(form.get("code", ""), None)
        if grant is None or form.get("grant_type") != "authorization_code":
            return web.json_response({"error": "invalid_grant"}, status=400)
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            return web.json_response({"error": "invalid_client"}, status=401)
        if form.get("redirect_uri") != grant.redirect_uri:
            return web.json_response({"error": "invalid_grant"}, status=400)
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant.challenge:
            return web.json_response({"error": "invalid_grant", "reason": "pkce"}, status=400)
        now = int(time.time())
        person = grant.person
        claims = {
            "iss": self.issuer,
            "sub": person.sub,
            "aud": self.audience or CLIENT_ID,
            "iat": now,
            "exp": now + self.expires_in,
            "nonce": self.nonce or grant.nonce,
            "name": person.name,
            "email": person.email,
            **person.claims,
        }
        key = self.stranger if self.sign_with_stranger else self.key
        id_token = jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)
        return web.json_response(
            {
                "access_token": secrets.token_urlsafe(16),
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": id_token,
            }
        )
