"""The web UI's pages: server-rendered HTML (Jinja templates through Litestar's template
support), with a little plain JavaScript (``static/ui.js``) for what a server cannot do alone:
results as you type, the copy button, the try-inputs form, live updates and the bearer token.

Why server-rendered: a page is one request answered from the in-memory read model, so it paints
as soon as its HTML arrives (no bundle to download, parse and run before anything shows), works
with JavaScript off for reading, and needs no Node toolchain to build or ship; the JavaScript
only enhances it. Every page is public as a *shell* and guarded as *content*: with
``auth.enabled`` a browser navigation carries no token, so the page comes back without data and
the script fetches the same URL again with ``Authorization: Bearer`` and ``X-Nestor-Partial``
to get the content (a 401 shows the sign-in form). Without auth the content is in the first
response. Live updates re-fetch those partials, so there is exactly one way to render a page.

Routes: ``/`` (browse and search), ``/ui/resources/{name}[/{version}]`` (resource page),
``/ui/resources/{name}/{version}/try`` (try inputs), ``/ui/diff/{name}?from=&to=`` (diff),
``/ui/sync`` (sync dashboard). Errors render as HTML pages with the API's status code.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Final

from litestar import Controller, MediaType, Request, Response, get
from litestar.exceptions import HTTPException
from litestar.params import FromPath
from litestar.response import Template

from nestor_catalog_core import AuthenticationError, CatalogError
from nestor_catalog_server.api.errors import http_error
from nestor_catalog_server.state import AppState, app_state_of
from nestor_catalog_server.ui import _views
from nestor_catalog_server.ui._assets import STATIC_PATH

__all__ = ["PARTIAL_HEADER", "SECURITY_HEADERS", "UIController"]

log = logging.getLogger("nestor_catalog_server.ui")

#: Sent by ``ui.js`` to get a page's content without its layout.
PARTIAL_HEADER: Final = "x-nestor-partial"
#: On every UI page: nothing loads from anywhere but this server, nothing frames it.
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
    "Vary": "Authorization, X-Nestor-Partial",
}


_FACET_CACHE: Final = "nestor_ui_facets"


def _today() -> Any:
    return datetime.now(UTC).date()


async def _may_show(request: Request[Any, Any, Any], state: AppState) -> bool:
    """Whether this request may see catalog data: always without auth; with auth only with a
    valid bearer token (an invalid one raises ``AuthenticationError``: 401); a request without
    one gets the shell."""
    verifier = state.verifier
    if verifier is None or not verifier.enabled:
        return True
    header = request.headers.get("authorization")
    if header is None:
        return False
    try:
        await verifier.authenticate_async(header)
    except AuthenticationError as exc:
        state.metrics.auth_failed(str(exc.details.get("reason", "unknown")))
        raise
    return True


def _facet_cache(request: Request[Any, Any, Any]) -> _views.FacetCache:
    """The app's facet cache (one per app, in its state, created on first use)."""
    cache = request.app.state.get(_FACET_CACHE)
    if not isinstance(cache, _views.FacetCache):
        cache = request.app.state[_FACET_CACHE] = _views.FacetCache()
    return cache


def _repositories(state: AppState) -> dict[str, str]:
    return {repo.name: repo.url for repo in state.settings.git.repositories}


def _page(
    request: Request[Any, Any, Any],
    state: AppState,
    template: str,
    *,
    title: str,
    page: str,
    live: str,
    show: bool,
    context: dict[str, Any] | None = None,
    status: int = 200,
) -> Template:
    partial = request.headers.get(PARTIAL_HEADER) is not None
    auth = state.verifier is not None and state.verifier.enabled
    full: dict[str, Any] = {
        "layout": "_partial.html" if partial else "_layout.html",
        "title": title,
        "page": page,
        "live": live,
        "shell": not show,
        "auth": auth,
        "revision": state.catalog.revision,
        "events": state.settings.sse.enabled,
        "static": STATIC_PATH,
        "read_only": state.catalog.read_only,
        **(context or {}),
    }
    return Template(template_name=template, context=full, headers=SECURITY_HEADERS, status_code=status)


def _error_page(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A core error (or a framework one: a bad parameter) as an HTML page with the API's status."""
    error = http_error(exc)
    if error.internal:
        log.error("ui page failed: %s", exc, exc_info=exc)
    state = app_state_of(request)
    context = {"error": error}
    template = _page(
        request,
        state,
        "error.html",
        title=f"{error.status} {error.code}",
        page="error",
        live="",
        show=True,
        context=context,
        status=error.status,
    )
    headers = {**SECURITY_HEADERS, **error.headers}
    template.headers.update(headers)
    return template


class UIController(Controller):
    """The pages; public as shells (see the module docstring), never in the OpenAPI document."""

    path = "/"
    include_in_schema = False
    opt = {"public": True}
    exception_handlers = {CatalogError: _error_page, HTTPException: _error_page}

    @get("/", media_type=MediaType.HTML)
    async def home(self, request: Request[Any, Any, Any]) -> Template:
        state = app_state_of(request)
        show = await _may_show(request, state)
        query = _views.BrowseQuery.from_params(request.query_params)
        context = {"query": query}
        if show:
            context = _views.browse_context(state.catalog, query, today=_today(), cache=_facet_cache(request))
        title = f"Search: {query.q}" if query.q else "Catalog"
        return _page(request, state, "home.html", title=title, page="home", live="catalog", show=show, context=context)

    @get("/ui/resources/{name:str}", media_type=MediaType.HTML)
    async def resource(self, request: Request[Any, Any, Any], name: FromPath[str]) -> Template:
        return await self._resource(request, name, None)

    @get("/ui/resources/{name:str}/{version:str}", media_type=MediaType.HTML)
    async def resource_version(
        self, request: Request[Any, Any, Any], name: FromPath[str], version: FromPath[str]
    ) -> Template:
        return await self._resource(request, name, version)

    async def _resource(self, request: Request[Any, Any, Any], name: str, version: str | None) -> Template:
        state = app_state_of(request)
        show = await _may_show(request, state)
        context: dict[str, Any] = {"name": name}
        if show:
            context = _views.resource_context(
                state.catalog, name, version, today=_today(), repositories=_repositories(state)
            )
        title = f"{name} {context.get('version', version or '')}".strip()
        return _page(
            request,
            state,
            "resource.html",
            title=title,
            page="resource",
            live=f"resource:{name}",
            show=show,
            context=context,
        )

    @get("/ui/resources/{name:str}/{version:str}/try", media_type=MediaType.HTML)
    async def try_inputs(
        self, request: Request[Any, Any, Any], name: FromPath[str], version: FromPath[str]
    ) -> Template:
        state = app_state_of(request)
        show = await _may_show(request, state)
        context: dict[str, Any] = {"name": name, "version": version}
        if show:
            entry = state.catalog.entry(name, version)
            context = {
                "name": name,
                "version": version,
                "fields": _views.input_fields(entry.definition()),
                "resource_url": _views.ui_path("resources", name, version),
                "validate_url": f"/api/v1/resources/{name}/{version}/inputs:validate",
            }
        return _page(
            request,
            state,
            "try.html",
            title=f"Try inputs: {name} {version}",
            page="try",
            live="",
            show=show,
            context=context,
        )

    @get("/ui/diff/{name:str}", media_type=MediaType.HTML)
    async def diff(self, request: Request[Any, Any, Any], name: FromPath[str]) -> Template:
        state = app_state_of(request)
        show = await _may_show(request, state)
        params = request.query_params
        old, new = params.get("from") or None, params.get("to") or None
        context: dict[str, Any] = {"name": name}
        if show:
            context = _views.diff_context(state.catalog, name, old, new)
        title = f"Diff: {name}"
        return _page(
            request, state, "diff.html", title=title, page="diff", live=f"resource:{name}", show=show, context=context
        )

    @get("/ui/sync", media_type=MediaType.HTML)
    async def sync(self, request: Request[Any, Any, Any]) -> Template:
        state = app_state_of(request)
        show = await _may_show(request, state)
        context: dict[str, Any] = {}
        if show:
            statuses = [status.to_dict() for status in state.sync.status()] if state.sync is not None else []
            context = _views.sync_context(statuses, mirror=state.components.get("upstream"))
        return _page(request, state, "sync.html", title="Sync", page="sync", live="sync", show=show, context=context)
