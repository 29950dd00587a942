"""Resource reads: lists, filters, pages, latest, constraints, exact versions, version lists,
input schemas and input validation, against the examples."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

from nestor_catalog_core import Catalog, Source, SourceKind
from nestor_catalog_core.models import parse_time
from tests.server.api.conftest import Client


def names(body: dict[str, object]) -> list[str]:
    items = body["items"]
    assert isinstance(items, list)
    return [item["metadata"]["name"] for item in items]


async def test_list_is_the_latest_version_of_every_name_sorted(client: Client, catalog: Catalog) -> None:
    response = await client.get("/api/v1/resources")
    assert response.status_code == 200
    body = response.json()
    assert names(body) == sorted(names(body))
    assert body["total"] == len(catalog.names()) == len(body["items"])
    assert body["revision"] == catalog.revision
    assert body["next_cursor"] is None
    assert "facets" not in body
    mysql = next(item for item in body["items"] if item["metadata"]["name"] == "aws-rds-mysql")
    assert mysql["metadata"]["version"] == "2.0.0"
    assert set(mysql["status"]) >= {"digest", "published_at", "source", "deprecated", "withdrawn"}
    assert mysql["status"]["source"] == {
        "kind": "git",
        "repository": "examples",
        "path": "aws-rds-mysql-2.0.0.yaml",
        "commit": "a" * 40,
    }


async def test_list_items_are_the_cached_bytes_of_each_version(client: Client, catalog: Catalog) -> None:
    response = await client.get("/api/v1/resources", params={"provider": "gcp"})
    raw = response.content
    for item in response.json()["items"]:
        entry = catalog.entry(item["metadata"]["name"], item["metadata"]["version"])
        assert entry.body() in raw


async def test_spec_filters_by_provider_and_category(client: Client) -> None:
    aws = (await client.get("/api/v1/resources?provider=aws")).json()
    assert aws["items"]
    assert {item["metadata"]["provider"] for item in aws["items"]} == {"aws"}
    databases = (await client.get("/api/v1/resources?category=database")).json()
    assert {item["metadata"]["category"] for item in databases["items"]} == {"database"}
    assert "aws-rds-mysql" in names(databases)


async def test_other_filters_combine(client: Client) -> None:
    body = (await client.get("/api/v1/resources", params={"provider": "kubernetes", "resource_type": "redis"})).json()
    assert names(body) == ["kubernetes-redis"]
    engine = (await client.get("/api/v1/resources", params={"engine": "helm"})).json()
    assert engine["items"]
    assert all("helm" in item["spec"]["supported_engines"] for item in engine["items"])
    deprecated = (await client.get("/api/v1/resources", params={"deprecated": "true"})).json()
    assert all(item["status"]["deprecated"] for item in deprecated["items"])
    maintainer = (await client.get("/api/v1/resources", params={"maintainer": "platform-team@company.com"})).json()
    assert "kubernetes-redis" in names(maintainer)


async def test_pages_follow_next_cursor_and_link_header(client: Client, catalog: Catalog) -> None:
    seen: list[str] = []
    response = await client.get("/api/v1/resources", params={"limit": 5, "provider": "aws"})
    while True:
        body = response.json()
        seen.extend(names(body))
        if body["next_cursor"] is None:
            assert "link" not in response.headers
            break
        link = response.headers["link"]
        assert link.endswith('>; rel="next"')
        target = link[1 : link.index(">")]
        query = parse_qs(urlsplit(target).query)
        assert query == {"limit": ["5"], "provider": ["aws"], "cursor": [body["next_cursor"]]}
        response = await client.get(target)
    assert seen == sorted(
        name for name in catalog.names() if catalog.latest(name).definition.metadata.provider == "aws"
    )


async def test_facets_on_request(client: Client) -> None:
    body = (await client.get("/api/v1/resources", params={"facets": "true", "limit": 1})).json()
    assert set(body["facets"]) == {"provider", "category", "resource_type", "engine"}
    assert body["facets"]["provider"]["aws"] >= 5
    assert sum(body["facets"]["provider"].values()) == body["total"]


async def test_latest_and_its_headers(client: Client, catalog: Catalog) -> None:
    response = await client.get("/api/v1/resources/aws-rds-mysql")
    assert response.status_code == 200
    entry = catalog.entry("aws-rds-mysql", "2.0.0")
    assert response.content == entry.body()
    assert response.headers["content-type"] == "application/json"
    assert response.headers["etag"] == f'"{entry.digest}"'
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["content-location"] == "/api/v1/resources/aws-rds-mysql/2.0.0"
    assert response.headers["x-resource-version"] == "2.0.0"
    latest = await client.get("/api/v1/resources/aws-rds-mysql/latest")
    assert latest.content == response.content
    assert latest.headers["etag"] == response.headers["etag"]


async def test_constraint_picks_the_highest_match(client: Client) -> None:
    response = await client.get("/api/v1/resources/aws-rds-mysql", params={"constraint": "^1.0"})
    assert response.status_code == 200
    assert response.json()["metadata"]["version"] == "1.2.0"
    assert response.headers["x-resource-version"] == "1.2.0"
    tilde = await client.get("/api/v1/resources/aws-rds-mysql", params={"constraint": "~> 1.1.0"})
    assert tilde.json()["metadata"]["version"] == "1.1.0"
    ranged = await client.get("/api/v1/resources/aws-rds-mysql", params={"constraint": ">=1.0.0, <1.2.0"})
    assert ranged.json()["metadata"]["version"] == "1.1.0"


async def test_constraint_matching_nothing_is_404_with_the_available_versions(client: Client) -> None:
    response = await client.get("/api/v1/resources/aws-rds-mysql", params={"constraint": "^3"})
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "NO_MATCHING_VERSION"
    assert error["details"]["constraint"]
    assert error["details"]["available"] == ["1.0.0", "1.1.0", "1.2.0", "2.0.0"]


async def test_unparsable_constraint_is_400_pointing_at_the_token(client: Client) -> None:
    response = await client.get("/api/v1/resources/aws-rds-mysql", params={"constraint": "^1.x.y.z"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "INVALID_CONSTRAINT"
    assert error["details"]["constraint"] == "^1.x.y.z"
    assert {"token", "reason", "position"} <= set(error["details"])


async def test_unknown_name_is_resource_not_found(client: Client) -> None:
    for path in ("/api/v1/resources/no-such", "/api/v1/resources/no-such/latest", "/api/v1/resources/no-such/versions"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "RESOURCE_NOT_FOUND"
        assert response.json()["error"]["details"]["resource_name"] == "no-such"


async def test_exact_version_body_and_immutable_caching(client: Client, catalog: Catalog) -> None:
    response = await client.get("/api/v1/resources/aws-rds-mysql/1.1.0")
    assert response.status_code == 200
    entry = catalog.entry("aws-rds-mysql", "1.1.0")
    assert response.content == entry.body()
    assert response.headers["etag"] == f'"{entry.digest}"'
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "deprecation" not in response.headers
    assert "warning" not in response.headers


async def test_missing_exact_version_is_the_specs_not_found(client: Client) -> None:
    response = await client.get("/api/v1/resources/aws-rds-mysql/9.9.9")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "RESOURCE_NOT_FOUND"
    assert error["message"] == "Resource not found"
    assert error["service"] == "catalog"
    assert error["details"] == {"resource_name": "aws-rds-mysql", "version": "9.9.9"}


async def test_malformed_version_is_400(client: Client) -> None:
    response = await client.get("/api/v1/resources/aws-rds-mysql/1.2")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_VERSION"


async def test_deprecated_version_carries_lifecycle_headers(client: Client) -> None:
    response = await client.get("/api/v1/resources/kubernetes-redis/1.0.0")
    assert response.status_code == 200
    assert response.json()["status"]["deprecated"] is True
    # RFC 9745: when it was deprecated, as @<epoch seconds>; it was published deprecated
    published = parse_time(response.json()["status"]["published_at"])
    assert response.headers["deprecation"] == f"@{int(published.timestamp())}"
    assert response.headers["sunset"] == "Wed, 30 Jun 2027 00:00:00 GMT"
    assert response.json()["status"]["sunset"] is False
    assert "warning" not in response.headers
    assert response.headers["link"] == '</api/v1/resources/kubernetes-redis?constraint=%5E2>; rel="successor-version"'


async def test_withdrawn_version_is_served_exactly_with_a_warning(client: Client, catalog: Catalog) -> None:
    await catalog.withdraw("aws-rds-mysql", "2.0.0", source=Source(kind=SourceKind.GIT, repository="examples"))
    response = await client.get("/api/v1/resources/aws-rds-mysql/2.0.0")
    assert response.status_code == 200
    assert response.json()["status"]["withdrawn"] is True
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["warning"] == '299 - "withdrawn: excluded from latest and constraint resolution"'
    latest = await client.get("/api/v1/resources/aws-rds-mysql")
    assert latest.json()["metadata"]["version"] == "1.2.0"


async def test_versions_newest_first_with_flags(client: Client, catalog: Catalog) -> None:
    await catalog.withdraw("aws-rds-mysql", "1.0.0", source=Source(kind=SourceKind.GIT, repository="examples"))
    response = await client.get("/api/v1/resources/aws-rds-mysql/versions")
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "aws-rds-mysql"
    assert body["latest"] == "2.0.0"
    assert [v["version"] for v in body["versions"]] == ["2.0.0", "1.2.0", "1.1.0", "1.0.0"]
    oldest = body["versions"][-1]
    assert oldest["withdrawn"] is True
    assert set(oldest) == {
        "version",
        "digest",
        "published_at",
        "deprecated",
        "withdrawn",
        "sunset",
        "prerelease",
        "source",
    }
    assert oldest["digest"] == catalog.entry("aws-rds-mysql", "1.0.0").digest
    assert response.headers["etag"] == f'W/"r{catalog.revision}"'


async def test_versions_of_a_name_with_every_version_withdrawn(client: Client, catalog: Catalog) -> None:
    source = Source(kind=SourceKind.GIT, repository="examples")
    await catalog.withdraw("aws-sqs-queue", "1.0.0", source=source)
    body = (await client.get("/api/v1/resources/aws-sqs-queue/versions")).json()
    assert body["latest"] is None
    assert [v["withdrawn"] for v in body["versions"]] == [True]


async def test_inputs_schema_of_a_version(client: Client, catalog: Catalog) -> None:
    response = await client.get("/api/v1/resources/aws-rds-mysql/1.2.0/schema")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/schema+json"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["etag"] == f'"{catalog.entry("aws-rds-mysql", "1.2.0").digest}"'
    schema = response.json()
    assert schema["type"] == "object"
    assert {"instance_class", "allocated_storage"} <= set(schema["required"])


async def test_inputs_validate_applies_defaults(client: Client) -> None:
    response = await client.post(
        "/api/v1/resources/aws-rds-mysql/1.2.0/inputs:validate",
        json={"instance_class": "db.t3.micro", "allocated_storage": 20},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is True
    assert body["findings"] == []
    assert body["values"]["backup_retention_period"] == 7


async def test_invalid_inputs_are_a_normal_answer(client: Client) -> None:
    response = await client.post(
        "/api/v1/resources/aws-rds-mysql/1.2.0/inputs:validate", json={"instance_class": "huge", "allocated_storage": 5}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False
    rules = {finding["rule"] for finding in body["findings"]}
    assert {"INPUT_PATTERN", "INPUT_RANGE"} <= rules
    fields = {finding["field"] for finding in body["findings"]}
    assert {"instance_class", "allocated_storage"} <= fields


async def test_inputs_validate_needs_a_json_object(client: Client) -> None:
    for content in (b"[1, 2]", b"not json", b""):
        response = await client.post(
            "/api/v1/resources/aws-rds-mysql/1.2.0/inputs:validate",
            content=content,
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 400, content
        assert response.json()["error"]["code"] == "INVALID_REQUEST"


async def test_head_answers_like_get_without_a_body(client: Client) -> None:
    get = await client.get("/api/v1/resources/aws-rds-mysql/1.0.0")
    head = await client.head("/api/v1/resources/aws-rds-mysql/1.0.0")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["etag"] == get.headers["etag"]
    assert head.headers["content-length"] == str(len(get.content))


async def test_bodies_are_json_the_client_can_parse(client: Client) -> None:
    response = await client.get("/api/v1/search", params={"q": "redis", "facets": "true"})
    assert json.loads(response.content) == response.json()


async def test_a_repeated_page_is_kept_until_the_next_event(client: Client, catalog: Catalog) -> None:
    """List and search pages are answered from the kept bytes of the current revision: the same
    body and headers (each response with its own request id), a new page after any event."""
    from tests.server.api.builders import as_yaml, definition

    queries = [
        ("/api/v1/resources", {"provider": "aws", "limit": "2"}),
        ("/api/v1/search", {"q": "queue", "limit": "50"}),
    ]
    before = {}
    for path, params in queries:
        first, second = await client.get(path, params=params), await client.get(path, params=params)
        assert first.content == second.content
        assert first.headers.get("link") == second.headers.get("link")
        assert first.headers["etag"] == second.headers["etag"]
        assert len(first.headers.get_list("x-request-id")) == len(second.headers.get_list("x-request-id")) == 1
        assert first.headers["x-request-id"] != second.headers["x-request-id"]
        before[path] = first.json()
    other = await client.get("/api/v1/resources", params={"provider": "aws", "limit": "3"})
    assert len(other.json()["items"]) == 3  # another query string is another page
    source = Source(kind=SourceKind.GIT, repository="examples", path="aaa.yaml", commit="b" * 40)
    await catalog.publish_bytes(as_yaml(definition("aaa-queue")), file="aaa.yaml", source=source)
    listed = (await client.get("/api/v1/resources", params={"provider": "aws", "limit": "2"})).json()
    assert listed["revision"] == catalog.revision > before["/api/v1/resources"]["revision"]
    assert names(listed)[0] == "aaa-queue"
    found = (await client.get("/api/v1/search", params={"q": "queue", "limit": "50"})).json()
    assert "aaa-queue" in names(found)
    assert found["total"] == before["/api/v1/search"]["total"] + 1
