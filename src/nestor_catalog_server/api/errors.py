"""The one place where errors become HTTP responses: the spec's envelope for every 4xx and 5xx.

::

    {"error": {"code": "RESOURCE_NOT_FOUND", "message": "Resource not found", "service": "catalog",
               "details": {"resource_name": "aws-rds-mysql", "version": "2.0.0"}, "trace_id": "4bf9..."}}

Core errors map by class, most specific first (``STATUS_BY_ERROR``); Litestar's own errors
(unknown route, wrong method, a query parameter that does not parse, a body over
``service.max_body_size``, the rate limit) map by kind; anything else is a 500 whose body says
only "Internal error" while the log gets the stack and the trace id. The client maps codes back
to the same core classes, so ``RESOURCE_NOT_FOUND`` is ``ResourceNotFound`` on both sides.

A 413 also says ``Connection: close``: the rest of its body was never read, so the connection
cannot carry another request, and a client that reused it would see it drop.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ServiceUnavailableException,
    TooManyRequestsException,
    ValidationException,
)
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.types import ExceptionHandlersMap

from nestor_catalog_core import (
    AuthenticationError,
    CatalogError,
    ConflictError,
    InvalidRequest,
    NotFoundError,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    ReadOnly,
    ServiceUnavailable,
    StorageUnavailable,
    ValidationFailed,
)
from nestor_catalog_server.auth import REASONS, www_authenticate
from nestor_catalog_server.observability import current_trace_id, new_trace_id

__all__ = [
    "DEFAULT_RETRY_AFTER",
    "STATUS_BY_ERROR",
    "HttpError",
    "envelope_bytes",
    "exception_handlers",
    "http_error",
    "status_for",
]

log = logging.getLogger("nestor_catalog_server.api")

#: Core error classes and their status, most specific first; the first ``isinstance`` match wins.
STATUS_BY_ERROR: Final[tuple[tuple[type[CatalogError], int], ...]] = (
    (PayloadTooLarge, 413),
    (InvalidRequest, 400),
    (AuthenticationError, 401),
    (ReadOnly, 405),
    (PermissionDenied, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (ValidationFailed, 422),
    (RateLimited, 429),
    (StorageUnavailable, 503),
    (ServiceUnavailable, 503),
)
#: Seconds a client is told to wait on a 429 or 503 that does not say otherwise.
DEFAULT_RETRY_AFTER: Final = 5
_INTERNAL_CODE: Final = "INTERNAL_ERROR"
_INTERNAL_MESSAGE: Final = "Internal error"
_READ_ONLY_ALLOW: Final = "GET, HEAD"
_WEBHOOK_CHALLENGE: Final = 'HMAC-SHA256 realm="nestor-catalog webhooks"'
_CODE_BY_STATUS: Final = {
    400: "INVALID_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    422: "VALIDATION_FAILED",
    429: "RATE_LIMITED",
    503: "SERVICE_UNAVAILABLE",
}


@dataclass(frozen=True, slots=True)
class HttpError:
    """An error as the client will see it: status, envelope fields and extra headers."""

    status: int
    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def internal(self) -> bool:
        return self.status >= 500 and self.status != 503


def status_for(error: CatalogError) -> int:
    """The HTTP status of a core error (500 for classes the table does not list)."""
    for kind, status in STATUS_BY_ERROR:
        if isinstance(error, kind):
            return status
    return 500


def http_error(exc: BaseException) -> HttpError:
    """What ``exc`` answers, whatever raised it; never leaks an internal message."""
    if isinstance(exc, CatalogError):
        return _catalog_error(exc)
    if isinstance(exc, HTTPException):
        return _framework_error(exc)
    return HttpError(500, _INTERNAL_CODE, _INTERNAL_MESSAGE)


def _catalog_error(exc: CatalogError) -> HttpError:
    status = status_for(exc)
    if status == 500:
        return HttpError(500, _INTERNAL_CODE, _INTERNAL_MESSAGE)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = _challenge(exc)
    elif status == 405:
        headers["Allow"] = _READ_ONLY_ALLOW
    elif status in (429, 503):
        headers["Retry-After"] = str(_retry_after(exc.details))
    elif status == 413:
        headers["Connection"] = "close"
    return HttpError(status, exc.code, exc.message, dict(exc.details), headers)


def _challenge(exc: CatalogError) -> str:
    """Bearer for token failures (RFC 6750); webhook signature failures get their own scheme."""
    reason = exc.details.get("reason")
    if reason in REASONS or not isinstance(exc, AuthenticationError):
        return www_authenticate(exc if isinstance(exc, AuthenticationError) else None)
    return _WEBHOOK_CHALLENGE


def _retry_after(details: Mapping[str, Any]) -> int:
    value = details.get("retry_after")
    if isinstance(value, int | float) and value >= 0:
        return max(1, round(value))
    return DEFAULT_RETRY_AFTER


def _framework_error(exc: HTTPException) -> HttpError:
    headers = {key.title(): value for key, value in (exc.headers or {}).items()}
    if isinstance(exc, ValidationException):
        return _parameter_error(exc)
    if isinstance(exc, NotFoundException):
        return HttpError(404, "NOT_FOUND", "Not found", {}, headers)
    if isinstance(exc, MethodNotAllowedException):
        allowed = [method.strip() for method in headers.get("Allow", "").split(",") if method.strip()]
        return HttpError(405, "METHOD_NOT_ALLOWED", "Method not allowed", {"allowed": allowed}, headers)
    if isinstance(exc, RequestEntityTooLarge):
        headers["Connection"] = "close"
        return HttpError(413, "PAYLOAD_TOO_LARGE", "Request body too large", {}, headers)
    if isinstance(exc, TooManyRequestsException):
        reset = headers.get("Ratelimit-Reset")
        headers["Retry-After"] = reset if reset and reset.isdigit() and int(reset) > 0 else "1"
        return HttpError(429, "RATE_LIMITED", "Too many requests", {}, headers)
    if isinstance(exc, NotAuthorizedException):
        headers.setdefault("WWW-Authenticate", www_authenticate())
        return HttpError(401, "UNAUTHORIZED", "Authentication required", {}, headers)
    if isinstance(exc, PermissionDeniedException):
        return HttpError(403, "FORBIDDEN", "Permission denied", {}, headers)
    if isinstance(exc, ServiceUnavailableException):
        headers.setdefault("Retry-After", str(DEFAULT_RETRY_AFTER))
        return HttpError(503, "SERVICE_UNAVAILABLE", "Service unavailable; retry later", {}, headers)
    if exc.status_code < 500:
        code = _CODE_BY_STATUS.get(exc.status_code, "INVALID_REQUEST")
        return HttpError(exc.status_code, code, exc.detail, {}, headers)
    return HttpError(500, _INTERNAL_CODE, _INTERNAL_MESSAGE)


def _parameter_error(exc: ValidationException) -> HttpError:
    """A query, path or header parameter that does not parse; details name each parameter."""
    problems = exc.extra if isinstance(exc.extra, list) else []
    parameters = [
        {"name": str(item.get("key", "")), "in": _source(item.get("source")), "message": str(item.get("message", ""))}
        for item in problems
        if isinstance(item, Mapping)
    ]
    if not parameters:
        return HttpError(400, "INVALID_REQUEST", "Invalid request", {})
    first = parameters[0]
    message = f"invalid {first['in'] or 'request'} parameter {first['name']!r}: {first['message']}"
    return HttpError(400, "INVALID_REQUEST", message, {"parameter": first["name"], "parameters": parameters})


def _source(value: Any) -> str:
    """``query``, ``path``, ``header``... (Litestar reports an enum member)."""
    return str(getattr(value, "value", value) or "")


def envelope_bytes(error: HttpError, *, service: str, trace_id: str) -> bytes:
    """The spec's JSON error body."""
    body = {
        "error": {
            "code": error.code,
            "message": error.message,
            "service": service,
            "details": error.details,
            "trace_id": trace_id,
        }
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def exception_handlers(service: str) -> ExceptionHandlersMap:
    """The app's ``exception_handlers``: core errors, framework errors and a catch-all, one mapping."""

    def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
        error = http_error(exc)
        trace_id = getattr(exc, "trace_id", None) or current_trace_id() or new_trace_id()
        if error.internal:
            log.error(
                "internal error on %s %s",
                request.method,
                request.url.path,
                exc_info=exc,
                extra={"trace_id": trace_id},
            )
        elif error.status == 503:
            log.warning("%s on %s %s: %s", error.code, request.method, request.url.path, error.message)
        return Response(
            content=envelope_bytes(error, service=service, trace_id=trace_id),
            status_code=error.status,
            media_type="application/json",
            headers=error.headers,
        )

    return {CatalogError: handle, HTTPException: handle, Exception: handle}
