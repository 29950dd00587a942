"""``AsyncCatalogClient`` against the real app in-process: every method returns core models,
cursors are followed, deprecations warn once, the ETag cache revalidates, and retries happen
only where they are safe."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from nestor_catalog_client import (
    AsyncCatalogClient,
    CatalogDeprecationWarning,
    ETagCache,
    FacetCounts,
    ResourcePage,
    RetryPolicy,
    SearchResult,
    ValidationReport,
)
from nestor_catalog_core import (
    AuditPage,
    Bump,
    Catalog,
    CompatReport,
    Deprecation,
    InputsResult,
    InvalidRequest,
    RemoteError,
    Resource,
    ServiceUnavailable,
    Severity,
    VersionNotFound,
)
from nestor_catalog_core.models import utcnow
from tests.client.conftest import NO_WAIT, SEEDED
from tests.client.helpers import API_SOURCE, definition_yaml, deprecate, free_port, publish

ALL_NAMES = sorted(name for name, *_ in SEEDED)


async def test_get_resource_exact_constraint_and_latest(client: AsyncCatalogClient) -> None:
    exact = await client.get_resource("aws-rds-mysql", "1.1.0")
    assert isinstance(exact, Resource)
    assert (exact.name, exact.version) == ("aws-rds-mysql", "1.1.0")
    assert exact.digest.startswith("sha256:")
    assert exact.status.sequence > 0
    assert (await client.get_resource("aws-rds-mysql", constraint="~1.1")).version == "1.1.0"
    assert (await client.get_resource("aws-rds-mysql", constraint=">=1.0.0, <1.2.0")).version == "1.1.0"
    assert (await client.get_resource("aws-rds-mysql", constraint="~> 1.0")).version == "1.2.0"
    assert (await client.get_resource("aws-rds-mysql")).version == "1.2.0"
    assert (await client.latest("gcp-cloudsql-postgres")).version == "2.0.0"
    with pytest.raises(InvalidRequest, match="either an exact version or a constraint"):
        await client.get_resource("aws-rds-mysql", "1.0.0", constraint="^1")


async def test_versions_newest_first_with_flags(client: AsyncCatalogClient, catalog: Catalog) -> None:
    await catalog.withdraw("aws-rds-mysql", "1.1.0", source=catalog.entry("aws-rds-mysql", "1.1.0").stored.source)
    versions = await client.versions("aws-rds-mysql")
    assert [v.version for v in versions] == ["1.2.0", "1.1.0", "1.0.0"]
    assert [v.withdrawn for v in versions] == [False, True, False]
    assert all(v.digest.startswith("sha256:") and v.source is not None for v in versions)
    withdrawn = await client.get_resource("aws-rds-mysql", "1.1.0")
    assert withdrawn.withdrawn


async def test_list_resources_follows_cursors(client: AsyncCatalogClient) -> None:
    names = [resource.name async for resource in client.list_resources(page_size=2)]
    assert names == ALL_NAMES
    aws = [resource.name async for resource in client.list_resources(provider="aws", page_size=1)]
    assert aws == ["aws-rds-mysql", "aws-s3-bucket"]
    assert [r.name async for r in client.list_resources(category="database", provider="gcp")] == [
        "gcp-cloudsql-postgres"
    ]


async def test_list_page(client: AsyncCatalogClient, catalog: Catalog) -> None:
    page = await client.list_page(limit=2, facets=True)
    assert isinstance(page, ResourcePage)
    assert [r.name for r in page.items] == ALL_NAMES[:2]
    assert page.total == len(ALL_NAMES)
    assert page.revision == catalog.revision
    assert page.next_cursor is not None
    assert page.facets is not None
    assert page.facets["provider"]["aws"] == 2
    last = await client.list_page(limit=10, cursor=page.next_cursor)
    assert [r.name for r in last.items] == ALL_NAMES[2:]
    assert last.next_cursor is None
    assert (await client.list_page(deprecated=True)).total == 0


async def test_unknown_filters_are_refused_before_sending(client: AsyncCatalogClient) -> None:
    with pytest.raises(InvalidRequest, match="unknown filter"):
        await client.list_page(colour="red")  # type: ignore[call-arg]


async def test_search_facets_and_schemas(client: AsyncCatalogClient) -> None:
    result = await client.search("mysql", limit=5)
    assert isinstance(result, SearchResult)
    assert result.query == "mysql"
    assert result.items[0].name == "aws-rds-mysql"
    filtered = await client.search("database", provider="gcp", facets=True)
    assert [r.name for r in filtered.items] == ["gcp-cloudsql-postgres"]
    assert filtered.facets is not None
    with pytest.raises(InvalidRequest, match="non-empty query"):
        await client.search("  ")
    facets = await client.facets(provider="aws")
    assert isinstance(facets, FacetCounts)
    assert facets.total == 2
    assert facets.facets["category"] == {"database": 1, "storage": 1}
    schema = await client.inputs_schema("aws-rds-mysql", "1.2.0")
    assert schema["required"] == ["size"]
    assert set(schema["properties"]) == {"size", "extra_0", "extra_1"}
    definition_schema = await client.definition_schema()
    assert "metadata" in definition_schema["properties"]


async def test_validate_reports_every_finding_with_positions(client: AsyncCatalogClient) -> None:
    good = await client.validate(definition_yaml("brand-new"))
    assert isinstance(good, ValidationReport)
    assert (good.valid, good.files, good.definitions, good.errors) == (True, 1, 1, [])
    bad = await client.validate(definition_yaml("Bad_Name").replace("type: string", "type: strin"))
    assert not bad.valid
    assert {f.rule for f in bad.errors} >= {"NAME_FORMAT"}
    assert len(bad.errors) >= 2
    assert all(f.line is not None for f in bad.errors)
    as_json = await client.validate(json.dumps(json.loads(json.dumps({"kind": "x"}))).encode())
    assert not as_json.valid


async def test_validate_inputs_applies_defaults(client: AsyncCatalogClient) -> None:
    ok = await client.validate_inputs("aws-rds-mysql", "1.1.0", {"size": "small"})
    assert isinstance(ok, InputsResult)
    assert ok.ok
    assert ok.values == {"size": "small", "extra_0": 1}
    bad = await client.validate_inputs("aws-rds-mysql", "1.1.0", {"extra_0": -1})
    assert not bad.ok
    assert {f.field for f in bad.findings if f.severity is Severity.ERROR} >= {"size", "extra_0"}
    with pytest.raises(InvalidRequest, match="mapping"):
        await client.validate_inputs("aws-rds-mysql", "1.1.0", ["size"])  # type: ignore[arg-type]


async def test_status_health_ready_and_audit(client: AsyncCatalogClient, catalog: Catalog) -> None:
    status = await client.status()
    assert status["revision"] == catalog.revision
    assert status["counts"]["resources"] == len(ALL_NAMES)
    assert await client.health() == {"status": "ok"}
    assert (await client.ready())["status"] == "ready"
    audit = await client.audit(resource="aws-rds-mysql", limit=2)
    assert isinstance(audit, AuditPage)
    assert len(audit.records) == 2
    assert audit.records[0].version == "1.2.0"
    assert audit.next_cursor is not None


async def test_writes_round_trip(client: AsyncCatalogClient) -> None:
    (created,) = await client.publish(definition_yaml("written-by-client"))
    assert created.outcome == "created"
    assert created.resource.status.source.kind.value == "api"
    (again,) = await client.publish(definition_yaml("written-by-client"))
    assert again.outcome == "unchanged"
    deprecated = await client.deprecate("written-by-client", "1.0.0", "use v2", sunset="2030-01-01")
    assert deprecated.deprecated
    assert deprecated.deprecation is not None
    assert deprecated.deprecation.message == "use v2"
    assert not (await client.undeprecate("written-by-client", "1.0.0")).deprecated
    assert (await client.withdraw("written-by-client", "1.0.0")).withdrawn
    assert not (await client.restore("written-by-client", "1.0.0")).withdrawn


async def test_deprecated_versions_warn_once_at_the_callers_line(client: AsyncCatalogClient, catalog: Catalog) -> None:
    await deprecate(catalog, "aws-rds-mysql", "1.0.0", "moving to 2.x")
    with pytest.warns(CatalogDeprecationWarning, match="aws-rds-mysql 1.0.0 is deprecated: moving to 2.x") as seen:
        await client.get_resource("aws-rds-mysql", "1.0.0")
    assert [Path(w.filename).name for w in seen] == [Path(__file__).name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = await client.get_resource("aws-rds-mysql", "1.0.0")
        assert again.deprecated
        listed = [r async for r in client.list_resources()]  # lists never warn
        assert listed


async def test_exact_versions_are_revalidated_from_the_cache(client: AsyncCatalogClient) -> None:
    assert client.cache is not None
    first = await client.get_resource("aws-rds-mysql", "1.1.0")
    assert (client.cache.hits, client.cache.misses) == (0, 1)
    second = await client.get_resource("aws-rds-mysql", "1.1.0")
    assert (client.cache.hits, client.cache.misses) == (1, 1)
    assert second == first
    await client.inputs_schema("aws-rds-mysql", "1.1.0")
    await client.inputs_schema("aws-rds-mysql", "1.1.0")
    assert client.cache.hits == 2
    await client.get_resource("aws-rds-mysql")  # latest: never cached
    assert (client.cache.hits, client.cache.misses) == (2, 2)


async def test_a_status_change_behind_the_same_etag_is_refetched(client: AsyncCatalogClient, catalog: Catalog) -> None:
    assert not (await client.get_resource("aws-s3-bucket", "1.0.0")).deprecated
    await deprecate(catalog, "aws-s3-bucket", "1.0.0")
    with pytest.warns(CatalogDeprecationWarning):
        assert (await client.get_resource("aws-s3-bucket", "1.0.0")).deprecated
    source = catalog.entry("aws-s3-bucket", "1.0.0").stored.source
    await catalog.withdraw("aws-s3-bucket", "1.0.0", source=source)
    assert (await client.get_resource("aws-s3-bucket", "1.0.0")).withdrawn
    await catalog.restore("aws-s3-bucket", "1.0.0", source=source)
    assert not (await client.get_resource("aws-s3-bucket", "1.0.0")).withdrawn


async def test_cache_can_be_off_or_shared(catalog: Catalog, client: AsyncCatalogClient) -> None:
    transport = client._http._transport
    assert isinstance(transport, httpx.ASGITransport)
    async with AsyncCatalogClient("http://t", transport=transport, cache=False) as uncached:
        assert uncached.cache is None
        await uncached.get_resource("aws-rds-mysql", "1.0.0")
    shared = ETagCache(max_entries=1)
    async with AsyncCatalogClient("http://t", transport=transport, cache=shared) as one:
        await one.get_resource("aws-rds-mysql", "1.0.0")
        await one.get_resource("aws-rds-mysql", "1.1.0")
        assert len(shared) == 1
        await one.get_resource("aws-rds-mysql", "1.0.0")
        assert shared.hits == 0


# --------------------------------------------------------------------------------------------- retries


def scripted(*answers: int | httpx.TransportError, seen: list[httpx.Request]) -> httpx.MockTransport:
    """Answers in order (a status with an envelope, or a transport error), then 200 with a
    status body. For protocol edge cases a real server does not produce on demand."""
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0) if queue else 200
        if isinstance(answer, httpx.TransportError):
            raise answer
        if answer == 200:
            return httpx.Response(200, json={"revision": 3})
        body = {"error": {"code": "SERVICE_UNAVAILABLE", "message": "busy", "details": {}}}
        return httpx.Response(answer, json=body)

    return httpx.MockTransport(handle)


@pytest.mark.parametrize("status", [502, 503, 504, 429])
async def test_transient_answers_are_retried(status: int) -> None:
    seen: list[httpx.Request] = []
    async with AsyncCatalogClient("http://t", transport=scripted(status, status, seen=seen), retries=NO_WAIT) as c:
        assert (await c.status())["revision"] == 3
    assert len(seen) == 3


async def test_retries_give_up_with_the_last_error() -> None:
    seen: list[httpx.Request] = []
    async with AsyncCatalogClient("http://t", transport=scripted(503, 503, 503, seen=seen), retries=NO_WAIT) as c:
        with pytest.raises(ServiceUnavailable, match="busy"):
            await c.status()
    assert len(seen) == 3


async def test_writes_are_sent_once() -> None:
    seen: list[httpx.Request] = []
    async with AsyncCatalogClient("http://t", transport=scripted(503, 503, seen=seen), retries=NO_WAIT) as c:
        with pytest.raises(ServiceUnavailable):
            await c.publish(definition_yaml("x-y"))
        with pytest.raises(ServiceUnavailable):
            await c.withdraw("x", "1.0.0")
    assert [r.method for r in seen] == ["POST", "DELETE"]


async def test_pure_posts_are_retried() -> None:
    seen: list[httpx.Request] = []
    transport = scripted(503, httpx.ReadTimeout("slow"), seen=seen)
    async with AsyncCatalogClient("http://t", transport=transport, retries=NO_WAIT) as c:
        report = await c.validate("kind: x")
    assert report.valid is False  # the mock's body has no "valid"
    assert len(seen) == 3
    assert seen[0].headers["content-type"] == "application/yaml"


async def test_an_unreachable_server_is_service_unavailable_with_the_cause() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there: a real refused connection
    async with AsyncCatalogClient(url, retries=RetryPolicy(retries=2, initial_delay=0.0, max_delay=0.0)) as c:
        with pytest.raises(ServiceUnavailable, match="unreachable: ConnectError") as unreachable:
            await c.status()
    assert isinstance(unreachable.value.__cause__, httpx.ConnectError)
    assert unreachable.value.details["attempts"] == 3


async def test_a_success_with_an_unexpected_body_is_a_remote_error() -> None:
    seen: list[httpx.Request] = []
    async with AsyncCatalogClient("http://t", transport=scripted(seen=seen)) as c:
        with pytest.raises(RemoteError, match="unexpected answer to GET /api/v1/resources/x/latest") as bad:
            await c.latest("x")
    assert bad.value.remote_code == "INVALID_RESPONSE"
    assert isinstance(bad.value.__cause__, KeyError)


async def test_headers_sent(catalog: Catalog) -> None:
    seen: list[httpx.Request] = []
    token: Callable[[], str] = lambda: "abc"  # noqa: E731
    async with AsyncCatalogClient(
        "http://t/base/", transport=scripted(seen=seen), token=token, user_agent="orchestrator/1.0"
    ) as c:
        await c.status()
    (request,) = seen
    assert request.url.path == "/base/api/v1/status"
    assert request.headers["authorization"] == "Bearer abc"
    assert request.headers["user-agent"] == "orchestrator/1.0"
    assert request.headers["accept"] == "application/json"


async def test_names_and_versions_are_path_encoded(catalog: Catalog, client: AsyncCatalogClient) -> None:
    await publish(catalog, "build-meta", "1.0.0-rc.1")
    resource = await client.get_resource("build-meta", "1.0.0-rc.1")
    assert resource.version == "1.0.0-rc.1"
    # "+" is encoded, not read as a space: the (unpublishable) build version is simply not there.
    with pytest.raises(VersionNotFound):
        await client.get_resource("build-meta", "1.0.0+build.7")
    with pytest.raises(InvalidRequest, match="must not be empty"):
        await client.get_resource("")


async def test_diff_returns_the_compat_report(client: AsyncCatalogClient) -> None:
    report = await client.diff("gcp-cloudsql-postgres", to_version="2.0.0")
    assert isinstance(report, CompatReport)
    assert (report.old_version, report.new_version) == ("1.0.0", "2.0.0")
    assert report.declared is Bump.MAJOR
    assert [c.rule for c in report.changes] == ["OPTIONAL_INPUT_ADDED"]
    with pytest.raises(VersionNotFound):
        await client.diff("gcp-cloudsql-postgres", "1.5.0")


async def test_a_version_past_its_sunset_says_so(client: AsyncCatalogClient, catalog: Catalog) -> None:
    yesterday = (utcnow() - timedelta(days=1)).date()
    await catalog.deprecate(
        "aws-rds-mysql", "1.2.0", Deprecation(message="moving to 2.x", sunset=yesterday), source=API_SOURCE
    )
    assert (await client.latest("aws-rds-mysql")).version == "1.1.0"
    with pytest.warns(CatalogDeprecationWarning, match="1.2.0 is deprecated and past its sunset date"):
        resource = await client.get_resource("aws-rds-mysql", "1.2.0")
    assert resource.sunset
    versions = await client.versions("aws-rds-mysql")
    assert [(v.version, v.sunset) for v in versions] == [("1.2.0", True), ("1.1.0", False), ("1.0.0", False)]
