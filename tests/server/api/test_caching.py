"""HTTP caching: ETags, If-None-Match -> 304 and Cache-Control, per kind of answer."""

from __future__ import annotations

import json

import pytest

from nestor_catalog_core import Catalog, Source, SourceKind
from nestor_catalog_server.api.caching import etag_matches, successor_path
from tests.server.api.conftest import Client

EXACT = "/api/v1/resources/aws-rds-mysql/1.2.0"


@pytest.mark.parametrize(
    ("header", "etag", "matches"),
    [
        (None, '"a"', False),
        ("", '"a"', False),
        ('"a"', '"a"', True),
        ('"b", "a"', '"a"', True),
        ('W/"a"', '"a"', True),
        ('"a"', 'W/"a"', True),
        ("*", '"anything"', True),
        ('"ab"', '"a"', False),
    ],
)
def test_if_none_match_uses_weak_comparison(header: str | None, etag: str, matches: bool) -> None:
    assert etag_matches(header, etag) is matches


@pytest.mark.parametrize(
    ("replacement", "path"),
    [
        ("2.0.0", "/api/v1/resources/kubernetes-redis/2.0.0"),
        ("kubernetes-redis@2.0.0", "/api/v1/resources/kubernetes-redis/2.0.0"),
        ("kubernetes-redis@^2", "/api/v1/resources/kubernetes-redis?constraint=%5E2"),
        ("other-redis", "/api/v1/resources/other-redis"),
    ],
)
def test_successor_links_follow_the_replacement_form(replacement: str, path: str) -> None:
    assert successor_path("kubernetes-redis", replacement) == path


async def test_exact_version_revalidates_to_304(client: Client) -> None:
    first = await client.get(EXACT)
    etag = first.headers["etag"]
    second = await client.get(EXACT, headers={"If-None-Match": etag})
    assert second.status_code == 304
    assert second.content == b""
    assert second.headers["etag"] == etag
    assert second.headers["cache-control"] == "public, max-age=31536000, immutable"
    other = await client.get(EXACT, headers={"If-None-Match": '"sha256:other"'})
    assert other.status_code == 200


async def test_latest_304_until_a_new_version_is_published(client: Client, catalog: Catalog) -> None:
    first = await client.get("/api/v1/resources/aws-s3-bucket")
    etag = first.headers["etag"]
    assert (await client.get("/api/v1/resources/aws-s3-bucket", headers={"If-None-Match": etag})).status_code == 304
    document = first.json()
    document.pop("status")
    document["metadata"]["version"] = "1.3.1"
    document["metadata"]["description"] = "A patch release"
    source = Source(kind=SourceKind.GIT, repository="examples", path="aws-s3-bucket-1.3.1.yaml")
    await catalog.publish_bytes(json.dumps(document).encode(), source=source)
    after = await client.get("/api/v1/resources/aws-s3-bucket", headers={"If-None-Match": etag})
    assert after.status_code == 200
    assert after.headers["x-resource-version"] == "1.3.1"


async def test_list_etag_is_the_revision(client: Client, catalog: Catalog) -> None:
    first = await client.get("/api/v1/resources")
    assert first.headers["etag"] == f'W/"r{catalog.revision}"'
    assert first.headers["cache-control"] == "no-cache"
    cached = await client.get("/api/v1/resources", headers={"If-None-Match": first.headers["etag"]})
    assert cached.status_code == 304
    assert cached.headers["etag"] == first.headers["etag"]
    await catalog.withdraw("aws-vpc", "2.1.0", source=Source(kind=SourceKind.GIT, repository="examples"))
    changed = await client.get("/api/v1/resources", headers={"If-None-Match": first.headers["etag"]})
    assert changed.status_code == 200
    assert changed.headers["etag"] == f'W/"r{catalog.revision}"'


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/search?q=redis",
        "/api/v1/facets",
        "/api/v1/resources/aws-rds-mysql/versions",
        "/api/v1/resources/aws-rds-mysql/1.0.0/schema",
    ],
)
async def test_other_reads_revalidate(client: Client, path: str) -> None:
    first = await client.get(path)
    assert first.status_code == 200
    again = await client.get(path, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
