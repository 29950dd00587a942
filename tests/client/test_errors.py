"""Error envelopes back to the core exception tree: every code, from unit envelopes and from
the real app's answers (with details and trace ids), plus answers without an envelope."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest

from nestor_catalog_client import AsyncCatalogClient, Mirror
from nestor_catalog_client._errors import error_from_response
from nestor_catalog_core import (
    AuthenticationError,
    Catalog,
    CatalogError,
    ImmutableVersionError,
    IncompatibleChange,
    InputsInvalid,
    InvalidConstraint,
    InvalidRequest,
    InvalidVersion,
    NoMatchingVersion,
    NotFoundError,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    ReadOnly,
    RemoteError,
    ResourceNotFound,
    ServiceUnavailable,
    SourceNotFound,
    ValidationFailed,
    VersionNotFound,
    error_class_for_code,
)
from nestor_catalog_server.app import create_app
from tests.client.conftest import NO_WAIT
from tests.client.helpers import app_running, app_settings, definition_yaml

REQUEST = httpx.Request("GET", "http://catalog.test/api/v1/resources/x")
SECRET = "s" * 40


def all_error_classes() -> list[type[CatalogError]]:
    out: list[type[CatalogError]] = []
    pending: list[type[CatalogError]] = [CatalogError]
    while pending:
        cls = pending.pop()
        out.append(cls)
        pending.extend(cls.__subclasses__())
    return [cls for cls in out if cls is not RemoteError]


def envelope_response(code: str, details: dict[str, Any] | None = None, status: int = 400) -> httpx.Response:
    body = {
        "error": {
            "code": code,
            "message": f"message of {code}",
            "service": "catalog",
            "details": details or {},
            "trace_id": "trace-1",
        }
    }
    return httpx.Response(status, json=body, headers={"X-Request-ID": "trace-1"}, request=REQUEST)


@pytest.mark.parametrize("cls", all_error_classes(), ids=lambda cls: cls.__name__)
def test_every_code_of_the_tree_maps_back_to_its_class(cls: type[CatalogError]) -> None:
    error = error_from_response(envelope_response(cls.code, {"resource_name": "x"}))
    expected = error_class_for_code(cls.code)
    assert type(error) is expected
    assert error.code == cls.code
    assert error.message == f"message of {cls.code}"
    assert error.details["resource_name"] == "x"
    assert error.trace_id == "trace-1"


def test_resource_not_found_with_a_version_is_version_not_found() -> None:
    error = error_from_response(envelope_response("RESOURCE_NOT_FOUND", {"resource_name": "x", "version": "1.0.0"}))
    assert isinstance(error, VersionNotFound)
    assert not isinstance(error_from_response(envelope_response("RESOURCE_NOT_FOUND")), VersionNotFound)


def test_validation_errors_become_findings() -> None:
    finding = {"rule": "NAME_FORMAT", "severity": "error", "field": "metadata.name", "message": "bad", "line": 4}
    error = error_from_response(envelope_response("VALIDATION_FAILED", {"validation_errors": [finding]}, 422))
    assert isinstance(error, ValidationFailed)
    assert [(f.rule, f.field, f.line) for f in error.findings] == [("NAME_FORMAT", "metadata.name", 4)]
    inputs = error_from_response(envelope_response("INPUTS_INVALID", {"validation_errors": [finding]}, 422))
    assert isinstance(inputs, InputsInvalid)
    assert len(inputs.findings) == 1


def test_invalid_constraint_gets_its_attributes_from_details() -> None:
    details = {"constraint": "^^1", "token": "^", "reason": "expected a version", "position": 1}
    error = error_from_response(envelope_response("INVALID_CONSTRAINT", details))
    assert isinstance(error, InvalidConstraint)
    assert (error.text, error.token, error.reason, error.position) == ("^^1", "^", "expected a version", 1)


def test_unknown_codes_become_remote_errors_keeping_the_code() -> None:
    error = error_from_response(envelope_response("QUOTA_EXCEEDED", {"limit": 3}, 400))
    assert isinstance(error, RemoteError)
    assert error.remote_code == "QUOTA_EXCEEDED"
    assert error.to_dict()["code"] == "QUOTA_EXCEEDED"
    assert error.details == {"limit": 3}


@pytest.mark.parametrize(
    ("status", "cls"),
    [(502, ServiceUnavailable), (503, ServiceUnavailable), (504, ServiceUnavailable), (404, NotFoundError)],
)
def test_answers_without_an_envelope_map_by_status(status: int, cls: type[CatalogError]) -> None:
    answer = httpx.Response(status, text="<html>Bad Gateway</html>", headers={"X-Request-ID": "t9"}, request=REQUEST)
    error = error_from_response(answer)
    assert type(error) is cls
    assert error.details["status_code"] == status
    assert error.details["body"] == "<html>Bad Gateway</html>"
    assert error.trace_id == "t9"


def test_unexpected_status_without_an_envelope_is_a_remote_error() -> None:
    error = error_from_response(httpx.Response(418, text="teapot", request=REQUEST))
    assert isinstance(error, RemoteError)
    assert error.remote_code == "HTTP_418"


def test_retry_after_lands_in_details() -> None:
    answer = httpx.Response(
        429, json={"error": {"code": "RATE_LIMITED"}}, headers={"Retry-After": "9"}, request=REQUEST
    )
    error = error_from_response(answer)
    assert isinstance(error, RateLimited)
    assert error.details["retry_after"] == "9"


# --------------------------------------------------------------------------------------------- the real app


async def test_real_not_found_answers(client: AsyncCatalogClient) -> None:
    with pytest.raises(ResourceNotFound, match="Resource not found") as missing:
        await client.get_resource("no-such-thing")
    assert missing.value.details == {"resource_name": "no-such-thing"}
    assert missing.value.trace_id
    with pytest.raises(VersionNotFound) as version:
        await client.get_resource("aws-rds-mysql", "9.9.9")
    assert version.value.details["version"] == "9.9.9"
    with pytest.raises(NoMatchingVersion, match=r"\^9") as nothing:
        await client.get_resource("aws-rds-mysql", constraint="^9")
    assert nothing.value.details["available"] == ["1.0.0", "1.1.0", "1.2.0"]
    with pytest.raises(NotFoundError, match="Not"):
        await client.get_json("/api/v1/no-such-route")
    with pytest.raises(SourceNotFound):
        await client.get_json("/api/v1/sync/no-such-repo")


async def test_real_bad_requests(client: AsyncCatalogClient) -> None:
    with pytest.raises(InvalidConstraint) as constraint:
        await client.get_resource("aws-rds-mysql", constraint=">=1.0 <<2")
    assert constraint.value.text == ">=1.0 <<2"
    assert constraint.value.token
    with pytest.raises(InvalidVersion, match="not a version"):
        await client.get_resource("aws-rds-mysql", "one")
    with pytest.raises(InvalidRequest, match="limit") as limit:
        await client.list_page(limit=5000)
    assert limit.value.code == "INVALID_REQUEST"
    with pytest.raises(InvalidRequest, match="cursor"):
        await client.list_page(cursor="not-a-cursor")


async def test_real_publish_rejections(client: AsyncCatalogClient) -> None:
    with pytest.raises(ValidationFailed) as invalid:
        await client.publish(definition_yaml("Bad_Name"))
    assert any(f.field == "metadata.name" and f.line for f in invalid.value.findings)
    changed = definition_yaml("aws-s3-bucket", "1.0.0", description="other content")
    with pytest.raises(ImmutableVersionError):
        await client.publish(changed)
    breaking = definition_yaml("aws-s3-bucket", "1.1.0", provider="aws", category="storage", inputs=("other",))
    with pytest.raises(IncompatibleChange) as incompatible:
        await client.publish(breaking)
    assert incompatible.value.details


async def test_real_payload_too_large(catalog: Catalog) -> None:
    app = create_app(app_settings(service={"max_body_size": "1KiB"}), catalog=catalog)
    async with app.lifespan(), AsyncCatalogClient("http://t", transport=httpx.ASGITransport(app)) as client:
        with pytest.raises(PayloadTooLarge):
            await client.validate("#" * 4096 + "\n" + definition_yaml("x-y"))


async def test_real_rate_limit(catalog: Catalog) -> None:
    app = create_app(
        app_settings(service={"rate_limit": {"enabled": True, "requests": 1, "per": "hour"}}), catalog=catalog
    )
    async with (
        app.lifespan(),
        AsyncCatalogClient("http://t", transport=httpx.ASGITransport(app), retries=NO_WAIT) as client,
    ):
        await client.latest("aws-rds-mysql")
        with pytest.raises(RateLimited) as limited:
            await client.latest("aws-rds-mysql")
    assert int(limited.value.details["retry_after"]) > 0


@pytest.fixture
async def auth_app(catalog: Catalog) -> AsyncIterator[Any]:
    app = create_app(
        app_settings(auth={"enabled": True, "hs256_secret": SECRET, "algorithms": ["HS256"]}), catalog=catalog
    )
    async with app_running(app):
        yield app


def token(groups: list[str], **claims: Any) -> str:
    now = int(time.time())
    return jwt.encode({"sub": "someone", "groups": groups, "iat": now, "exp": now + 600, **claims}, SECRET, "HS256")


async def test_real_authentication_and_permission(auth_app: Any) -> None:
    transport = httpx.ASGITransport(auth_app)
    async with AsyncCatalogClient("http://t", transport=transport) as anonymous:
        with pytest.raises(AuthenticationError) as unauthorized:
            await anonymous.latest("aws-rds-mysql")
    assert unauthorized.value.code == "UNAUTHORIZED"
    async with AsyncCatalogClient("http://t", transport=transport, token=token(["readers"])) as reader:
        assert (await reader.latest("aws-rds-mysql")).version == "1.2.0"
        with pytest.raises(PermissionDenied) as forbidden:
            await reader.publish(definition_yaml("new-thing"))
    assert forbidden.value.code == "FORBIDDEN"


async def test_token_callable_is_called_for_every_request(auth_app: Any) -> None:
    issued: list[str] = []

    def rotating() -> str:
        issued.append(token(["platform-team"], jti=str(len(issued))))
        return issued[-1]

    async with AsyncCatalogClient("http://t", transport=httpx.ASGITransport(auth_app), token=rotating) as client:
        await client.latest("aws-rds-mysql")
        results = await client.publish(definition_yaml("rotated-token"))
    assert len(issued) == 2
    assert results[0].outcome == "created"
    assert results[0].resource.status.source.user == "someone"


async def test_real_read_only_mirror_answers_405(catalog: Catalog) -> None:
    mirror = Mirror("http://127.0.0.1:9")  # never started: only its read-only nature matters here
    app = create_app(app_settings(), catalog=mirror)
    async with app.lifespan(), AsyncCatalogClient("http://t", transport=httpx.ASGITransport(app)) as client:
        with pytest.raises(ReadOnly, match="read-only") as refused:
            await client.publish(definition_yaml("anything"))
        with pytest.raises(ReadOnly):
            await client.withdraw("aws-rds-mysql", "1.0.0")
    assert refused.value.code == "READ_ONLY"
    await mirror.close()


async def test_real_not_ready_is_service_unavailable(catalog: Catalog) -> None:
    mirror = Mirror("http://127.0.0.1:9")
    app = create_app(app_settings(), catalog=mirror)
    async with app.lifespan(), AsyncCatalogClient("http://t", transport=httpx.ASGITransport(app), retries=0) as c:
        app.state["nestor"].components["upstream"] = {"ok": False, "reason": "no copy yet"}
        with pytest.raises(ServiceUnavailable, match="not ready") as not_ready:
            await c.ready()
    assert not_ready.value.details["upstream"]["ok"] is False
    await mirror.close()
