"""The shapes of the API's bodies, for the OpenAPI document only.

Handlers on hot paths return prebuilt bytes (a version's cached JSON, pages joined from them), so
Litestar cannot infer their schema; these ``TypedDict``s describe what those bytes hold, and
``responses(...)`` attaches them (and the error envelope for each error status) to a handler.
"""

from __future__ import annotations

from typing import Any, Final, Literal, TypedDict

from litestar.openapi.datastructures import ResponseSpec

__all__ = [
    "AuditPageBody",
    "ErrorEnvelope",
    "FacetsBody",
    "FindingBody",
    "InputsValidationBody",
    "PublishResultsBody",
    "ReadyBody",
    "ResourceBody",
    "ResourcePage",
    "SearchPage",
    "StatusBody",
    "SyncAccepted",
    "SyncListBody",
    "ValidateBody",
    "VersionList",
    "WebhookAnswer",
    "error_specs",
    "responses",
]


class ErrorDetail(TypedDict):
    code: str
    message: str
    service: str
    details: dict[str, Any]
    trace_id: str


class ErrorEnvelope(TypedDict):
    """Every 4xx and 5xx body."""

    error: ErrorDetail


class FindingBody(TypedDict):
    rule: str
    severity: Literal["error", "warning", "info"]
    field: str
    message: str
    file: str | None
    line: int | None
    column: int | None


class SourceBody(TypedDict, total=False):
    kind: Literal["git", "local", "api"]
    repository: str
    path: str
    commit: str
    author_email: str
    committed_at: str
    user: str


class StatusBlock(TypedDict, total=False):
    digest: str
    published_at: str
    source: SourceBody
    deprecated: bool
    withdrawn: bool
    sunset: bool
    sequence: int
    updated_at: str


class ResourceBody(TypedDict):
    """A published version: the definition's fields plus its status block."""

    apiVersion: str
    kind: str
    metadata: dict[str, Any]
    spec: dict[str, Any]
    status: StatusBlock


class ResourcePage(TypedDict, total=False):
    items: list[ResourceBody]
    total: int
    next_cursor: str | None
    revision: int
    facets: dict[str, dict[str, int]]


class SearchPage(ResourcePage, total=False):
    query: str


class VersionInfo(TypedDict):
    version: str
    digest: str
    published_at: str
    deprecated: bool
    withdrawn: bool
    sunset: bool
    prerelease: bool
    source: SourceBody


class VersionList(TypedDict):
    name: str
    latest: str | None
    versions: list[VersionInfo]


class ChangeBody(TypedDict):
    """One change between two versions: the compatibility rule, where, both values, the bump."""

    rule: str
    field: str
    old: Any
    new: Any
    needs: Literal["patch", "minor", "major"]
    message: str


class DiffBody(TypedDict):
    """``GET /resources/{name}/diff``: the compatibility engine's report from one version to another."""

    name: str
    old_version: str
    new_version: str
    declared: Literal["none", "patch", "minor", "major"]
    required: Literal["none", "patch", "minor", "major"]
    ok: bool
    changes: list[ChangeBody]


class FacetsBody(TypedDict):
    total: int
    facets: dict[str, dict[str, int]]
    revision: int


class InputsValidationBody(TypedDict):
    valid: bool
    values: dict[str, Any]
    findings: list[FindingBody]


class ValidateBody(TypedDict):
    valid: bool
    files: int
    definitions: int
    findings: list[FindingBody]


class PublishResultBody(TypedDict):
    outcome: Literal["created", "unchanged", "lifecycle", "restored"]
    resource: ResourceBody
    warnings: list[FindingBody]


class PublishResultsBody(TypedDict):
    results: list[PublishResultBody]


class AuditPageBody(TypedDict):
    items: list[dict[str, Any]]
    next_cursor: str | None


class SyncListBody(TypedDict):
    repositories: list[dict[str, Any]]


class SyncAccepted(TypedDict, total=False):
    repository: str
    status: Literal["scheduled"]
    #: With ``confirm_withdrawals``: what the withdraw guard held (null when forwarded to the leader).
    confirmed: dict[str, Any] | None
    forwarded: bool


class WebhookAnswer(TypedDict, total=False):
    status: Literal["accepted", "ok", "ignored"]
    repository: str
    event: str
    delivery: str | None
    reason: str


class ReadyBody(TypedDict):
    status: Literal["ready", "degraded"]
    checks: dict[str, dict[str, Any]]


class StatusBody(TypedDict):
    service: str
    version: str
    uptime_seconds: float
    revision: int
    counts: dict[str, int]
    repositories: list[dict[str, Any]]
    sse: dict[str, int]
    storage: dict[str, Any]
    read_only: bool
    upstream: dict[str, Any] | None
    components: dict[str, Any]


_ERROR_DESCRIPTIONS: Final = {
    304: "Not modified: the ETag matches If-None-Match",
    400: "Invalid request (a parameter, a cursor, a constraint or a body)",
    401: "Missing or invalid bearer token (or webhook signature)",
    403: "The caller may not do this",
    404: "Not found",
    405: "Method not allowed, or this catalog is a read-only mirror",
    409: "Conflict: immutability, compatibility or ownership",
    413: "Request body too large",
    422: "Validation failed; details.validation_errors lists every finding",
    429: "Rate limited; see Retry-After",
    503: "Not ready or overloaded; see Retry-After",
}


def error_specs(*statuses: int) -> dict[int, ResponseSpec]:
    """The error envelope for each of ``statuses`` (and 500, which any route may answer)."""
    specs = {
        status: ResponseSpec(
            data_container=None if status == 304 else ErrorEnvelope,
            description=_ERROR_DESCRIPTIONS[status],
            generate_examples=False,
        )
        for status in statuses
    }
    specs[500] = ResponseSpec(data_container=ErrorEnvelope, description="Internal error", generate_examples=False)
    return specs


def responses(
    body: Any, *errors: int, status: int = 200, description: str = "OK", media_type: str = "application/json"
) -> dict[int, ResponseSpec]:
    """The success body (``status``) and the error envelopes of ``errors``, for ``responses=``."""
    specs = {
        status: ResponseSpec(
            data_container=body, description=description, media_type=media_type, generate_examples=False
        )
    }
    specs.update(error_specs(*errors))
    return specs
