"""``PageCache``: the bytes of recent list and search pages, for the catalog's current revision.

A page of ``GET /api/v1/resources`` or ``/api/v1/search`` is a function of the read model's
revision, the path and the query string (its ``Link`` header is path-relative), so until the
next event the same request gets the same bytes. Profile of the filtered list under ``wrk``
(py-spy, 1,000 definitions): of the handler's time, building the ``Link`` header (the query
parsed again and re-encoded) was half and joining the page's body a quarter; the read model's
part was a slice of a kept selection. A hit answers a copy of the kept status line, headers
and body; Litestar still parses and checks the parameters first, so a bad request is refused
as before, and ``If-None-Match`` is checked before the cache.

Everything is dropped when the revision moves. The cache is bounded by count and bytes, and a
page over ``MAX_PAGE_BYTES`` (a page of up to 1,000 resources) is not kept.
"""

from __future__ import annotations

from typing import Final

from litestar.types import Scope

from nestor_catalog_server.api._response import RawResponse

__all__ = ["MAX_CACHED_BYTES", "MAX_PAGES", "MAX_PAGE_BYTES", "PageCache"]

MAX_PAGES: Final = 512
MAX_PAGE_BYTES: Final = 256 * 1024
MAX_CACHED_BYTES: Final = 16 * 1024 * 1024

_Key = tuple[str, bytes]


class PageCache:
    """Responses of list/search handlers by (path, query string), for one revision. Used from
    the event loop only (the handlers are synchronous there)."""

    __slots__ = ("_bytes", "_pages", "_revision")

    def __init__(self) -> None:
        self._revision = -1
        self._pages: dict[_Key, tuple[int, bytes, tuple[tuple[bytes, bytes], ...]]] = {}
        self._bytes = 0

    def get(self, revision: int, scope: Scope) -> RawResponse | None:
        if revision != self._revision:
            return None
        hit = self._pages.get((scope["path"], scope["query_string"]))
        if hit is None:
            return None
        status, body, headers = hit
        return RawResponse(body, list(headers), status)  # a fresh list: middleware appends to it

    def put(self, revision: int, scope: Scope, response: RawResponse) -> RawResponse:
        """Keep ``response`` (before it is sent) and return it."""
        if revision != self._revision:
            self._pages = {}
            self._bytes = 0
            self._revision = revision
        size = len(response.body)
        if size > MAX_PAGE_BYTES:
            return response
        if len(self._pages) >= MAX_PAGES or self._bytes + size > MAX_CACHED_BYTES:
            self._pages = {}
            self._bytes = 0
        self._pages[(scope["path"], scope["query_string"])] = (response.status, response.body, tuple(response.headers))
        self._bytes += size
        return response

    def __len__(self) -> int:
        return len(self._pages)
