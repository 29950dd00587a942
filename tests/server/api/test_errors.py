"""The one error mapping: every status from core and framework errors, the envelope's exact
shape, headers that go with each status, and no internals leaking into a 500."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from litestar import get
from litestar.exceptions import (
    MethodNotAllowedException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    TooManyRequestsException,
    ValidationException,
)
from litestar.exceptions.http_exceptions import RequestEntityTooLarge

from nestor_catalog_core import (
    AuthenticationError,
    CatalogError,
    ConfigError,
    ImmutableVersionError,
    IncompatibleChange,
    InputsInvalid,
    InvalidConstraint,
    InvalidRequest,
    InvalidVersion,
    LeaseHeld,
    NoMatchingVersion,
    OwnershipConflict,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    ReadOnly,
    ResourceNotFound,
    ServiceUnavailable,
    SourceNotFound,
    StorageError,
    StorageUnavailable,
    SyncError,
    ValidationFailed,
    VersionNotFound,
)
from nestor_catalog_server.api.errors import http_error
from nestor_catalog_server.config import Settings
from tests.server.api.conftest import Client, make_settings

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (InvalidRequest("bad"), 400, "INVALID_REQUEST"),
        (InvalidConstraint("^x", "x", "not a version"), 400, "INVALID_CONSTRAINT"),
        (InvalidVersion(), 400, "INVALID_VERSION"),
        (PayloadTooLarge(), 413, "PAYLOAD_TOO_LARGE"),
        (AuthenticationError(details={"reason": "token_expired"}), 401, "UNAUTHORIZED"),
        (ReadOnly(), 405, "READ_ONLY"),
        (PermissionDenied(), 403, "FORBIDDEN"),
        (ResourceNotFound("x"), 404, "RESOURCE_NOT_FOUND"),
        (VersionNotFound("x", "1.0.0"), 404, "RESOURCE_NOT_FOUND"),
        (NoMatchingVersion(), 404, "NO_MATCHING_VERSION"),
        (SourceNotFound(), 404, "SOURCE_NOT_FOUND"),
        (ImmutableVersionError(), 409, "IMMUTABLE_VERSION"),
        (IncompatibleChange(), 409, "INCOMPATIBLE_CHANGE"),
        (OwnershipConflict(), 409, "OWNERSHIP_CONFLICT"),
        (LeaseHeld(), 409, "LEASE_HELD"),
        (ValidationFailed(), 422, "VALIDATION_FAILED"),
        (InputsInvalid(), 422, "INPUTS_INVALID"),
        (RateLimited(), 429, "RATE_LIMITED"),
        (StorageUnavailable(), 503, "STORAGE_UNAVAILABLE"),
        (ServiceUnavailable(), 503, "SERVICE_UNAVAILABLE"),
        (StorageError("disk full at /var/lib/x"), 500, "INTERNAL_ERROR"),
        (ConfigError("secret=hunter2"), 500, "INTERNAL_ERROR"),
        (SyncError("fetch failed"), 500, "INTERNAL_ERROR"),
        (CatalogError("base"), 500, "INTERNAL_ERROR"),
        (RuntimeError("boom"), 500, "INTERNAL_ERROR"),
    ],
)
def test_core_errors_map_by_class(error: Exception, status: int, code: str) -> None:
    mapped = http_error(error)
    assert (mapped.status, mapped.code) == (status, code)
    if status == 500:
        assert mapped.message == "Internal error"
        assert mapped.details == {}


def test_headers_that_go_with_a_status() -> None:
    assert http_error(ReadOnly()).headers == {"Allow": "GET, HEAD"}
    assert http_error(PayloadTooLarge()).headers == {"Connection": "close"}
    assert http_error(RequestEntityTooLarge()).headers == {"Connection": "close"}
    assert http_error(RateLimited(details={"retry_after": 7})).headers == {"Retry-After": "7"}
    assert http_error(StorageUnavailable()).headers == {"Retry-After": "5"}
    token = http_error(AuthenticationError("token expired", details={"reason": "token_expired"}))
    assert token.headers["WWW-Authenticate"].startswith('Bearer realm="nestor-catalog", error="invalid_token"')
    missing = http_error(AuthenticationError(details={"reason": "token_missing"}))
    assert missing.headers["WWW-Authenticate"] == 'Bearer realm="nestor-catalog"'
    webhook = http_error(AuthenticationError(details={"reason": "signature_invalid"}))
    assert webhook.headers["WWW-Authenticate"].startswith("HMAC-SHA256")


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (NotFoundException(), 404, "NOT_FOUND"),
        (MethodNotAllowedException(headers={"allow": "GET, OPTIONS"}), 405, "METHOD_NOT_ALLOWED"),
        (ValidationException(extra=[{"key": "limit", "source": "query", "message": "bad"}]), 400, "INVALID_REQUEST"),
        (RequestEntityTooLarge(), 413, "PAYLOAD_TOO_LARGE"),
        (NotAuthorizedException(), 401, "UNAUTHORIZED"),
        (PermissionDeniedException(), 403, "FORBIDDEN"),
        (TooManyRequestsException(headers={"RateLimit-Reset": "9"}), 429, "RATE_LIMITED"),
    ],
)
def test_framework_errors_map_too(error: Exception, status: int, code: str) -> None:
    mapped = http_error(error)
    assert (mapped.status, mapped.code) == (status, code)


def test_framework_error_details() -> None:
    assert http_error(MethodNotAllowedException(headers={"allow": "GET, OPTIONS"})).details == {
        "allowed": ["GET", "OPTIONS"]
    }
    parameter = http_error(ValidationException(extra=[{"key": "limit", "source": "query", "message": "bad"}]))
    assert parameter.details["parameter"] == "limit"
    assert parameter.message == "invalid query parameter 'limit': bad"
    assert http_error(TooManyRequestsException(headers={"RateLimit-Reset": "9"})).headers["Retry-After"] == "9"


async def test_unknown_route_is_404_envelope(client: Client) -> None:
    response = await client.get("/api/v1/nothing-here", headers={"traceparent": TRACEPARENT})
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "code": "NOT_FOUND",
            "message": "Not found",
            "service": "catalog",
            "details": {},
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        }
    }
    assert response.headers["x-request-id"] == "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_wrong_method_is_405_with_allow(client: Client) -> None:
    response = await client.patch("/api/v1/resources")
    assert response.status_code == 405
    error = response.json()["error"]
    assert error["code"] == "METHOD_NOT_ALLOWED"
    assert "GET" in response.headers["allow"]
    assert "GET" in error["details"]["allowed"]


async def test_bad_query_parameter_names_the_parameter(client: Client) -> None:
    response = await client.get("/api/v1/resources", params={"limit": "lots"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "INVALID_REQUEST"
    assert error["details"]["parameter"] == "limit"
    assert error["details"]["parameters"][0]["in"] == "query"
    too_big = await client.get("/api/v1/resources", params={"limit": 1001})
    assert too_big.json()["error"]["details"]["parameter"] == "limit"
    flag = await client.get("/api/v1/resources", params={"deprecated": "maybe"})
    assert flag.json()["error"]["details"]["parameter"] == "deprecated"


async def test_request_id_is_echoed_and_used_in_errors(client: Client) -> None:
    response = await client.get("/api/v1/resources/nope", headers={"X-Request-ID": "req-42"})
    assert response.headers["x-request-id"] == "req-42"
    assert response.json()["error"]["trace_id"] == "req-42"
    generated = await client.get("/health")
    assert len(generated.headers["x-request-id"]) == 32
    preferred = await client.get("/health", headers={"traceparent": TRACEPARENT, "X-Request-ID": "other"})
    assert preferred.headers["x-request-id"] == "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_unexpected_errors_are_500_without_internals(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    @get("/boom", sync_to_thread=False)
    def boom() -> None:
        raise RuntimeError("secret connection string postgres://user:pw@db")

    client.app.register(boom)
    with caplog.at_level(logging.ERROR, logger="nestor_catalog_server.api"):
        response = await client.get("/boom", headers={"X-Request-ID": "trace-500"})
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "code": "INTERNAL_ERROR",
            "message": "Internal error",
            "service": "catalog",
            "details": {},
            "trace_id": "trace-500",
        }
    }
    assert "postgres" not in response.text
    (record,) = [r for r in caplog.records if r.name == "nestor_catalog_server.api"]
    assert record.exc_info is not None
    assert record.trace_id == "trace-500"


async def test_rate_limit_answers_429_with_retry_after(
    tmp_path: Path, app_client: Callable[[Settings], Client]
) -> None:
    settings = make_settings(tmp_path, service={"rate_limit": {"enabled": True, "requests": 2, "per": "minute"}})
    async with app_client(settings) as client:
        assert (await client.get("/api/v1/resources")).status_code == 200
        assert (await client.get("/api/v1/resources/aws-vpc")).status_code == 200
        limited = await client.get("/api/v1/resources")
        assert limited.status_code == 429
        assert limited.json()["error"]["code"] == "RATE_LIMITED"
        assert int(limited.headers["retry-after"]) >= 1
        for path in ("/health", "/ready", "/metrics"):
            assert (await client.get(path)).status_code == 200, path


async def test_service_name_comes_from_the_config(tmp_path: Path, app_client: Callable[[Settings], Client]) -> None:
    async with app_client(make_settings(tmp_path, service={"name": "catalog-eu"})) as client:
        response = await client.get("/api/v1/resources/nope")
        assert response.json()["error"]["service"] == "catalog-eu"
