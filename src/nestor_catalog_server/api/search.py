"""Discovery: ranked search and facet counts over the latest versions."""

from __future__ import annotations

import json
from typing import Annotated, Any

from litestar import Controller, Request
from litestar.params import QueryParameter

from nestor_catalog_core import InvalidRequest
from nestor_catalog_server.api import schemas
from nestor_catalog_server.api._request import raw_header
from nestor_catalog_server.api._response import RawResponse, json_response, not_modified
from nestor_catalog_server.api.caching import NO_CACHE, etag_matches, revision_etag
from nestor_catalog_server.api.resources import (
    Cursor,
    FiltersParam,
    Limit,
    WithFacets,
    filtered_get,
    page_answer,
)
from nestor_catalog_server.state import AppStateParam

__all__ = ["SearchController"]


class SearchController(Controller):
    """``/api/v1/search`` and ``/api/v1/facets``."""

    path = "/api/v1"
    tags = ["discovery"]

    @filtered_get(
        "/search",
        summary="Ranked search: exact name > name prefix > name token > other fields",
        description=(
            "`{query, items, total, next_cursor, revision}`: the latest version of every name where each word "
            "of `q` (required, else 400) matches a token or a token's prefix, best first (ties by name), "
            "narrowed by the list's filters. Pages, `facets` and the revision ETag (304 on `If-None-Match`) "
            "work as in `GET /api/v1/resources`."
        ),
        body=schemas.SearchPage,
    )
    def search(
        self,
        request: Request[Any, Any, Any],
        filters: FiltersParam,
        q: Annotated[str | None, QueryParameter(description="The words to look for (required).")] = None,
        limit: Limit = 20,
        cursor: Cursor = None,
        facets: WithFacets = False,
    ) -> RawResponse:
        if q is None or not q.strip():
            raise InvalidRequest("q is required: /api/v1/search?q=mysql", details={"parameter": "q"})
        return page_answer(
            request, lambda catalog: catalog.search(q, filters, limit=limit, cursor=cursor, facets=facets), query=q
        )

    @filtered_get(
        "/facets",
        summary="Counts per provider, category, resource_type and engine over the filtered resources",
        description=(
            "`{total, facets, revision}`: how many names (their latest versions) match the list's filters, "
            "and the counts per value of provider, category, resource_type and engine among them. ETag: the "
            "catalog revision (304 on `If-None-Match`)."
        ),
        body=schemas.FacetsBody,
        pages=False,
    )
    def facets(self, request: Request[Any, Any, Any], app_state: AppStateParam, filters: FiltersParam) -> RawResponse:
        catalog = app_state.catalog
        revision = catalog.revision
        etag = revision_etag(revision)
        if etag_matches(raw_header(request, b"if-none-match"), etag):
            return not_modified({"ETag": etag, "Cache-Control": NO_CACHE})
        counts = catalog.facets(filters)
        total = catalog.list_latest(filters, limit=1).total
        body = {"total": total, "facets": counts, "revision": revision}
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        return json_response(content, {"ETag": etag, "Cache-Control": NO_CACHE})
