"""Error envelopes back to the core exception tree.

The server maps every ``CatalogError`` to the spec's envelope
``{"error": {"code", "message", "service", "details", "trace_id"}}``; this module maps it back,
so a consumer catches the same class whether it reads in-process, over HTTP or through a
sidecar. Responses that carry no envelope (a proxy's 502 page, a load balancer's 503) map by
status code. Unknown codes become ``RemoteError`` carrying the code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

import httpx

from nestor_catalog_core import (
    AuthenticationError,
    CatalogError,
    ConflictError,
    Finding,
    InvalidConstraint,
    InvalidRequest,
    NotFoundError,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    RemoteError,
    ResourceNotFound,
    ServiceUnavailable,
    ValidationFailed,
    VersionNotFound,
    error_class_for_code,
)

__all__ = ["error_from_envelope", "error_from_response", "transport_error"]

#: Classes for responses without an envelope, by status code.
_BY_STATUS: Final[Mapping[int, type[CatalogError]]] = {
    400: InvalidRequest,
    401: AuthenticationError,
    403: PermissionDenied,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLarge,
    422: ValidationFailed,
    429: RateLimited,
    502: ServiceUnavailable,
    503: ServiceUnavailable,
    504: ServiceUnavailable,
}

_BODY_EXCERPT: Final = 200


def error_from_response(response: httpx.Response) -> CatalogError:
    """The exception for an error response (its body must have been read)."""
    trace_id = response.headers.get("x-request-id")
    envelope = _envelope(response)
    if envelope is not None:
        code = str(envelope.get("code") or "")
        details = envelope.get("details")
        error = error_from_envelope(
            code,
            str(envelope.get("message") or "") or None,
            details if isinstance(details, dict) else {},
            str(envelope.get("trace_id") or trace_id or "") or None,
        )
    else:
        error = _error_without_envelope(response, trace_id)
    retry_after = response.headers.get("retry-after")
    if retry_after is not None and "retry_after" not in error.details:
        error.details["retry_after"] = retry_after
    return error


def error_from_envelope(code: str, message: str | None, details: dict[str, Any], trace_id: str | None) -> CatalogError:
    """Rebuild the exception a server raised from its envelope's fields.

    ``RESOURCE_NOT_FOUND`` with a ``version`` detail is a ``VersionNotFound`` (what the
    in-process catalog raises for a missing exact version), without one a ``ResourceNotFound``.
    """
    cls = error_class_for_code(code)
    if cls is ResourceNotFound and "version" in details:
        cls = VersionNotFound
    if cls is None:
        return RemoteError(code or "UNKNOWN", message, details=details, trace_id=trace_id)
    return _instantiate(cls, message, details, trace_id)


def transport_error(exc: httpx.TransportError, request: httpx.Request, attempts: int) -> ServiceUnavailable:
    """What a consumer sees when the catalog cannot be reached (``from exc`` is the caller's job)."""
    kind = type(exc).__name__
    return ServiceUnavailable(
        f"catalog unreachable: {kind} on {request.method} {request.url.path} after {attempts} attempt(s): {exc}",
        details={"url": str(request.url), "error": kind, "attempts": attempts},
    )


def _instantiate(
    cls: type[CatalogError], message: str | None, details: dict[str, Any], trace_id: str | None
) -> CatalogError:
    """An instance of ``cls`` from envelope fields, whatever its ``__init__`` signature.

    Classes whose constructor takes domain arguments (``InvalidConstraint(text, token, ...)``)
    are built through ``CatalogError.__init__`` and get their attributes from ``details``.
    """
    if issubclass(cls, ValidationFailed):
        findings = [Finding.from_dict(item) for item in details.get("validation_errors") or [] if _is_finding(item)]
        return cls(message, findings=findings, details=details, trace_id=trace_id)
    error = cls.__new__(cls)
    CatalogError.__init__(error, message, details=details, trace_id=trace_id)
    if isinstance(error, InvalidConstraint):
        error.text = str(details.get("constraint", ""))
        error.token = str(details.get("token", ""))
        error.reason = str(details.get("reason", ""))
        position = details.get("position")
        error.position = position if isinstance(position, int) else None
    return error


def _is_finding(item: Any) -> bool:
    return isinstance(item, dict) and "rule" in item


def _envelope(response: httpx.Response) -> dict[str, Any] | None:
    if "json" not in response.headers.get("content-type", ""):
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) and "code" in error else None


def _error_without_envelope(response: httpx.Response, trace_id: str | None) -> CatalogError:
    status = response.status_code
    excerpt = response.text[:_BODY_EXCERPT] if response.content else ""
    details: dict[str, Any] = {"status_code": status, "url": str(response.request.url)}
    if excerpt:
        details["body"] = excerpt
    message = f"HTTP {status} {response.reason_phrase} from {response.request.url.path}"
    cls = _BY_STATUS.get(status)
    if cls is None:
        return RemoteError(f"HTTP_{status}", message, details=details, trace_id=trace_id)
    return _instantiate(cls, message, details, trace_id)
