"""``AsyncCatalogClient``: the asyncio client, on ``httpx.AsyncClient``.

Same methods, arguments, results and errors as ``CatalogClient`` (whose docstrings describe
them), awaited; ``list_resources`` is an async iterator and ``subscribe`` returns an
``AsyncSubscription``. Use one client per event loop.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar, Unpack

import httpx

from nestor_catalog_client._base import DEFAULT_TIMEOUT, Call, Filters, Sleep, Token, _BaseCatalogClient
from nestor_catalog_client._cache import ETagCache
from nestor_catalog_client._models import FacetCounts, ResourcePage, SearchResult, ValidationReport, VersionInfo
from nestor_catalog_client._retry import RetryPolicy
from nestor_catalog_client._subscription import AsyncEventStreamIO, AsyncSubscription, ReconnectPolicy, StreamState
from nestor_catalog_core import (
    AuditPage,
    CatalogError,
    CompatReport,
    EventType,
    InputsResult,
    ListFilters,
    PublishResult,
    Resource,
)

__all__ = ["AsyncCatalogClient"]

T = TypeVar("T")


class AsyncCatalogClient(_BaseCatalogClient):
    """Asyncio client of a nestor-catalog server (or sidecar); see ``CatalogClient``.

    ``transport`` may be ``httpx.ASGITransport(app)`` to call an app in-process.
    ``tracer_provider`` as for ``CatalogClient`` (a CLIENT span and ``traceparent`` per request).
    """

    _http: httpx.AsyncClient

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8080",
        *,
        token: Token | None = None,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        retries: int | RetryPolicy = 3,
        cache: bool | int | ETagCache | None = True,
        user_agent: str | None = None,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: ssl.SSLContext | bool = True,
        tracer_provider: Any | None = None,
    ) -> None:
        super().__init__(
            token=token, retries=retries, cache=cache, user_agent=user_agent, tracer_provider=tracer_provider
        )
        self._http = httpx.AsyncClient(
            base_url=base_url,
            timeout=timeout,
            headers={**self._default_headers(), **(headers or {})},
            transport=transport,
            verify=verify,
        )

    @property
    def base_url(self) -> str:
        return str(self._http.base_url)

    # -- lifecycle -------------------------------------------------------------------------

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- the driver ------------------------------------------------------------------------

    async def _run(self, call: Call[T]) -> T:
        flow = self._flow(call)
        outcome: httpx.Response | httpx.TransportError | None = None
        while True:
            try:
                step = flow.send(outcome)
            except StopIteration as stop:
                result: T = stop.value
                return result
            if isinstance(step, Sleep):
                await asyncio.sleep(step.seconds)
                outcome = None
                continue
            with self._tracer.request(step.request) as traced:
                try:
                    outcome = await self._http.send(step.request)
                except httpx.TransportError as exc:
                    traced.failed(exc)
                    outcome = exc
                else:
                    traced.response(outcome)

    # -- resources -------------------------------------------------------------------------

    async def get_resource(self, name: str, version: str | None = None, *, constraint: str | None = None) -> Resource:
        """An exact version (withdrawn ones too), the highest version matching ``constraint``
        (``^1.2``, ``~> 5.0``, ``>=1.0.0 <2.0.0``...), or the latest. Warns
        ``CatalogDeprecationWarning`` once per deprecated (name, version)."""
        return await self._run(self._get_resource_call(name, version, constraint))

    async def latest(self, name: str) -> Resource:
        """The highest non-prerelease, non-withdrawn version of ``name``."""
        return await self._run(self._latest_call(name))

    async def versions(self, name: str) -> list[VersionInfo]:
        """Every version of ``name``, newest first, withdrawn ones included and flagged."""
        return await self._run(self._versions_call(name))

    async def list_page(
        self,
        filters: ListFilters | None = None,
        *,
        cursor: str | None = None,
        limit: int = 50,
        facets: bool = False,
        **keywords: Unpack[Filters],
    ) -> ResourcePage:
        """One page of the latest version of every name matching the filters: a ``ListFilters``,
        keyword filters (``provider="aws"``), or both (the keywords replace its fields)."""
        return await self._run(self._list_call(filters, keywords, cursor, limit, facets))

    async def list_resources(
        self, filters: ListFilters | None = None, *, page_size: int = 1000, **keywords: Unpack[Filters]
    ) -> AsyncIterator[Resource]:
        """Every name's latest version matching the filters (as ``list_page``), following
        cursors page by page."""
        cursor: str | None = None
        while True:
            page = await self.list_page(filters, cursor=cursor, limit=page_size, **keywords)
            for item in page.items:
                yield item
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def search(
        self,
        q: str,
        filters: ListFilters | None = None,
        *,
        limit: int = 20,
        cursor: str | None = None,
        facets: bool = False,
        **keywords: Unpack[Filters],
    ) -> SearchResult:
        """Ranked search: exact name, name prefix, name token, then other fields; filtered as
        ``list_page``."""
        return await self._run(self._search_call(q, filters, keywords, cursor, limit, facets))

    async def facets(self, filters: ListFilters | None = None, **keywords: Unpack[Filters]) -> FacetCounts:
        """Counts of names per provider, category, resource_type and engine, over the names
        matching the filters (as ``list_page``)."""
        return await self._run(self._facets_call(filters, keywords))

    async def definition_schema(self) -> dict[str, Any]:
        """The JSON Schema of ``ResourceDefinition`` (for editors and form tools)."""
        return await self._run(self._definition_schema_call())

    async def diff(self, name: str, from_version: str | None = None, to_version: str | None = None) -> CompatReport:
        """Every change from ``from_version`` to ``to_version`` of ``name`` as the catalog's
        compatibility engine reports it (``report.changes``: rule id, field, both values and
        the bump each needs; ``report.required``, ``report.declared``, ``report.ok``).
        ``to_version`` defaults to the latest version, ``from_version`` to the one before it."""
        return await self._run(self._diff_call(name, from_version, to_version))

    async def inputs_schema(self, name: str, version: str) -> dict[str, Any]:
        """The JSON Schema of a version's inputs (for form renderers)."""
        return await self._run(self._inputs_schema_call(name, version))

    # -- validation ------------------------------------------------------------------------

    async def validate(
        self,
        text: str | bytes,
        *,
        content_type: str | None = None,
        strict: bool | None = None,
        schema: bool | None = None,
        policies: bool | None = None,
        compatibility: bool | None = None,
    ) -> ValidationReport:
        """A dry run of publishing ``text`` (YAML or JSON, one or more documents): every finding
        with file, line and column. Options left None take the server's defaults."""
        options = {"strict": strict, "schema": schema, "policies": policies, "compatibility": compatibility}
        return await self._run(self._validate_call(text, content_type, options))

    async def validate_inputs(self, name: str, version: str, values: Mapping[str, Any]) -> InputsResult:
        """Check a consumer's input values against a version; ``result.ok``, ``result.findings``
        and ``result.values`` (with defaults applied). Invalid inputs are a normal answer."""
        return await self._run(self._validate_inputs_call(name, version, values))

    # -- operations ------------------------------------------------------------------------

    async def status(self) -> dict[str, Any]:
        """``/api/v1/status``: revision, counts, sync, SSE, storage and (sidecars) upstream lag."""
        return await self._run(self._status_call())

    async def health(self) -> dict[str, Any]:
        return await self._run(self._health_call())

    async def ready(self) -> dict[str, Any]:
        """``/ready``; raises ``ServiceUnavailable`` (after retries) when the server is not ready."""
        return await self._run(self._ready_call())

    async def export(self) -> tuple[int, list[dict[str, Any]]]:
        """Every version (withdrawn ones included) as resource bodies, with the revision they are
        the state of (``GET /api/v1/export``): what a mirror copies from."""
        return await self._run(self._export_call())

    async def get_json(self, path: str, params: Iterable[tuple[str, str]] = ()) -> dict[str, Any]:
        """A GET of any path of the API answering a JSON object, unparsed, with this client's
        authentication, retries and error mapping (for endpoints without a method here)."""
        return await self._run(self._get_json_call(path, tuple(params)))

    async def audit(
        self,
        *,
        resource: str | None = None,
        version: str | None = None,
        user: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> AuditPage:
        """One page of audit records, newest first."""
        query = {"resource": resource, "version": version, "user": user, "action": action}
        return await self._run(
            self._audit_call({**query, "since": since, "until": until, "limit": limit, "cursor": cursor})
        )

    # -- writes (never retried) ------------------------------------------------------------

    async def publish(self, text: str | bytes, *, content_type: str | None = None) -> list[PublishResult]:
        """Publish YAML/JSON definitions through the API (platform-team token; API-owned names)."""
        return await self._run(self._publish_call(text, content_type))

    async def deprecate(
        self,
        name: str,
        version: str,
        message: str,
        *,
        replacement: str | None = None,
        sunset: str | None = None,
    ) -> Resource:
        return await self._run(self._deprecate_call(name, version, message, replacement, sunset))

    async def undeprecate(self, name: str, version: str) -> Resource:
        return await self._run(self._undeprecate_call(name, version))

    async def withdraw(self, name: str, version: str) -> Resource:
        return await self._run(self._withdraw_call(name, version))

    async def restore(self, name: str, version: str) -> Resource:
        return await self._run(self._restore_call(name, version))

    # -- events ----------------------------------------------------------------------------

    def subscribe(
        self,
        provider: str | None = None,
        category: str | None = None,
        name: str | None = None,
        types: Iterable[str | EventType] | None = None,
        since: int | None = None,
        *,
        resource_type: str | None = None,
        heartbeat_timeout: float | None = None,
        reconnect: ReconnectPolicy | None = None,
    ) -> AsyncSubscription:
        """Live events matching every given filter, as an iterator of ``Event`` and
        ``StreamReset`` (see ``nestor_catalog_client._subscription`` for the guarantees).

        ``since`` replays from after that sequence; without it the stream starts now.
        ``heartbeat_timeout`` (seconds of silence before reconnecting) defaults to 2.5 times the
        server's heartbeat interval. On a ``StreamReset``, re-list and keep iterating.
        """
        state = StreamState.create(
            provider=provider,
            category=category,
            name=name,
            types=types,
            since=since,
            resource_type=resource_type,
            heartbeat_timeout=heartbeat_timeout,
            reconnect=reconnect,
        )
        return AsyncSubscription(
            AsyncEventStreamIO(connect=self._connect_events, status=self._status_or_none, forget=self.forget), state
        )

    async def _connect_events(self, state: StreamState) -> httpx.Response:
        return await self._http.send(self._event_stream_request(state), stream=True)

    async def _status_or_none(self) -> dict[str, Any] | None:
        try:
            return await self.status()
        except CatalogError:
            return None
