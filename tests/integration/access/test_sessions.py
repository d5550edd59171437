"""The signed cookies behind web sessions: tamper-proof, purpose-bound, expiring, Secure
outside development, and never signed with a per-process secret in production."""

from __future__ import annotations

import pytest

from opscopilot.access import sessions
from opscopilot.access.roles import Principal
from opscopilot.core.errors import ServiceUnavailable
from opscopilot.core.settings import Settings


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type, call-arg]


def test_a_session_round_trips_and_refuses_tampering() -> None:
    settings = _settings(ENVIRONMENT="test")
    who = Principal(user_id=None, external_id="oidc:u-1", role="viewer", sites=("north",))
    value = sessions.sign(
        settings, purpose="session", data=sessions.session_for(who, "Una"), ttl_s=60
    )
    assert sessions.principal_from_session(settings, value) == who
    body, mac = value.split(".")
    forged = sessions._b64(sessions._unb64(body).replace(b"viewer", b"admin\\x20"))
    assert sessions.principal_from_session(settings, f"{forged}.{mac}") is None
    # A flow cookie (same key, other purpose) does not pass for a session.
    flow = sessions.sign(
        settings, purpose="oidc-flow", data={"role": "admin", "sub": "x"}, ttl_s=60
    )
    assert sessions.principal_from_session(settings, flow) is None
    stale = sessions.sign(
        settings, purpose="session", data=sessions.session_for(who, None), ttl_s=-1
    )
    assert sessions.principal_from_session(settings, stale) is None
    assert sessions.principal_from_session(settings, "garbage") is None


def test_cookies_are_secure_outside_development() -> None:
    prod = _settings(ENVIRONMENT="production", api={"secret_key": "s3cr3t-" * 6})
    options = sessions.cookie_options(prod, max_age=60)
    assert options["secure"] and options["httponly"] and options["samesite"] == "lax"
    assert not sessions.cookie_options(_settings(ENVIRONMENT="development"), max_age=60)["secure"]


def test_production_needs_a_configured_secret() -> None:
    with pytest.raises(ServiceUnavailable):
        sessions.sign(_settings(ENVIRONMENT="production"), purpose="session", data={}, ttl_s=60)
    keyed = _settings(ENVIRONMENT="production", api={"secret_key": "s3cr3t-" * 6})
    other = _settings(ENVIRONMENT="production", api={"secret_key": "other-" * 6})
    value = sessions.sign(keyed, purpose="session", data={"role": "viewer", "sub": "a"}, ttl_s=60)
    assert sessions.verify(keyed, purpose="session", value=value) is not None
    assert sessions.verify(other, purpose="session", value=value) is None
