"""Reading resources: lists, latest, constraints, exact versions, version lists, input schemas
and input validation.

Bodies are the read model's cached JSON bytes (``CatalogEntry.body()``), written as they are;
pages are those bytes joined. Every read is a dict lookup on the in-memory model, so handlers
are synchronous and run on the event loop. ``If-None-Match`` is checked before any body is
touched. The hottest reads (exact version, latest, constraint, list, and search) reach the
``AppState`` with ``app_state_of(request)`` instead of dependency injection and answer a
``RawResponse``: on the exact-version path those two choices are most of the difference to a
bare endpoint returning the same bytes (``benchmarks/bench_http.py``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final, get_type_hints

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency, Provide
from litestar.enums import ParamType
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.spec import OpenAPIType, Operation, Schema
from litestar.openapi.spec import Parameter as OpenAPIParameter
from litestar.params import FromPath, QueryParameter, SkipValidation
from litestar.types import Receive, Scope, Send

from nestor_catalog_core import (
    CatalogEntry,
    CatalogReader,
    InvalidVersion,
    ListFilters,
    NoMatchingVersion,
    Page,
    VersionNotFound,
    inputs_json_schema,
    validate_inputs,
)
from nestor_catalog_core.models import format_time, utcnow
from nestor_catalog_core.versions import is_version
from nestor_catalog_server.api import schemas
from nestor_catalog_server.api._request import json_object, next_link, raw_header, read_body
from nestor_catalog_server.api._response import RawResponse, json_response, not_modified
from nestor_catalog_server.api.caching import (
    NO_CACHE,
    entry_headers,
    etag_matches,
    revision_etag,
)
from nestor_catalog_server.api.publishing import PublishingRoutes
from nestor_catalog_server.config.catalog import limits as configured_limits
from nestor_catalog_server.state import AppStateParam, ReadThrough, app_state_of

__all__ = ["ResourcesController", "filtered_get", "kept_page", "page_body"]

JSON: Final = "application/json"
SCHEMA_JSON: Final = "application/schema+json"
_IF_NONE_MATCH: Final = b"if-none-match"

Limit = Annotated[int, QueryParameter(ge=1, le=1000, description="Page size (1..1000).")]
Cursor = Annotated[str | None, QueryParameter(description="The next_cursor of the previous page.")]
WithFacets = Annotated[bool, QueryParameter(description="true to include facet counts.")]


def provide_list_filters(request: Request[Any, Any, Any]) -> ListFilters:
    """The list filters of a request's query, parsed once for the list, search and facets routes
    (a repeated parameter counts with its last value, as Litestar reads the other parameters)."""
    return ListFilters.from_query(request.query_params)


def _filter_parameter(name: str, hint: Any) -> OpenAPIParameter:
    flag = hint == bool | None
    description = "true or false." if flag else "Exact match."
    kind = OpenAPIType.BOOLEAN if flag else OpenAPIType.STRING
    schema = Schema(description=description, one_of=[Schema(type=kind), Schema(type=OpenAPIType.NULL)])
    return OpenAPIParameter(name=name, param_in=ParamType.QUERY, schema=schema, description=description)


#: What ``provide_list_filters`` reads from the query: one parameter per ``ListFilters`` field.
_FILTER_PARAMETERS: Final = tuple(_filter_parameter(name, hint) for name, hint in get_type_hints(ListFilters).items())


@dataclass
class FilteredOperation(Operation):
    """The OpenAPI operation of a route taking ``FiltersParam``: the dependency reads the query
    itself (``ListFilters.from_query``), so its parameters are documented here, first."""

    def __post_init__(self) -> None:
        self.parameters = [*_FILTER_PARAMETERS, *(self.parameters or ())]


#: ``dependencies=`` of a route that takes ``filters: FiltersParam`` (with ``operation_class=FilteredOperation``).
LIST_FILTERS: Final = {"filters": Provide(provide_list_filters, sync_to_thread=False)}
#: The handler parameter type of that dependency (a named dependency, built, not validated).
FiltersParam = NamedDependency[SkipValidation[ListFilters]]


def page_body(page: Page, revision: int, *, query: str | None = None) -> bytes:
    """``{"items": [...], "total", "next_cursor", "revision", "facets"?}`` with the items' cached
    bytes spliced in (``query`` first for searches)."""
    tail: dict[str, Any] = {"total": page.total, "next_cursor": page.next_cursor, "revision": revision}
    if page.facets is not None:
        tail["facets"] = page.facets
    head = b'{"items":['
    if query is not None:
        head = b'{"query":' + json.dumps(query, ensure_ascii=False).encode() + b',"items":['
    # One join of every part: the body is copied once. Joining the items first and then
    # concatenating head and tail copied a page of 1,000 (2 MB) four times, and under granian
    # those fresh multi-megabyte buffers were most of the request (py-spy: page_body 45% of
    # the worker, nearly all of it on that line).
    parts = [head]
    for entry in page.items:
        parts.append(entry.body())
        parts.append(b",")
    if page.items:
        parts.pop()
    parts.append(b"],")
    parts.append(json.dumps(tail, separators=(",", ":")).encode()[1:])
    return b"".join(parts)


async def kept_page(request: Request[Any, Any, Any]) -> RawResponse | None:
    """``before_request`` of the list and search routes: the page kept for this revision, path and
    query string (``api._pages``), answered before Litestar parses the query and resolves the
    filters. Only answered requests are kept, so a hit was a valid request: it gets what the
    handler would answer, a 304 when ``If-None-Match`` holds the revision's ETag, else the kept
    bytes. A miss (None) runs the handler. Profile of ``GET /api/v1/search?q=mysql&limit=20``
    under ``wrk`` (py-spy, 10,000 definitions): with the page kept, parsing the five parameters
    and resolving the filters dependency was about a tenth of the worker's Python time, more
    than the handler and the cache lookup together."""
    app_state = app_state_of(request)
    revision = app_state.catalog.revision
    cached = app_state.pages.get(revision, request.scope)
    if cached is None:
        return None
    etag = revision_etag(revision)
    if etag_matches(raw_header(request, _IF_NONE_MATCH), etag):
        return not_modified({"ETag": etag, "Cache-Control": NO_CACHE})
    return cached


def filtered_get(path: str, *, summary: str, description: str, body: Any, pages: bool = True) -> HTTPRouteHandler:
    """The ``get`` of a route taking ``filters: FiltersParam`` (lists, searches, facets): on the
    event loop, with the filters dependency and its OpenAPI parameters, 304 and 400 answers and,
    for ``pages`` (list and search), ``kept_page`` in front."""
    return get(
        path,
        sync_to_thread=False,
        summary=summary,
        description=description,
        responses=schemas.responses(body, 304, 400),
        dependencies=LIST_FILTERS,
        before_request=kept_page if pages else None,
        operation_class=FilteredOperation,
    )


def page_answer(
    request: Request[Any, Any, Any], read: Callable[[CatalogReader], Page], *, query: str | None = None
) -> RawResponse:
    """The answer of a list or search page at the catalog's revision: a 304 when the client
    holds it, the page cache's copy for the same query, else ``read``'s page, joined from the
    cached bodies (``query`` first for searches) and kept in that cache."""
    app_state = app_state_of(request)
    catalog = app_state.catalog
    revision = catalog.revision
    etag = revision_etag(revision)
    headers = {"ETag": etag, "Cache-Control": NO_CACHE}
    if etag_matches(raw_header(request, _IF_NONE_MATCH), etag):
        return not_modified(headers)
    cached = app_state.pages.get(revision, request.scope)
    if cached is not None:
        return cached
    page = read(catalog)
    if page.next_cursor is not None:
        headers["Link"] = next_link(request, page.next_cursor)
    return app_state.pages.put(revision, request.scope, json_response(page_body(page, revision, query=query), headers))


def _exact_entry(catalog: CatalogReader, name: str, version: str) -> CatalogEntry:
    try:
        return catalog.entry(name, version)
    except VersionNotFound:
        if not is_version(version):
            raise InvalidVersion(
                f"{version!r} is not a version: expected a full SemVer 2.0.0 version like 1.2.3",
                details={"resource_name": name, "version": version},
            ) from None
        raise


def _digest_hex(digest: str) -> str:
    return digest.partition(":")[2] or digest


def _entry_response(request: Request[Any, Any, Any], entry: CatalogEntry, *, exact: bool) -> RawResponse:
    headers = entry_headers(entry, exact=exact)
    if etag_matches(raw_header(request, _IF_NONE_MATCH), headers["ETag"]):
        return not_modified(headers)
    return json_response(entry.body(), headers)


class _ReadThroughResponse(RawResponse):
    """An exact version the read model does not hold (yet): published through another replica
    a moment ago, its event still on the way here. Looked up through ``AppState.read_through``
    when Litestar sends the response (the handler stays synchronous for the common case);
    still unknown there, it is the usual 404 envelope."""

    __slots__ = ("_lookup",)

    def __init__(self, request: Request[Any, Any, Any], reader: ReadThrough, name: str, version: str) -> None:
        super().__init__(b"", [], 404)
        self._lookup = (request, reader, name, version)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request, reader, name, version = self._lookup
        entry = await reader.version_entry(name, version)
        if entry is None:
            raise VersionNotFound(name, version)
        await _entry_response(request, entry, exact=True)(scope, receive, send)


def _version_info(entry: CatalogEntry, now: datetime) -> dict[str, Any]:
    stored = entry.stored
    return {
        "version": entry.version,
        "digest": entry.digest,
        "published_at": format_time(stored.published_at),
        "deprecated": entry.deprecated,
        "withdrawn": entry.withdrawn,
        "sunset": entry.is_sunset(now),
        "prerelease": entry.prerelease,
        "source": stored.source.to_dict(),
    }


class ResourcesController(PublishingRoutes, Controller):
    """``/api/v1/resources``: the reads here, the writes from ``PublishingRoutes``."""

    path = "/api/v1/resources"
    tags = ["resources"]

    @filtered_get(
        "/",
        summary="List the latest version of every resource",
        description=(
            "A page of resource bodies, one per name (its latest version), in name order, narrowed by the "
            "filters (exact matches, ANDed). Pass the answer's `next_cursor` as `cursor` for the next page "
            '(the `Link: rel="next"` header gives its URL); `facets=true` adds the counts of '
            '`GET /api/v1/facets`. The ETag is the catalog revision (`W/"r<revision>"`): `If-None-Match` '
            "answers 304 until the catalog changes."
        ),
        body=schemas.ResourcePage,
    )
    def list_resources(
        self,
        request: Request[Any, Any, Any],
        filters: FiltersParam,
        limit: Limit = 50,
        cursor: Cursor = None,
        facets: WithFacets = False,
    ) -> RawResponse:
        return page_answer(
            request, lambda catalog: catalog.list_latest(filters, limit=limit, cursor=cursor, facets=facets)
        )

    @get(
        "/{name:str}",
        sync_to_thread=False,
        summary="The latest version, or the highest one matching ?constraint=",
        description=(
            "The resource body of the name's latest version (the highest that is not a prerelease, "
            "withdrawn or past its sunset; the highest prerelease when there are only prereleases), or with "
            "`constraint` (npm ranges, `~>`) the highest version it allows among the same versions. "
            "`Content-Location` and `X-Resource-Version` name the version chosen; its digest is the ETag "
            "(`no-cache`: `If-None-Match` answers 304 while the choice is unchanged). 404 `RESOURCE_NOT_FOUND` "
            "for an unknown name, `NO_MATCHING_VERSION` when no version qualifies; 400 `INVALID_CONSTRAINT`."
        ),
        responses=schemas.responses(schemas.ResourceBody, 304, 400, 404),
    )
    def get_resource(
        self,
        request: Request[Any, Any, Any],
        name: FromPath[str],
        constraint: Annotated[
            str | None, QueryParameter(description="A version constraint such as ^1.2, ~> 5.0 or >=1.0.0 <2.0.0.")
        ] = None,
    ) -> RawResponse:
        catalog = app_state_of(request).catalog
        entry = catalog.latest_entry(name) if constraint is None else catalog.resolve_entry(name, constraint)
        return _entry_response(request, entry, exact=False)

    @get(
        "/{name:str}/latest",
        sync_to_thread=False,
        summary="The latest version",
        description=(
            "The resource body of the name's latest version: `GET /api/v1/resources/{name}` without a "
            "constraint, with the same headers (`Content-Location`, `X-Resource-Version`, the digest as a "
            "`no-cache` ETag, 304 on `If-None-Match`) and the same 404s."
        ),
        responses=schemas.responses(schemas.ResourceBody, 304, 400, 404),
    )
    def get_latest(self, request: Request[Any, Any, Any], name: FromPath[str]) -> RawResponse:
        return _entry_response(request, app_state_of(request).catalog.latest_entry(name), exact=False)

    @get(
        "/{name:str}/versions",
        sync_to_thread=False,
        summary="Every version of a resource, newest first (withdrawn ones flagged)",
        description=(
            "`{name, latest, versions}`: each published version (withdrawn and prerelease ones included) with "
            "its digest, publication time, source and `deprecated`, `withdrawn`, `sunset` and `prerelease` "
            "flags; `latest` is null when no version qualifies. ETag: the catalog revision (304 on "
            "`If-None-Match`); 404 `RESOURCE_NOT_FOUND` for an unknown name."
        ),
        responses=schemas.responses(schemas.VersionList, 304, 400, 404),
    )
    def list_versions(
        self, request: Request[Any, Any, Any], app_state: AppStateParam, name: FromPath[str]
    ) -> RawResponse:
        catalog = app_state.catalog
        etag = revision_etag(catalog.revision)
        if etag_matches(raw_header(request, _IF_NONE_MATCH), etag):
            return not_modified({"ETag": etag, "Cache-Control": NO_CACHE})
        entries = catalog.versions(name)
        now = utcnow()
        try:
            latest: str | None = catalog.latest_entry(name).version
        except NoMatchingVersion:
            latest = None
        body = {"name": name, "latest": latest, "versions": [_version_info(entry, now) for entry in entries]}
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        return json_response(content, {"ETag": etag, "Cache-Control": NO_CACHE})

    @get(
        "/{name:str}/diff",
        sync_to_thread=False,
        summary="Every change between two versions, with its rule id and the bump it needs",
        description=(
            "The compatibility engine's report from `from` to `to`: each change with its rule id, field, "
            "both values and the smallest version bump it needs, the bump the two version numbers declare "
            "and whether it covers the changes (`ok`). `to` defaults to the latest version, `from` to the "
            "version just below `to`; any two published versions may be compared, withdrawn ones too."
        ),
        responses=schemas.responses(schemas.DiffBody, 304, 400, 404),
    )
    def diff_versions(
        self,
        request: Request[Any, Any, Any],
        name: FromPath[str],
        from_version: Annotated[
            str | None, QueryParameter(name="from", description="The old version (default: the one before `to`).")
        ] = None,
        to_version: Annotated[
            str | None, QueryParameter(name="to", description="The new version (default: the latest).")
        ] = None,
    ) -> RawResponse:
        catalog = app_state_of(request).catalog
        report = catalog.diff(name, from_version, to_version)
        old, new = catalog.entry(name, report.old_version), catalog.entry(name, report.new_version)
        # Versions never change their content: the pair of digests identifies the answer.
        etag = f'"{_digest_hex(old.digest)[:16]}-{_digest_hex(new.digest)[:16]}"'
        headers = {"ETag": etag, "Cache-Control": NO_CACHE}
        if etag_matches(raw_header(request, _IF_NONE_MATCH), etag):
            return not_modified(headers)
        content = json.dumps(report.to_dict(), ensure_ascii=False, separators=(",", ":")).encode()
        return json_response(content, headers)

    @get(
        "/{name:str}/{version:str}",
        sync_to_thread=False,
        summary="An exact version (withdrawn ones too, with a Warning)",
        description=(
            "The resource body of one version, whatever its lifecycle: a withdrawn or sunset version is "
            "served with a `Warning: 299` header, a deprecated one with `Deprecation` (and `Sunset`, "
            '`Link: rel="successor-version"` when set). The ETag is the digest and the answer is cacheable '
            "for a year (`immutable`; `no-cache` once withdrawn), 304 on `If-None-Match`. 404 "
            "`RESOURCE_NOT_FOUND` for an unknown name or version, 400 `INVALID_VERSION` for text that is not "
            "a SemVer version."
        ),
        responses=schemas.responses(schemas.ResourceBody, 304, 400, 404),
    )
    def get_version(self, request: Request[Any, Any, Any], name: FromPath[str], version: FromPath[str]) -> RawResponse:
        app_state = app_state_of(request)
        try:
            entry = _exact_entry(app_state.catalog, name, version)
        except VersionNotFound:
            if app_state.read_through is None:
                raise
            return _ReadThroughResponse(request, app_state.read_through, name, version)
        return _entry_response(request, entry, exact=True)

    @get(
        "/{name:str}/{version:str}/schema",
        sync_to_thread=False,
        summary="JSON Schema of a version's inputs (for form renderers)",
        description=(
            "A JSON Schema (`application/schema+json`) of the input values the version takes: its required "
            "and optional inputs with their types, defaults and constraints. Same ETag and caching as the "
            "exact version; 404 `RESOURCE_NOT_FOUND`, 400 `INVALID_VERSION`."
        ),
        responses=schemas.responses(dict[str, Any], 304, 400, 404, media_type=SCHEMA_JSON),
    )
    def get_inputs_schema(
        self, request: Request[Any, Any, Any], app_state: AppStateParam, name: FromPath[str], version: FromPath[str]
    ) -> RawResponse:
        entry = _exact_entry(app_state.catalog, name, version)
        headers = entry_headers(entry, exact=True)
        if etag_matches(raw_header(request, _IF_NONE_MATCH), headers["ETag"]):
            return not_modified(headers)
        schema = inputs_json_schema(entry.definition())
        content = json.dumps(schema, ensure_ascii=False, separators=(",", ":")).encode()
        return json_response(content, headers, media_type=SCHEMA_JSON)

    @post(
        "/{name:str}/{version:str}/inputs:validate",
        status_code=200,
        summary="Check input values against a version (defaults applied)",
        description=(
            "Checks a JSON object of input values against the version's inputs and answers 200 "
            "`{valid, values, findings}`: `values` with the defaults applied, `findings` every problem at "
            "once (missing, unknown or invalid inputs; `INPUT_DEPRECATED` warnings for deprecated inputs "
            "that are set). "
            "400 when the body is not a JSON object, 404 `RESOURCE_NOT_FOUND`, 413 past "
            "`service.max_body_size`."
        ),
        responses=schemas.responses(schemas.InputsValidationBody, 400, 404, 413),
    )
    async def validate_inputs(
        self, request: Request[Any, Any, Any], app_state: AppStateParam, name: FromPath[str], version: FromPath[str]
    ) -> Response[bytes]:
        entry = _exact_entry(app_state.catalog, name, version)
        values = json_object(await read_body(request), what="the inputs")
        # Bounded (RE2, service.max_body_size, validation.limits) but still CPU: off the loop.
        limits = configured_limits(app_state.settings)
        result = await asyncio.to_thread(validate_inputs, entry.definition(), values, limits=limits)
        body = {"valid": result.ok, "values": result.values, "findings": [f.to_dict() for f in result.findings]}
        content = json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str).encode()
        return Response(content=content, media_type=JSON)
