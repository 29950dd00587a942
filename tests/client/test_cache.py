"""The ETag cache on its own: bounded LRU, eviction by prefix, lifecycle comparison of 304s."""

from __future__ import annotations

import httpx
import pytest

from nestor_catalog_client import ETagCache
from nestor_catalog_client._cache import CachedResponse

REQUEST = httpx.Request("GET", "http://catalog.test/api/v1/resources/a/1.0.0")


def cached(etag: str = '"sha256:a"', **headers: str) -> CachedResponse:
    response = httpx.Response(200, content=b"{}", headers={"ETag": etag, **headers}, request=REQUEST)
    entry = CachedResponse.of(response)
    assert entry is not None
    return entry


def test_least_recently_used_entries_go_first() -> None:
    cache = ETagCache(max_entries=2)
    cache.put("a", cached())
    cache.put("b", cached())
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("c", cached())
    assert cache.get("b") is None
    assert cache.get("a") is not None
    assert cache.get("c") is not None
    assert len(cache) == 2


def test_discard_by_key_and_prefix() -> None:
    cache = ETagCache()
    for key in ("/r/a/1.0.0", "/r/a/1.0.0/schema", "/r/a/1.1.0", "/r/b/1.0.0"):
        cache.put(key, cached())
    assert cache.discard_prefix("/r/a/1.0.0") == 2
    cache.discard("/r/b/1.0.0")
    assert [key for key in ("/r/a/1.0.0", "/r/a/1.1.0", "/r/b/1.0.0") if cache.get(key)] == ["/r/a/1.1.0"]
    cache.clear()
    assert len(cache) == 0


def test_a_response_without_an_etag_is_not_cached() -> None:
    assert CachedResponse.of(httpx.Response(200, content=b"{}", request=REQUEST)) is None


def test_304_lifecycle_comparison() -> None:
    entry = cached(**{"Cache-Control": "public, max-age=31536000, immutable"})
    same = httpx.Response(304, headers={"ETag": '"sha256:a"', "Cache-Control": "public, max-age=31536000, immutable"})
    deprecated = httpx.Response(
        304, headers={"Cache-Control": "public, max-age=31536000, immutable", "Deprecation": "true"}
    )
    withdrawn = httpx.Response(304, headers={"Cache-Control": "no-cache", "Warning": '299 - "withdrawn"'})
    assert entry.same_lifecycle(same)
    assert not entry.same_lifecycle(deprecated)
    assert not entry.same_lifecycle(withdrawn)


def test_a_revalidated_answer_takes_the_304s_headers() -> None:
    entry = cached(**{"Cache-Control": "no-cache", "Content-Type": "application/json"})
    fresh = httpx.Response(304, headers={"Cache-Control": "public, immutable"})
    answer = entry.as_response(REQUEST, fresh)
    assert answer.status_code == 200
    assert answer.content == b"{}"
    assert answer.headers["cache-control"] == "public, immutable"
    assert answer.headers["content-type"] == "application/json"


def test_max_entries_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        ETagCache(max_entries=0)
