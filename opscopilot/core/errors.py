"""Domain errors: services raise these; one handler at each edge maps them to replies."""

from __future__ import annotations

from typing import Any


class OpsCopilotError(Exception):
    """Base of every error a service raises on purpose."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details


class NotFoundError(OpsCopilotError):
    status_code = 404
    code = "not_found"


class ValidationFailed(OpsCopilotError):
    status_code = 422
    code = "validation_error"


class ConflictError(OpsCopilotError):
    status_code = 409
    code = "conflict"


class PermissionDenied(OpsCopilotError):
    status_code = 403
    code = "forbidden"


class Unauthorized(OpsCopilotError):
    status_code = 401
    code = "unauthorized"


class RateLimited(OpsCopilotError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceUnavailable(OpsCopilotError):
    status_code = 503
    code = "unavailable"


class EmbeddedDatabaseError(OpsCopilotError):
    """The embedded PostgreSQL could not be started or reused."""

    status_code = 503
    code = "embedded_database"
