"""A bounded LRU of immutable responses, revalidated with ``If-None-Match``.

Exact versions (``/resources/{name}/{version}``) and their inputs schemas never change their
definition, so the client keeps their bytes and ETag and asks the server only whether they
are still current: a ``304`` costs no body and no parsing.

The ETag is the definition's digest, which a deprecation or a withdrawal does not change,
while the body's ``status`` block does. So a ``304`` is trusted only when its lifecycle
headers (``Deprecation``, ``Sunset``, ``Link``, ``Warning``, ``Cache-Control``) equal the cached
ones; otherwise the client fetches the version in full. A change of only the deprecation
*message* shows in no header: it reaches a cached copy through the lifecycle events a
subscription of the same client sees (they evict it), or ``ETagCache.clear()``.
The cache is shared by every thread using one client, hence the lock.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import httpx

__all__ = ["CachedResponse", "ETagCache"]

#: Headers that change with a version's status while its ETag (the digest) stays the same.
_LIFECYCLE_HEADERS = ("deprecation", "sunset", "link", "warning", "cache-control")

#: Response headers worth replaying from the cache (the rest describe the transfer).
_KEPT_HEADERS = (
    "content-type",
    "etag",
    "deprecation",
    "sunset",
    "link",
    "warning",
    "x-resource-version",
    "content-location",
    "cache-control",
)


@dataclass(frozen=True, slots=True)
class CachedResponse:
    """A stored answer. ``parsed`` keeps what parsing its body gave (immutable core models),
    so a ``304`` costs neither the body nor the parsing."""

    etag: str
    content: bytes
    headers: tuple[tuple[str, str], ...]
    parsed: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, response: httpx.Response) -> CachedResponse | None:
        etag = response.headers.get("etag")
        if not etag:
            return None
        headers = tuple((k, v) for k in _KEPT_HEADERS for v in response.headers.get_list(k))
        return cls(etag=etag, content=response.content, headers=headers)

    def same_lifecycle(self, revalidated: httpx.Response) -> bool:
        """Whether a ``304`` describes the status the cached body has."""
        cached = {key: [v for k, v in self.headers if k == key] for key in _LIFECYCLE_HEADERS}
        return all(revalidated.headers.get_list(key) == cached[key] for key in _LIFECYCLE_HEADERS)

    def as_response(self, request: httpx.Request, revalidated: httpx.Response | None = None) -> httpx.Response:
        """The cached answer to ``request``; headers of a ``304`` (``revalidated``) win, as
        RFC 9111 says a 304 updates the stored header fields."""
        headers = list(self.headers)
        if revalidated is not None:
            fresh = [(k, v) for k in _KEPT_HEADERS for v in revalidated.headers.get_list(k)]
            renewed = {k for k, _ in fresh}
            headers = [(k, v) for k, v in headers if k not in renewed] + fresh
        return httpx.Response(200, headers=headers, content=self.content, request=request)


class ETagCache:
    """Least-recently-used entries keyed by URL, at most ``max_entries`` of them."""

    def __init__(self, max_entries: int = 1024) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        self.max_entries = max_entries
        self._entries: OrderedDict[str, CachedResponse] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> CachedResponse | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: str, entry: CachedResponse) -> None:
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def record(self, *, hit: bool) -> None:
        with self._lock:
            if hit:
                self.hits += 1
            else:
                self.misses += 1

    def discard(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def discard_prefix(self, prefix: str) -> int:
        """Drop every entry whose key starts with ``prefix``; returns how many."""
        with self._lock:
            keys = [key for key in self._entries if key.startswith(prefix)]
            for key in keys:
                del self._entries[key]
            return len(keys)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
