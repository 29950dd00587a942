"""``CatalogClient`` (blocking) against the real app over loopback, served from a thread of its
own: the same behaviour as the async client's tests, through the sync driver (``time.sleep``
between retries, ``httpx.Client``, the sync ``Subscription``)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from nestor_catalog_client import (
    CatalogClient,
    CatalogDeprecationWarning,
    FacetCounts,
    ResourcePage,
    SearchResult,
    ValidationReport,
)
from nestor_catalog_core import (
    AuditPage,
    Bump,
    CompatReport,
    Event,
    InputsResult,
    InvalidRequest,
    ListFilters,
    NoMatchingVersion,
    Resource,
    ServiceUnavailable,
    Severity,
    SourceNotFound,
    StreamReset,
)
from tests.client.conftest import NO_WAIT, SEEDED, seed
from tests.client.helpers import ThreadedServer, definition_yaml, deprecate, free_port, publish

ALL_NAMES = sorted(name for name, *_ in SEEDED)


@pytest.fixture
def server() -> Iterator[ThreadedServer]:
    with ThreadedServer(seed) as server:
        yield server


@pytest.fixture
def client(server: ThreadedServer) -> Iterator[CatalogClient]:
    with CatalogClient(server.url, retries=NO_WAIT) as client:
        yield client


def test_reads_return_core_models(client: CatalogClient) -> None:
    exact = client.get_resource("aws-rds-mysql", "1.1.0")
    assert isinstance(exact, Resource)
    assert (exact.name, exact.version) == ("aws-rds-mysql", "1.1.0")
    assert client.get_resource("aws-rds-mysql", constraint="~1.1").version == "1.1.0"
    assert client.get_resource("aws-rds-mysql").version == "1.2.0"
    assert client.latest("gcp-cloudsql-postgres").version == "2.0.0"
    assert [v.version for v in client.versions("aws-rds-mysql")] == ["1.2.0", "1.1.0", "1.0.0"]
    with pytest.raises(InvalidRequest, match="either an exact version or a constraint"):
        client.get_resource("aws-rds-mysql", "1.0.0", constraint="^1")


def test_lists_follow_cursors_and_pages(client: CatalogClient, server: ThreadedServer) -> None:
    assert [r.name for r in client.list_resources(page_size=2)] == ALL_NAMES
    assert [r.name for r in client.list_resources(provider="aws", page_size=1)] == ["aws-rds-mysql", "aws-s3-bucket"]
    aws = ListFilters(provider="aws")
    assert [r.name for r in client.list_resources(aws, page_size=1)] == ["aws-rds-mysql", "aws-s3-bucket"]
    assert [r.name for r in client.list_page(aws, category="storage").items] == ["aws-s3-bucket"]
    assert client.facets(aws).total == 2
    hits = client.search("database", aws).items
    assert [r.name for r in hits] == ["aws-rds-mysql"]
    page = client.list_page(limit=2, facets=True)
    assert isinstance(page, ResourcePage)
    assert page.total == len(ALL_NAMES)
    assert page.revision == server.catalog.revision
    assert page.facets is not None
    assert page.facets["provider"]["aws"] == 2
    assert [r.name for r in client.list_page(limit=10, cursor=page.next_cursor).items] == ALL_NAMES[2:]
    with pytest.raises(InvalidRequest, match="unknown filter"):
        client.list_page(colour="red")  # type: ignore[call-arg]


def test_search_facets_schemas_and_validation(client: CatalogClient) -> None:
    result = client.search("mysql", limit=5)
    assert isinstance(result, SearchResult)
    assert result.items[0].name == "aws-rds-mysql"
    facets = client.facets(provider="aws")
    assert isinstance(facets, FacetCounts)
    assert facets.facets["category"] == {"database": 1, "storage": 1}
    assert client.inputs_schema("aws-rds-mysql", "1.2.0")["required"] == ["size"]
    assert "metadata" in client.definition_schema()["properties"]
    report = client.validate(definition_yaml("Bad_Name"))
    assert isinstance(report, ValidationReport)
    assert not report.valid
    assert all(f.line is not None for f in report.errors)
    inputs = client.validate_inputs("aws-rds-mysql", "1.1.0", {"extra_0": -1})
    assert isinstance(inputs, InputsResult)
    assert {f.field for f in inputs.findings if f.severity is Severity.ERROR} >= {"size", "extra_0"}


def test_operations_export_and_get_json(client: CatalogClient, server: ThreadedServer) -> None:
    assert client.status()["revision"] == server.catalog.revision
    assert client.health() == {"status": "ok"}
    assert client.ready()["status"] == "ready"
    audit = client.audit(resource="aws-rds-mysql", limit=2)
    assert isinstance(audit, AuditPage)
    assert audit.records[0].version == "1.2.0"
    revision, bodies = client.export()
    assert revision == server.catalog.revision
    assert len(bodies) == sum(len(versions) for _, versions, *_ in SEEDED)
    assert client.get_json("/api/v1/resources/azure-vnet/versions")["versions"][0]["version"] == "1.0.0"
    with pytest.raises(SourceNotFound, match="no-such-repo"):
        client.get_json("/api/v1/sync/no-such-repo")


def test_writes_round_trip(client: CatalogClient) -> None:
    (created,) = client.publish(definition_yaml("written-by-sync-client"))
    assert created.outcome == "created"
    assert client.deprecate("written-by-sync-client", "1.0.0", "use v2").deprecated
    assert not client.undeprecate("written-by-sync-client", "1.0.0").deprecated
    assert client.withdraw("written-by-sync-client", "1.0.0").withdrawn
    assert not client.restore("written-by-sync-client", "1.0.0").withdrawn


def test_deprecations_warn_once_at_the_callers_line(client: CatalogClient, server: ThreadedServer) -> None:
    server.run(deprecate(server.catalog, "aws-rds-mysql", "1.0.0", "moving to 2.x"))
    with pytest.warns(CatalogDeprecationWarning, match="moving to 2.x") as seen:
        client.get_resource("aws-rds-mysql", "1.0.0")
    assert [Path(w.filename).name for w in seen] == [Path(__file__).name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert client.get_resource("aws-rds-mysql", "1.0.0").deprecated


def test_the_etag_cache_revalidates_exact_versions(client: CatalogClient) -> None:
    assert client.cache is not None
    first = client.get_resource("aws-rds-mysql", "1.1.0")
    assert client.get_resource("aws-rds-mysql", "1.1.0") == first
    assert (client.cache.hits, client.cache.misses) == (1, 1)


def test_subscription_replays_then_follows(client: CatalogClient, server: ThreadedServer) -> None:
    with client.subscribe(since=0, heartbeat_timeout=10) as replay:
        replayed = [next(replay) for _ in range(server.catalog.revision)]
    assert [item.sequence for item in replayed] == list(range(1, server.catalog.revision + 1))
    assert not any(isinstance(item, StreamReset) for item in replayed)
    with client.subscribe(provider="aws", since=server.catalog.revision, heartbeat_timeout=10) as stream:
        server.run(publish(server.catalog, "aws-new-queue", provider="aws"))
        server.run(publish(server.catalog, "gcp-new-queue", provider="gcp"))
        server.run(publish(server.catalog, "aws-other-queue", provider="aws"))
        names = [event.name for event in (next(stream), next(stream)) if isinstance(event, Event)]
        assert names == ["aws-new-queue", "aws-other-queue"]
        assert stream.last_event_id == server.catalog.revision
        assert stream.connected


# --------------------------------------------------------------------------------------------- retries


def scripted(*answers: int | httpx.TransportError, seen: list[httpx.Request]) -> httpx.MockTransport:
    """Answers in order (a status with an envelope, or a transport error), then 200 with a
    status body: protocol edge cases a real server does not produce on demand."""
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0) if queue else 200
        if isinstance(answer, httpx.TransportError):
            raise answer
        if answer == 200:
            return httpx.Response(200, json={"revision": 3})
        return httpx.Response(answer, json={"error": {"code": "SERVICE_UNAVAILABLE", "message": "busy", "details": {}}})

    return httpx.MockTransport(handle)


def test_transient_answers_are_retried_and_writes_are_not() -> None:
    seen: list[httpx.Request] = []
    with CatalogClient("http://t", transport=scripted(503, httpx.ReadTimeout("slow"), seen=seen), retries=NO_WAIT) as c:
        assert c.status()["revision"] == 3
    assert len(seen) == 3
    seen.clear()
    with (
        CatalogClient("http://t", transport=scripted(503, 503, seen=seen), retries=NO_WAIT) as c,
        pytest.raises(ServiceUnavailable, match="busy"),
    ):
        c.publish(definition_yaml("x-y"))
    assert [r.method for r in seen] == ["POST"]


def test_an_unreachable_server_is_service_unavailable() -> None:
    with (
        CatalogClient(f"http://127.0.0.1:{free_port()}", retries=NO_WAIT) as c,
        pytest.raises(ServiceUnavailable, match="unreachable: ConnectError") as unreachable,
    ):
        c.status()
    assert unreachable.value.details["attempts"] == 3


def test_headers_carry_token_and_user_agent() -> None:
    seen: list[httpx.Request] = []
    with CatalogClient("http://t", transport=scripted(seen=seen), token=lambda: "rotating", user_agent="me/1") as c:
        c.status()
    assert seen[0].headers["authorization"] == "Bearer rotating"
    assert seen[0].headers["user-agent"] == "me/1"


def test_diff_returns_the_compat_report(client: CatalogClient) -> None:
    report = client.diff("aws-rds-mysql", "1.0.0", "1.1.0")
    assert isinstance(report, CompatReport)
    assert (report.old_version, report.new_version, report.declared, report.required) == (
        "1.0.0",
        "1.1.0",
        Bump.MINOR,
        Bump.MINOR,
    )
    assert [(c.rule, c.field, c.new) for c in report.changes] == [
        ("OPTIONAL_INPUT_ADDED", "spec.optional_inputs[0]", "extra_0")
    ]
    assert report.ok
    latest = client.diff("aws-rds-mysql")
    assert (latest.old_version, latest.new_version) == ("1.1.0", "1.2.0")
    with pytest.raises(NoMatchingVersion, match="first version"):
        client.diff("aws-s3-bucket")
