"""Typed errors -> OpenAI's error object `{"error": {"message", "type", "param", "code"}}`.

One place maps every refusal of every layer to a status code; routes only raise.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from gesso.jobs.request_errors import BadRequest
from gesso.jobs.queue_errors import QueueFull, QueueOverloaded, QueueUnavailable
from gesso.governance.access_errors import PermissionDenied, QuotaExceeded, RateLimited, Unauthenticated
from gesso.store.transient_errors import is_transient

log = logging.getLogger("gesso.service")

DATABASE_RETRY_AFTER_S = 2
# handled here rather than as any Exception; only the transient ones (a lock, a lost
# connection, an exhausted pool) answer 503: the request was fine, the server cannot serve it now
DATABASE_UNAVAILABLE = (OperationalError, DisconnectionError, PoolTimeout)


class ApiError(Exception):
    """An error with its HTTP shape decided where it is raised (404, 409, 413, ...)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.type = status, message, type
        self.param, self.code, self.headers = param, code, headers or {}


def not_found(what: str, ident: str, code: str = "not_found") -> ApiError:
    """404 for a missing id and for another tenant's id alike."""
    return ApiError(404, f"no {what} with id {ident!r}", code=code)


def error_response(error: ApiError) -> JSONResponse:
    message, param = _encodable(error.message), _encodable(error.param)
    body = {"error": {"message": message, "type": error.type, "param": param, "code": error.code}}
    return JSONResponse(body, status_code=error.status, headers=error.headers)


def _encodable(text: str | None) -> str | None:
    """A message or param that may name a client's field (a lone surrogate becomes `\\udXXX`)."""
    return None if text is None else text.encode("utf-8", "backslashreplace").decode("utf-8")


def as_api_error(exc: Exception) -> ApiError:
    """The HTTP shape of any exception a route may raise."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, BadRequest):
        return ApiError(400, str(exc), param=exc.param, code="invalid_value")
    if isinstance(exc, Unauthenticated):
        return ApiError(401, str(exc), code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
    if isinstance(exc, PermissionDenied):
        return ApiError(403, str(exc), type="permission_error", code="insufficient_permissions")
    if isinstance(exc, RateLimited):
        return ApiError(
            429, str(exc), type="requests", code="rate_limit_exceeded", headers={"Retry-After": str(exc.retry_after)}
        )
    if isinstance(exc, QuotaExceeded):
        return ApiError(
            429, str(exc), type="insufficient_quota", code="insufficient_quota",
            headers={"Retry-After": str(exc.retry_after)},
        )
    if isinstance(exc, QueueFull):
        return ApiError(
            429, str(exc), type="server_busy", code="queue_full", headers={"Retry-After": str(exc.retry_after)}
        )
    if isinstance(exc, QueueOverloaded):
        return ApiError(
            429, str(exc), type="server_busy", code="server_overloaded", headers={"Retry-After": str(exc.retry_after)}
        )
    if is_transient(exc) or isinstance(exc, QueueUnavailable):
        log.warning("database unavailable: %s", str(exc).splitlines()[0][:200])
        return ApiError(
            503, "the database is busy or unreachable; retry shortly", type="server_error",
            code="database_unavailable", headers={"Retry-After": str(DATABASE_RETRY_AFTER_S)},
        )
    return ApiError(500, "internal server error", type="server_error", code="internal_error")


def validation_error(exc: RequestValidationError) -> ApiError:
    """FastAPI's body/query validation -> 400 naming the first offending field."""
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path", "header")]
    if first.get("type") == "json_invalid":
        return ApiError(400, "the request body is not valid JSON", param="body", code="invalid_json")
    param = ".".join(loc) or "body"
    if first.get("type") == "extra_forbidden":
        return ApiError(400, f"unknown parameter {param!r}", param=param, code="unknown_parameter")
    if first.get("type") == "missing":
        return ApiError(400, f"missing required parameter {param!r}", param=param, code="missing_required_parameter")
    return ApiError(400, f"invalid value for {param!r}: {first.get('msg', 'invalid')}", param=param, code="invalid_value")


def install_error_handlers(app: FastAPI) -> None:
    async def handle_validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(validation_error(exc))

    async def handle_http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}.get(exc.status_code)
        param = "body" if exc.status_code == 400 else None
        return error_response(ApiError(exc.status_code, str(exc.detail), param=param, code=code))

    async def handle_any(_request: Request, exc: Exception) -> JSONResponse:
        error = as_api_error(exc)
        if error.code == "internal_error":  # a 503 for a busy database was logged as a warning
            log.error("unhandled error", exc_info=exc)
        return error_response(error)

    app.add_exception_handler(RequestValidationError, handle_validation)
    app.add_exception_handler(StarletteHTTPException, handle_http)
    for kind in (ApiError, BadRequest, Unauthenticated, PermissionDenied, RateLimited, QuotaExceeded, QueueFull,
                 QueueOverloaded, QueueUnavailable, *DATABASE_UNAVAILABLE):
        app.add_exception_handler(kind, handle_any)
    app.add_exception_handler(Exception, handle_any)
