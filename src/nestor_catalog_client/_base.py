"""What the sync and the async client share: configuration, request building, response
parsing, error mapping, retries and the ETag cache, written once and free of I/O.

Every API method is described by a ``Call``: how to build its request and how to parse its
answer. ``_BaseCatalogClient._flow`` runs a call as a generator that yields the I/O it needs
(``Send`` a request, ``Sleep`` before a retry) and receives the outcome; ``CatalogClient``
drives it with ``httpx.Client`` and ``time.sleep``, ``AsyncCatalogClient`` with
``httpx.AsyncClient`` and ``asyncio.sleep``. Only those few lines differ between them.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final, Generic, TypedDict, TypeVar
from urllib.parse import quote, urlencode

import httpx

from nestor_catalog_client._cache import CachedResponse, ETagCache
from nestor_catalog_client._errors import error_from_response, transport_error
from nestor_catalog_client._models import (
    CatalogDeprecationWarning,
    FacetCounts,
    ResourcePage,
    SearchResult,
    ValidationReport,
    VersionInfo,
)
from nestor_catalog_client._retry import RetryPolicy
from nestor_catalog_client._subscription import StreamState
from nestor_catalog_client._tracing import RequestTracer
from nestor_catalog_core import (
    AuditPage,
    AuditRecord,
    CompatReport,
    Finding,
    InputsResult,
    InvalidRequest,
    ListFilters,
    PublishResult,
    RemoteError,
    Resource,
    __version__,
)
from nestor_catalog_core.models import format_time

__all__ = [
    "API",
    "DEFAULT_TIMEOUT",
    "Call",
    "Filters",
    "Send",
    "Sleep",
    "Token",
    "name_path",
    "version_path",
]

T = TypeVar("T")

API: Final = "/api/v1"

#: Connect quickly or fail over; allow a busy server some time to answer.
DEFAULT_TIMEOUT: Final = httpx.Timeout(10.0, connect=5.0)

#: A bearer token, or a function returning the current one (called for every request, so a
#: token that rotates is picked up without a new client).
Token = str | Callable[[], str]

_YAML: Final = "application/yaml"
_JSON: Final = "application/json"

#: This package's folder: a deprecation warning points at the first frame outside it.
_PACKAGE_DIR: Final = os.path.dirname(os.path.abspath(__file__)) + os.sep


class Filters(TypedDict, total=False):
    """The keyword form of ``ListFilters`` for lists, searches and facets (all must match):
    ``list_page(provider="aws")`` is ``list_page(ListFilters(provider="aws"))``, and None is no
    filter. Its keys and types are ``ListFilters``' fields (a test holds them equal)."""

    provider: str | None
    category: str | None
    resource_type: str | None
    engine: str | None
    maintainer: str | None
    deprecated: bool | None


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One API call: the request to send and how to read a successful answer.

    ``idempotent`` calls are retried (GETs and the pure POSTs); ``cacheable`` ones go through
    the ETag cache (immutable URLs only).
    """

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: tuple[tuple[str, str], ...] = ()
    content: bytes | None = None
    content_type: str | None = None
    idempotent: bool = True
    cacheable: bool = False
    success: frozenset[int] = frozenset({200})

    @property
    def cache_key(self) -> str:
        return f"{self.path}?{urlencode(self.params)}" if self.params else self.path


@dataclass(frozen=True, slots=True)
class Send:
    request: httpx.Request


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float


Step = Send | Sleep
Outcome = httpx.Response | httpx.TransportError | None


@dataclass(slots=True)
class _Prepared:
    request: httpx.Request
    cached: CachedResponse | None = None


class _BaseCatalogClient:
    """Configuration and the I/O-free half of every call. Not used directly."""

    _http: httpx.Client | httpx.AsyncClient

    def __init__(
        self,
        *,
        token: Token | None = None,
        retries: int | RetryPolicy = 3,
        cache: bool | int | ETagCache | None = True,
        user_agent: str | None = None,
        tracer_provider: Any | None = None,
    ) -> None:
        self._token = token
        self._tracer = RequestTracer(tracer_provider)
        self.retry_policy = retries if isinstance(retries, RetryPolicy) else RetryPolicy(retries=retries)
        self.cache = _make_cache(cache)
        self.user_agent = user_agent or f"nestor-catalog-client/{__version__} httpx/{httpx.__version__}"
        self._warned: set[tuple[str, str]] = set()

    # -- requests --------------------------------------------------------------------------

    def _default_headers(self) -> dict[str, str]:
        return {"User-Agent": self.user_agent, "Accept": _JSON}

    def _auth_headers(self) -> dict[str, str]:
        token = self._token() if callable(self._token) else self._token
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _event_stream_request(self, state: StreamState) -> httpx.Request:
        """The request (re)opening a subscription at ``state``'s position, authenticated and
        traced like every call, read timeout from the stream's heartbeat timeout."""
        headers = {**state.request_headers(), **self._auth_headers()}
        self._tracer.inject(headers)
        timeout = self._http.timeout
        return self._http.build_request(
            "GET",
            f"{API}/events",
            params=state.request_params() or None,
            headers=headers,
            timeout=httpx.Timeout(
                timeout.connect, read=state.read_timeout(timeout.read), write=timeout.write, pool=timeout.pool
            ),
        )

    def _prepare(self, call: Call[Any]) -> _Prepared:
        cached = self.cache.get(call.cache_key) if call.cacheable and self.cache is not None else None
        request = self._http.build_request(call.method, call.path, params=call.params or None, content=call.content)
        request.headers.update(self._auth_headers())
        if call.content_type is not None:
            request.headers["Content-Type"] = call.content_type
        if cached is not None:
            request.headers["If-None-Match"] = cached.etag
        return _Prepared(request, cached)

    # -- the flow of one call ----------------------------------------------------------------

    def _flow(self, call: Call[T]) -> Generator[Step, Outcome, T]:
        """Send, retry transient failures with backoff, answer 304s from the cache, map errors."""
        attempt = 0
        while True:
            prepared = self._prepare(call)
            outcome = yield Send(prepared.request)
            if isinstance(outcome, httpx.TransportError):
                delay = self.retry_policy.delay_after_error(attempt, outcome, idempotent=call.idempotent)
                if delay is None:
                    raise transport_error(outcome, prepared.request, attempt + 1) from outcome
            else:
                assert outcome is not None
                if self._stale(call, prepared, outcome):
                    continue
                if outcome.status_code == 304 and prepared.cached is not None:
                    self._record_cache(hit=True)
                    return _parse_revalidated(call, prepared.cached, prepared.request, outcome)
                response, entry = self._accept(call, outcome)
                if response is not None:
                    return _parse(call, response, entry)
                delay = self.retry_policy.delay_after_response(attempt, outcome, idempotent=call.idempotent)
                if delay is None:
                    raise error_from_response(outcome)
            attempt += 1
            yield Sleep(delay)

    def _stale(self, call: Call[Any], prepared: _Prepared, response: httpx.Response) -> bool:
        """A 304 whose lifecycle headers differ from the cached copy's: the status changed, so
        the cached body is dropped and the next attempt fetches it in full."""
        if response.status_code != 304 or prepared.cached is None or prepared.cached.same_lifecycle(response):
            return False
        if self.cache is not None:
            self.cache.discard(call.cache_key)
        return True

    def _accept(self, call: Call[Any], response: httpx.Response) -> tuple[httpx.Response | None, CachedResponse | None]:
        """The response to parse (None when it is an error) and its new cache entry, if any."""
        if response.status_code not in call.success:
            return None, None
        entry = None
        if call.cacheable and self.cache is not None:
            self._record_cache(hit=False)
            entry = CachedResponse.of(response)
            if entry is not None:
                self.cache.put(call.cache_key, entry)
        return response, entry

    def _record_cache(self, *, hit: bool) -> None:
        if self.cache is not None:
            self.cache.record(hit=hit)

    # -- calls -----------------------------------------------------------------------------

    def _get_resource_call(self, name: str, version: str | None, constraint: str | None) -> Call[Resource]:
        if version is not None and constraint is not None:
            raise InvalidRequest(
                "pass either an exact version or a constraint, not both",
                details={"resource_name": name, "version": version, "constraint": constraint},
            )
        if version is not None:
            return Call("GET", version_path(name, version), self._parse_resource, cacheable=True)
        params = (("constraint", constraint),) if constraint is not None else ()
        return Call("GET", name_path(name), self._parse_resource, params=params)

    def _latest_call(self, name: str) -> Call[Resource]:
        return Call("GET", f"{name_path(name)}/latest", self._parse_resource)

    def _versions_call(self, name: str) -> Call[list[VersionInfo]]:
        return Call("GET", f"{name_path(name)}/versions", _parse_versions)

    def _list_call(
        self, filters: ListFilters | None, keywords: Filters, cursor: str | None, limit: int, facets: bool
    ) -> Call[ResourcePage]:
        params = _list_filters(filters, keywords).to_query() + _page_params(cursor, limit, facets)
        return Call("GET", f"{API}/resources", _parser(ResourcePage.from_dict), params=params)

    def _search_call(
        self, q: str, filters: ListFilters | None, keywords: Filters, cursor: str | None, limit: int, facets: bool
    ) -> Call[SearchResult]:
        if not q.strip():
            raise InvalidRequest("search needs a non-empty query", details={"q": q})
        params = (("q", q), *_list_filters(filters, keywords).to_query(), *_page_params(cursor, limit, facets))
        return Call("GET", f"{API}/search", _parser(SearchResult.from_dict), params=params)

    def _facets_call(self, filters: ListFilters | None, keywords: Filters) -> Call[FacetCounts]:
        params = _list_filters(filters, keywords).to_query()
        return Call("GET", f"{API}/facets", _parser(FacetCounts.from_dict), params=params)

    def _definition_schema_call(self) -> Call[dict[str, Any]]:
        return Call("GET", f"{API}/schema", _parse_object, cacheable=True)

    def _inputs_schema_call(self, name: str, version: str) -> Call[dict[str, Any]]:
        return Call("GET", f"{version_path(name, version)}/schema", _parse_object, cacheable=True)

    def _diff_call(self, name: str, from_version: str | None, to_version: str | None) -> Call[CompatReport]:
        params = tuple((key, value) for key, value in (("from", from_version), ("to", to_version)) if value is not None)
        return Call("GET", f"{name_path(name)}/diff", _parser(CompatReport.from_dict), params=params, cacheable=True)

    def _validate_call(
        self,
        text: str | bytes,
        content_type: str | None,
        options: Mapping[str, bool | None],
    ) -> Call[ValidationReport]:
        content = text.encode() if isinstance(text, str) else text
        params = tuple((key, _bool(value)) for key, value in options.items() if value is not None)
        return Call(
            "POST",
            f"{API}/validate",
            _parser(ValidationReport.from_dict),
            params=params,
            content=content,
            content_type=content_type or _guess_content_type(content),
        )

    def _validate_inputs_call(self, name: str, version: str, values: Mapping[str, Any]) -> Call[InputsResult]:
        if not isinstance(values, Mapping):
            raise InvalidRequest("inputs must be a mapping of input names to values", details={"type": type(values)})
        return Call(
            "POST",
            f"{version_path(name, version)}/inputs:validate",
            _parse_inputs,
            content=json.dumps(dict(values), separators=(",", ":")).encode(),
            content_type=_JSON,
        )

    def _audit_call(self, query: Mapping[str, str | int | datetime | None]) -> Call[AuditPage]:
        params = tuple((key, _query_value(value)) for key, value in query.items() if value is not None)
        return Call("GET", f"{API}/audit", _parse_audit, params=params)

    def _get_json_call(self, path: str, params: tuple[tuple[str, str], ...]) -> Call[dict[str, Any]]:
        return Call("GET", path, _parse_object, params=params)

    def _export_call(self) -> Call[tuple[int, list[dict[str, Any]]]]:
        """Every version as resource bodies, with the revision they are the state of
        (``GET /api/v1/export``, NDJSON)."""
        return Call("GET", f"{API}/export", _parse_export)

    def _status_call(self) -> Call[dict[str, Any]]:
        return Call("GET", f"{API}/status", _parse_object)

    def _health_call(self) -> Call[dict[str, Any]]:
        return Call("GET", "/health", _parse_object)

    def _ready_call(self) -> Call[dict[str, Any]]:
        return Call("GET", "/ready", _parse_object)

    # writes: never retried

    def _publish_call(self, text: str | bytes, content_type: str | None) -> Call[list[PublishResult]]:
        content = text.encode() if isinstance(text, str) else text
        return Call(
            "POST",
            f"{API}/resources",
            _parse_publish,
            content=content,
            content_type=content_type or _guess_content_type(content),
            idempotent=False,
            success=frozenset({200, 201}),
        )

    def _deprecate_call(
        self, name: str, version: str, message: str | None, replacement: str | None, sunset: str | None
    ) -> Call[Resource]:
        body = {k: v for k, v in (("message", message), ("replacement", replacement), ("sunset", sunset)) if v}
        return Call(
            "PUT",
            f"{version_path(name, version)}/deprecation",
            self._parse_resource_quietly,
            content=json.dumps(body).encode(),
            content_type=_JSON,
            idempotent=False,
        )

    def _undeprecate_call(self, name: str, version: str) -> Call[Resource]:
        path = f"{version_path(name, version)}/deprecation"
        return Call("DELETE", path, self._parse_resource_quietly, idempotent=False)

    def _withdraw_call(self, name: str, version: str) -> Call[Resource]:
        return Call("DELETE", version_path(name, version), self._parse_resource_quietly, idempotent=False)

    def _restore_call(self, name: str, version: str) -> Call[Resource]:
        path = f"{version_path(name, version)}/restore"
        return Call("POST", path, self._parse_resource_quietly, idempotent=False)

    # -- parsing ---------------------------------------------------------------------------

    def _parse_resource(self, response: httpx.Response) -> Resource:
        resource = self._parse_resource_quietly(response)
        if resource.deprecated:
            self._warn_deprecated(resource)
        return resource

    @staticmethod
    def _parse_resource_quietly(response: httpx.Response) -> Resource:
        return Resource.from_dict(_json(response))

    def _warn_deprecated(self, resource: Resource) -> None:
        key = (resource.name, resource.version)
        if key in self._warned:
            return
        self._warned.add(key)
        warnings.warn(_deprecation_message(resource), CatalogDeprecationWarning, stacklevel=_callers_stacklevel())

    def forget(self, name: str, version: str | None = None) -> None:
        """Drop cached responses of ``name`` (one version, or all) so the next read fetches them
        in full; subscriptions call it for lifecycle events they see."""
        if self.cache is not None:
            prefix = version_path(name, version) if version is not None else f"{name_path(name)}/"
            self.cache.discard_prefix(prefix)


def _callers_stacklevel() -> int:
    """The ``warnings.warn`` stack level of the consumer's call: one past the last frame in this
    package (sync and async paths differ in depth; an event loop's frames never sit between)."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def _parse_key(call: Call[Any]) -> str:
    return getattr(call.parse, "__qualname__", "")


def _parse_revalidated(call: Call[T], entry: CachedResponse, request: httpx.Request, revalidated: httpx.Response) -> T:
    """The result of a ``304``: what parsing the cached body gave before, else parse it now."""
    key = _parse_key(call)
    if key in entry.parsed:
        result: T = entry.parsed[key]
        return result
    return _parse(call, entry.as_response(request, revalidated), entry)


def _parse(call: Call[T], response: httpx.Response, entry: CachedResponse | None) -> T:
    """The call's result (kept in ``entry`` for later ``304``s); a success whose body is not what
    the contract says is a ``RemoteError`` (``INVALID_RESPONSE``), not a ``KeyError`` from deep
    inside the client."""
    key = _parse_key(call)
    try:
        value = call.parse(response)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RemoteError(
            "INVALID_RESPONSE",
            f"unexpected answer to {call.method} {call.path}: {type(exc).__name__}: {exc}",
            details={"status_code": response.status_code, "path": call.path},
            trace_id=response.headers.get("x-request-id"),
        ) from exc
    if entry is not None and key:
        entry.parsed[key] = value
    return value


def _make_cache(cache: bool | int | ETagCache | None) -> ETagCache | None:
    if isinstance(cache, ETagCache):
        return cache
    if cache is None or cache is False:
        return None
    if cache is True:
        return ETagCache()
    return ETagCache(max_entries=cache)


def _segment(value: str) -> str:
    if not value:
        raise InvalidRequest("resource names and versions must not be empty")
    return quote(value, safe="")


def name_path(name: str) -> str:
    return f"{API}/resources/{_segment(name)}"


def version_path(name: str, version: str) -> str:
    return f"{name_path(name)}/{_segment(version)}"


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _list_filters(filters: ListFilters | None, keywords: Filters) -> ListFilters:
    """The filters of a call: ``filters`` with the keyword filters replacing the same fields
    (either alone is fine); an unknown keyword is an ``InvalidRequest`` naming the known ones."""
    given = ListFilters.of(keywords)
    if filters is None:
        return given
    if not isinstance(filters, ListFilters):
        raise InvalidRequest(
            f"filters must be a ListFilters, not {type(filters).__name__}: pass keyword filters for the rest",
            details={"type": type(filters).__name__},
        )
    return replace(filters, **keywords) if keywords else filters


def _page_params(cursor: str | None, limit: int, facets: bool) -> tuple[tuple[str, str], ...]:
    params: list[tuple[str, str]] = [("limit", str(limit))]
    if cursor:
        params.append(("cursor", cursor))
    if facets:
        params.append(("facets", "true"))
    return tuple(params)


def _guess_content_type(content: bytes) -> str:
    return _JSON if content.lstrip()[:1] in (b"{", b"[") else _YAML


def _json(response: httpx.Response) -> Any:
    return json.loads(response.content)


def _parse_export(response: httpx.Response) -> tuple[int, list[dict[str, Any]]]:
    try:
        revision = int(response.headers["x-catalog-revision"])
        bodies = [json.loads(line) for line in response.content.splitlines() if line.strip()]
    except (KeyError, ValueError) as exc:
        raise RemoteError("INVALID_RESPONSE", f"malformed export from {response.request.url}: {exc}") from exc
    if not all(isinstance(body, dict) for body in bodies):
        raise RemoteError("INVALID_RESPONSE", f"malformed export from {response.request.url}: a line is not an object")
    return revision, bodies


def _parse_object(response: httpx.Response) -> dict[str, Any]:
    body = _json(response)
    if not isinstance(body, dict):
        raise ValueError(f"expected a JSON object from {response.request.url.path}")
    return body


def _parser(build: Callable[[dict[str, Any]], T]) -> Callable[[httpx.Response], T]:
    def parse(response: httpx.Response) -> T:
        return build(_parse_object(response))

    return parse


def _parse_versions(response: httpx.Response) -> list[VersionInfo]:
    return [VersionInfo.from_dict(item) for item in _parse_object(response).get("versions", [])]


def _parse_inputs(response: httpx.Response) -> InputsResult:
    body = _parse_object(response)
    return InputsResult(
        values=dict(body.get("values") or {}),
        findings=[Finding.from_dict(item) for item in body.get("findings", [])],
    )


def _parse_audit(response: httpx.Response) -> AuditPage:
    body = _parse_object(response)
    records = [AuditRecord.from_dict(item) for item in body.get("items", [])]
    return AuditPage(records=records, next_cursor=body.get("next_cursor"))


def _query_value(value: str | int | datetime) -> str:
    return format_time(value) if isinstance(value, datetime) else str(value)


def _parse_publish(response: httpx.Response) -> list[PublishResult]:
    return [
        PublishResult(
            outcome=item["outcome"],
            resource=Resource.from_dict(item["resource"]),
            warnings=[Finding.from_dict(w) for w in item.get("warnings", [])],
        )
        for item in _parse_object(response).get("results", [])
    ]


def _deprecation_message(resource: Resource) -> str:
    text = f"{resource.name} {resource.version} is deprecated"
    if resource.sunset:
        text += " and past its sunset date (no longer resolved as latest or by constraint)"
    deprecation = resource.deprecation
    if deprecation is not None:
        parts = [text + (f": {deprecation.message}" if deprecation.message else "")]
        if deprecation.replacement:
            parts.append(f"use {deprecation.replacement} instead")
        if deprecation.sunset:
            parts.append(f"sunset {deprecation.sunset}")
        text = "; ".join(parts)
    return text
