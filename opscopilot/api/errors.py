"""One JSON error shape for every failure: {"error": {code, message, field, details, ...}}."""

from __future__ import annotations

import logging
import traceback
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException

from opscopilot.core.errors import OpsCopilotError, RateLimited
from opscopilot.core.logging import request_id_var

log = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None = None
    details: Any = None
    request_id: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


# Every route can answer with the one error shape: a client error (401, 403, 404, 409, 422,
# 429 ...) or 503 when the database or a dependency is unavailable. Declared once on the app
# so the OpenAPI schema matches what the handlers below send (FastAPI's default 422 schema,
# {"detail": [...]}, is not what a client gets).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": ErrorResponse, "description": "Client error"},
    503: {"model": ErrorResponse, "description": "A dependency is unavailable; retry later"},
}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorBody(
        code=code, message=message, field=field, details=details, request_id=request_id_var.get()
    )
    return JSONResponse(
        {"error": body.model_dump(mode="json")}, status_code=status, headers=headers
    )


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def _field_of(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


# SQLSTATE classes of a lost or refused connection: 08 connection exception, 57P admin
# shutdown / crash shutdown / cannot connect now, 53300 too many connections.
_CONNECTION_STATES = ("08", "57P", "53300")


def _lost(exc: sa_exc.DBAPIError) -> bool:
    """A connection refused, timed out or closed under us (asyncpg raises these bare)."""
    cause = (exc.orig.__cause__ if exc.orig is not None else None) or exc.orig
    return isinstance(cause, OSError | TimeoutError) or "Connection" in type(cause).__name__


def _raised_by_database_driver(exc: BaseException) -> bool:
    return any(
        "/asyncpg/" in frame.f_code.co_filename or "/sqlalchemy/pool/" in frame.f_code.co_filename
        for frame, _ in traceback.walk_tb(exc.__traceback__)
    )


def _unavailable(message: str) -> JSONResponse:
    return error_response(503, "unavailable", message, headers={"Retry-After": "1"})


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(OpsCopilotError)
    async def _domain(_: Request, exc: OpsCopilotError) -> JSONResponse:
        headers = None
        if isinstance(exc, RateLimited):
            headers = {"Retry-After": str(max(1, round(exc.retry_after)))}
        return error_response(
            exc.status_code,
            exc.code,
            exc.message,
            field=exc.field,
            details=exc.details,
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _field_of(e.get("loc", ())), "reason": e.get("msg", "invalid")}
            for e in exc.errors()
        ]
        first = errors[0] if errors else {"field": "body", "reason": "invalid"}
        return error_response(
            422,
            "validation_error",
            f"{first['field']}: {first['reason']}",
            field=first["field"],
            details=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        return error_response(
            exc.status_code,
            code,
            str(exc.detail),
            headers=dict(exc.headers) if exc.headers else None,
        )

    @app.exception_handler(sa_exc.TimeoutError)
    async def _pool_exhausted(_: Request, exc: sa_exc.TimeoutError) -> JSONResponse:
        # Every pooled connection was busy for `db.pool_timeout`: shed load, do not hang.
        log.warning("database pool exhausted: %s", exc)
        return _unavailable("the database is busy; retry shortly")

    @app.exception_handler(sa_exc.DBAPIError)
    async def _database(request: Request, exc: sa_exc.DBAPIError) -> JSONResponse:
        state = str(getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", "") or "")
        if state.startswith("22"):  # data exception: e.g. a NUL character in text or JSON
            reason = str(getattr(exc.orig, "args", [""])[0] or "invalid value").splitlines()[0]
            return error_response(
                422, "validation_error", f"a value cannot be stored: {reason}", field="body"
            )
        if exc.connection_invalidated or state.startswith(_CONNECTION_STATES) or _lost(exc):
            # Server restarting or unreachable; the pool's pre-ping replaces the connection.
            log.warning("database unavailable: %s", type(exc.orig).__name__)
            return _unavailable("the database is unavailable; retry shortly")
        return await _unexpected(request, exc)

    from procrastinate.exceptions import ConnectorException

    @app.exception_handler(ConnectorException)
    async def _job_queue(_: Request, exc: ConnectorException) -> JSONResponse:
        # procrastinate wraps its database errors (server down, refused) in this class.
        log.warning("job queue unavailable: %s", type(exc.__cause__ or exc).__name__)
        return _unavailable("the job queue is unavailable; retry shortly")

    @app.exception_handler(OSError)
    async def _os_error(request: Request, exc: OSError) -> JSONResponse:
        # asyncpg raises socket errors (refused, no such socket, timed out) bare on connect,
        # and SQLAlchemy passes them through unwrapped: still "the database is down".
        if _raised_by_database_driver(exc):
            log.warning("database unreachable: %s", type(exc).__name__)
            return _unavailable("the database is unavailable; retry shortly")
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(500, "internal_error", "internal error; see the server log")
