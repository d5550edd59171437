"""`serve` keeps idle keep-alive connections open longer than clients and proxies do: a
server closing one at the moment a client reuses it fails that request as a connection
error (the load test saw these with uvicorn's default 5 s, equal to httpx's)."""

from __future__ import annotations

import httpx
import uvicorn

from opscopilot.cli.main import server_options
from opscopilot.core.settings import Settings


def test_serve_outlives_the_keep_alive_of_clients_and_balancers() -> None:
    options = server_options(Settings(_env_file=None))  # type: ignore[call-arg]
    client_expiry = httpx.Limits().keepalive_expiry
    assert client_expiry is not None
    assert options["timeout_keep_alive"] > max(client_expiry, 60)  # nginx / cloud LB idle
    config = uvicorn.Config("opscopilot.api.app:app_from_env", factory=True, **options)
    assert config.timeout_keep_alive == options["timeout_keep_alive"]
    assert config.backlog == 2048


def test_keep_alive_and_backlog_come_from_settings() -> None:
    settings = Settings(_env_file=None, api={"keep_alive_s": 120, "backlog": 4096})  # type: ignore[call-arg]
    options = server_options(settings)
    assert (options["timeout_keep_alive"], options["backlog"]) == (120, 4096)
