"""One router per domain; `ROUTERS` is the order they are mounted in."""

ROUTERS: list[str] = [
    "opscopilot.api.routers.health",
    "opscopilot.api.routers.keys",
    "opscopilot.api.routers.ingest",
    "opscopilot.api.routers.items",
    "opscopilot.api.routers.metrics",
    "opscopilot.api.routers.notify",
]
