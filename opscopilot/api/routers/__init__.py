"""One router per domain; `ROUTERS` is the order they are mounted in."""

ROUTERS: list[str] = [
    "opscopilot.api.routers.health",
    "opscopilot.api.routers.keys",
    "opscopilot.api.routers.ingest",
    "opscopilot.api.routers.items",
    "opscopilot.api.routers.forecasts",
    "opscopilot.api.routers.alerts",
    "opscopilot.api.routers.metrics",
    "opscopilot.api.routers.inference",
    "opscopilot.api.routers.chat",
    "opscopilot.api.routers.openai_compat",
    "opscopilot.api.routers.slack_events",
    "opscopilot.api.routers.web",
    "opscopilot.api.routers.auth_oidc",
    "opscopilot.api.routers.notify",
]
