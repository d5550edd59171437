"""Schemathesis against the OpenAPI schema of every REST route, in-process, offline model.

Each operation gets a few generated cases (valid and invalid), sent with an admin key to the
ASGI app (schemathesis runs its lifespan on its own event loop, so the app opens its own
pool); every response must be no 5xx, a declared status, a declared content type, and match
the declared body schema. All failures are collected, so one run shows every defect.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis

# Loaded lazily by `from_asgi` otherwise: then pytest's assertion rewriting compiles it
# mid-session, after other modules (langgraph, litellm) moved the recursion limit, which
# trips CPython 3.11's "AST constructor recursion depth mismatch". Load it at collection.
import schemathesis.specs.openapi.schemas  # noqa: F401
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hyp_settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from opscopilot.core.settings import Settings
from tests.conftest import make_settings

# Server-Sent Events routes stream until the agent run ends; schemathesis's ASGI client has
# no notion of a run, and their frames are not a JSON schema to validate. They are covered
# by tests/integration/chat and tests/reliability/test_llm_and_sse_faults.py instead.
SSE_ROUTES = {
    ("POST", "/api/v1/chat"),
    ("GET", "/api/v1/chat/runs/{run_id}/events"),
    ("POST", "/api/v1/approvals/{approval_id}"),
}
EXAMPLES = int(os.environ.get("OPSCOPILOT_FUZZ_EXAMPLES", "2"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def fuzz_settings(migrated: str) -> Settings:
    # Rate limits off: hundreds of calls with one key would otherwise test the limiter.
    return make_settings(
        migrated,
        api={"rate_limit_chat_per_min": 0, "rate_limit_write_per_min": 0},
        llm={"call_deadline_s": 5, "max_steps": 4},
    )


def _cases(operation: Any) -> list[Any]:
    found: list[Any] = []

    @hyp_settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def collect(case: Any) -> None:
        found.append(case)

    collect()
    return found


def test_every_rest_route_conforms(fuzz_settings: Settings, admin_headers: dict[str, str]) -> None:
    from opscopilot.api.app import create_app

    app = create_app(fuzz_settings)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    operations = 0
    try:
        for result in schema.get_all_operations():
            operation = result.ok()
            if (operation.method.upper(), operation.path) in SSE_ROUTES:
                continue
            operations += 1
            for case in _cases(operation):
                if operation.path == "/v1/chat/completions" and isinstance(case.body, dict):
                    case.body["stream"] = False  # the streamed variant is SSE, see above
                try:
                    case.call_and_validate(headers=admin_headers, checks=CHECKS)
                except (Exception, BaseExceptionGroup) as exc:  # collect all, report together
                    first = str(exc).strip().splitlines()[:8]
                    failures.append(f"{operation.method.upper()} {operation.path}: {first}")
    finally:
        schemathesis.python.asgi.shutdown_lifespans()
    assert operations >= 60
    assert not failures, "\n".join(sorted(set(failures)))
