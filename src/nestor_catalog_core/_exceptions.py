"""The one exception tree of nestor-catalog.

Every error the catalog raises on purpose is a ``CatalogError``. Each class carries a stable
``code`` (the ``code`` of the HTTP error envelope), a human ``message`` and JSON-safe
``details``. Only the server knows HTTP status codes: it maps these classes to responses in
one place, and the client maps envelopes back to these classes, so a consumer catches the
same exception whether it reads in-process, over HTTP or through a sidecar.

    CatalogError
    ├── InvalidRequest                 INVALID_REQUEST        bad parameters, bodies, cursors
    │   ├── InvalidConstraint          INVALID_CONSTRAINT     a version constraint that does not parse
    │   ├── InvalidVersion             INVALID_VERSION        not a full SemVer 2.0.0 version
    │   └── PayloadTooLarge            PAYLOAD_TOO_LARGE
    ├── ValidationFailed               VALIDATION_FAILED      carries ``findings``
    │   └── InputsInvalid              INPUTS_INVALID         a consumer's inputs against a definition
    ├── NotFoundError                  NOT_FOUND
    │   ├── ResourceNotFound           RESOURCE_NOT_FOUND     no such name
    │   ├── VersionNotFound            RESOURCE_NOT_FOUND     no such (name, version); the spec's code
    │   ├── NoMatchingVersion          NO_MATCHING_VERSION    a constraint that matches nothing
    │   └── SourceNotFound             SOURCE_NOT_FOUND       no such git repository / source
    ├── ConflictError                  CONFLICT
    │   ├── ImmutableVersionError      IMMUTABLE_VERSION      same (name, version), other content
    │   ├── IncompatibleChange         INCOMPATIBLE_CHANGE    declared bump smaller than the changes need
    │   ├── OwnershipConflict          OWNERSHIP_CONFLICT     a name owned by another source
    │   ├── ConcurrentWrite            CONCURRENT_WRITE       the event log moved past a conditional write
    │   └── LeaseHeld                  LEASE_HELD             another holder owns the lease
    ├── AuthenticationError            UNAUTHORIZED
    ├── PermissionDenied               FORBIDDEN
    │   └── ReadOnly                   READ_ONLY              writes to a read-only mirror
    ├── RateLimited                    RATE_LIMITED
    ├── StorageError                   STORAGE_ERROR          the store failed or is misconfigured
    │   └── StorageUnavailable         STORAGE_UNAVAILABLE    the store cannot be reached now
    ├── ServiceUnavailable             SERVICE_UNAVAILABLE    overloaded or not ready; retry later
    ├── ConfigError                    CONFIG_INVALID         configuration that cannot start
    ├── SyncError                      SYNC_FAILED            a git fetch or sync that failed
    └── RemoteError                    (any)                  an envelope code this version does not know

Adapters translate foreign exceptions with ``raise StorageUnavailable(...) from exc``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from nestor_catalog_core.models.findings import Finding

__all__ = [
    "AuthenticationError",
    "CatalogError",
    "ConcurrentWrite",
    "ConfigError",
    "ConflictError",
    "ImmutableVersionError",
    "IncompatibleChange",
    "InputsInvalid",
    "InvalidConstraint",
    "InvalidRequest",
    "InvalidVersion",
    "LeaseHeld",
    "NoMatchingVersion",
    "NotFoundError",
    "OwnershipConflict",
    "PayloadTooLarge",
    "PermissionDenied",
    "RateLimited",
    "ReadOnly",
    "RemoteError",
    "ResourceNotFound",
    "ServiceUnavailable",
    "SourceNotFound",
    "StorageError",
    "StorageUnavailable",
    "SyncError",
    "ValidationFailed",
    "VersionNotFound",
    "error_class_for_code",
]


class CatalogError(Exception):
    """Base of every error nestor-catalog raises on purpose."""

    code: ClassVar[str] = "INTERNAL_ERROR"
    default_message: ClassVar[str] = "Internal error"

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Mapping[str, Any] | None = None,
        trace_id: str | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.details: dict[str, Any] = dict(details or {})
        self.trace_id = trace_id
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        """The error as the ``error`` object of the spec's envelope (without ``service``)."""
        return {
            "code": self.code,
            "message": self.message,
            "details": self.details,
            "trace_id": self.trace_id,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, details={self.details!r})"


class InvalidRequest(CatalogError):
    code = "INVALID_REQUEST"
    default_message = "Invalid request"


class InvalidConstraint(InvalidRequest):
    """A version constraint that does not parse; ``token`` is the offending part."""

    code = "INVALID_CONSTRAINT"
    default_message = "Invalid version constraint"

    def __init__(self, text: str, token: str, reason: str, *, position: int | None = None) -> None:
        self.text = text
        self.token = token
        self.reason = reason
        self.position = position
        super().__init__(
            f"invalid version constraint {text!r}: {reason} at {token!r}",
            details={"constraint": text, "token": token, "reason": reason, "position": position},
        )


class InvalidVersion(InvalidRequest):
    code = "INVALID_VERSION"
    default_message = "Invalid version: expected a full SemVer 2.0.0 version like 1.2.3"


class PayloadTooLarge(InvalidRequest):
    code = "PAYLOAD_TOO_LARGE"
    default_message = "Payload too large"


class _CarriesFindings(CatalogError):
    """An error with the ``findings`` behind it; ``findings_detail`` names the ``details``
    key they are also written to (``None``: they stay in-process)."""

    findings_detail: ClassVar[str | None] = None

    def __init__(
        self,
        message: str | None = None,
        *,
        findings: Sequence[Finding] = (),
        details: Mapping[str, Any] | None = None,
        trace_id: str | None = None,
    ) -> None:
        self.findings: list[Finding] = list(findings)
        merged: dict[str, Any] = dict(details or {})
        key = self.findings_detail
        if key is not None and self.findings and key not in merged:
            merged[key] = [f.to_dict() for f in self.findings]
        super().__init__(message, details=merged, trace_id=trace_id)


class ValidationFailed(_CarriesFindings):
    """A definition (or a batch of them) has error findings; ``findings`` lists them all."""

    code = "VALIDATION_FAILED"
    default_message = "Resource validation failed"
    findings_detail = "validation_errors"


class InputsInvalid(ValidationFailed):
    code = "INPUTS_INVALID"
    default_message = "Inputs do not match the resource definition"


class NotFoundError(CatalogError):
    code = "NOT_FOUND"
    default_message = "Not found"


def _named_details(kwargs: dict[str, Any], **names: str | None) -> dict[str, Any]:
    """``kwargs``' ``details`` (popped) with each of ``names`` that is given added, unless set."""
    details = dict(kwargs.pop("details", None) or {})
    for key, value in names.items():
        if value is not None:
            details.setdefault(key, value)
    return details


class ResourceNotFound(NotFoundError):
    code = "RESOURCE_NOT_FOUND"
    default_message = "Resource not found"

    def __init__(self, name: str | None = None, **kwargs: Any) -> None:
        details = _named_details(kwargs, resource_name=name)
        super().__init__(kwargs.pop("message", None), details=details, **kwargs)


class VersionNotFound(NotFoundError):
    code = "RESOURCE_NOT_FOUND"
    default_message = "Resource not found"

    def __init__(self, name: str | None = None, version: str | None = None, **kwargs: Any) -> None:
        details = _named_details(kwargs, resource_name=name, version=version)
        super().__init__(kwargs.pop("message", None), details=details, **kwargs)


class NoMatchingVersion(NotFoundError):
    code = "NO_MATCHING_VERSION"
    default_message = "No published version matches the constraint"


class SourceNotFound(NotFoundError):
    code = "SOURCE_NOT_FOUND"
    default_message = "Source not found"


class ConflictError(CatalogError):
    code = "CONFLICT"
    default_message = "Conflict"


class ImmutableVersionError(ConflictError):
    code = "IMMUTABLE_VERSION"
    default_message = "A published version cannot change; publish a new version instead"


class IncompatibleChange(_CarriesFindings, ConflictError):
    """The declared version bump is smaller than the changes need; ``details['changes']``.
    ``findings`` are the compatibility findings (with their lines when the document was
    loaded from a file), for callers that report per file (sync) without comparing again."""

    code = "INCOMPATIBLE_CHANGE"
    default_message = "The changes need a larger version bump"


class OwnershipConflict(ConflictError):
    code = "OWNERSHIP_CONFLICT"
    default_message = "The resource name is owned by another source"


class ConcurrentWrite(ConflictError):
    """A write conditioned on the store's last event sequence (``publish(...,
    expected_sequence=)``) found the log already past it: another writer came first, and
    nothing was written. The catalog catches up and prepares the write again."""

    code = "CONCURRENT_WRITE"
    default_message = "Another writer changed the catalog first; retry"


class LeaseHeld(ConflictError):
    code = "LEASE_HELD"
    default_message = "The lease is held by another holder"


class AuthenticationError(CatalogError):
    code = "UNAUTHORIZED"
    default_message = "Authentication required"


class PermissionDenied(CatalogError):
    code = "FORBIDDEN"
    default_message = "Permission denied"


class ReadOnly(PermissionDenied):
    code = "READ_ONLY"
    default_message = "This catalog is a read-only mirror; write to the upstream catalog"


class RateLimited(CatalogError):
    code = "RATE_LIMITED"
    default_message = "Too many requests"


class StorageError(CatalogError):
    code = "STORAGE_ERROR"
    default_message = "Storage error"


class StorageUnavailable(StorageError):
    code = "STORAGE_UNAVAILABLE"
    default_message = "Storage is unavailable"


class ServiceUnavailable(CatalogError):
    code = "SERVICE_UNAVAILABLE"
    default_message = "Service unavailable; retry later"


class ConfigError(CatalogError):
    code = "CONFIG_INVALID"
    default_message = "Invalid configuration"


class SyncError(CatalogError):
    code = "SYNC_FAILED"
    default_message = "Synchronization failed"


class RemoteError(CatalogError):
    """An error envelope whose code this version of the library does not know."""

    def __init__(self, code: str, message: str | None = None, **kwargs: Any) -> None:
        self.remote_code = code
        super().__init__(message, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["code"] = self.remote_code
        return data


def _all_subclasses(cls: type[CatalogError]) -> list[type[CatalogError]]:
    out: list[type[CatalogError]] = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_all_subclasses(sub))
    return out


def error_class_for_code(code: str) -> type[CatalogError] | None:
    """The most general class raising ``code`` (``RESOURCE_NOT_FOUND`` -> ``ResourceNotFound``)."""
    candidates: list[type[CatalogError]] = [CatalogError, *_all_subclasses(CatalogError)]
    for candidate in candidates:
        if candidate.code == code and candidate is not RemoteError:
            return candidate
    return None
