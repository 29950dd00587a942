"""The app factory: ``create_app(settings)`` returns the Litestar app serving the catalog.

Everything with a lifetime is opened in the lifespan and closed in reverse: logging, the store
and the ``Catalog`` (unless one is passed in), the ``SyncManager`` (unless one is passed in, the
catalog is read-only, or no source is configured), and background tasks on a catalog the
app opened itself: following the store's event log (writes by other processes, such as
``nestor-catalog sync`` on the same SQLite file), event-log retention and, when writable, the
sunset announcer (``resource.sunset`` when a deprecated version reaches its sunset date). Shutdown sets
``AppState.shutdown`` first (live event streams end on it), then stops sync, cancels the
tasks and closes the catalog; SIGTERM/SIGINT set it at once (``process.shutdown_on_signals``),
because the ASGI server drains open connections before it runs the lifespan shutdown and an
event stream never ends by itself. The running app's ``AppState`` is ``app.state[STATE_KEY]``.

On a catalog the app opened itself, the lifespan also opens ``scaleout.ScaleOut`` (Redis event
fan-out, read-through cache, leadership of git sync through the storage lease; see
``nestor_catalog_server.scaleout``): with Redis its bus drives the ``follow`` task, and when the
catalog syncs sources, ``AppState.sync`` is its ``ClusterSync`` (a lone replica simply wins the
lease). It is closed before the catalog: the lease is released, sync stopped, Redis closed.

Per request the app does the least it can: one outer middleware (trace id, metrics, access
log), no authentication work at all when ``auth.enabled`` is false, and handlers that serve
the read model's cached bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware.rate_limit import RateLimitConfig as LitestarRateLimit
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, Contact, SecurityScheme, Tag
from litestar.types import ControllerRouterHandler, Middleware

from nestor_catalog_core import Catalog, CatalogError, CatalogReader, __version__, open_store
from nestor_catalog_core.models import utcnow
from nestor_catalog_server import ui
from nestor_catalog_server.api import sse
from nestor_catalog_server.api.audit import AuditController
from nestor_catalog_server.api.errors import exception_handlers
from nestor_catalog_server.api.export import ExportController
from nestor_catalog_server.api.health import HealthController, OpenAPIDocumentController
from nestor_catalog_server.api.internal import InternalSyncController
from nestor_catalog_server.api.middleware import RequestObserver
from nestor_catalog_server.api.resources import ResourcesController
from nestor_catalog_server.api.search import SearchController
from nestor_catalog_server.api.security import authorize
from nestor_catalog_server.api.sync import SyncController, WebhookController
from nestor_catalog_server.api.validate import ValidateController, definition_schema_at_id
from nestor_catalog_server.auth import TokenVerifier
from nestor_catalog_server.config import Settings, catalog_settings
from nestor_catalog_server.observability import Metrics, Tracing, configure_logging
from nestor_catalog_server.observability.traced_store import TracedStore
from nestor_catalog_server.process import shutdown_on_signals
from nestor_catalog_server.state import STATE_KEY, AppState, provide_app_state

if TYPE_CHECKING:
    from nestor_catalog_server.scaleout import ScaleOut
    from nestor_catalog_server.sync import SyncManager

__all__ = [
    "DOCS_PATH",
    "FOLLOW_INTERVAL",
    "RETENTION_INTERVAL",
    "SUNSET_CHECK_INTERVAL",
    "create_app",
    "route_handlers",
]

log = logging.getLogger("nestor_catalog_server.app")

DOCS_PATH: Final = "/docs"
#: Seconds between two reads of the store's event log for other writers' events.
FOLLOW_INTERVAL: Final = 1.0
#: Seconds between two event-log retention passes (the first runs shortly after start).
RETENTION_INTERVAL: Final = 300.0
_FIRST_RETENTION_DELAY: Final = 5.0
#: Longest wait between two looks for versions whose sunset date has come (seconds).
SUNSET_CHECK_INTERVAL: Final = 60.0
#: How often the announcer looks whether the catalog changed (seconds; comparing two integers).
SUNSET_POLL_INTERVAL: Final = 1.0


def _app_state_dependency(state: State) -> AppState:
    """The app-wide ``app_state`` dependency (``provide_app_state``).

    A distinct function rather than ``provide_app_state`` itself: Litestar refuses an equal
    provider declared again on a lower layer, and a controller may declare its own ``app_state``
    (to be mountable on a bare test app); with distinct providers the lower one simply wins.
    """
    return provide_app_state(state)


def route_handlers() -> list[ControllerRouterHandler]:
    """Every controller of the app, in the order the OpenAPI document lists them."""
    return [
        ResourcesController,
        ExportController,
        SearchController,
        ValidateController,
        definition_schema_at_id,
        AuditController,
        SyncController,
        WebhookController,
        HealthController,
        OpenAPIDocumentController,
        *sse.route_handlers,
        InternalSyncController,
        *ui.route_handlers(),
    ]


def _openapi_config(settings: Settings) -> OpenAPIConfig:
    security: list[dict[str, list[str]]] | None = [{"bearer": []}] if settings.auth.enabled else None
    return OpenAPIConfig(
        title="nestor-catalog",
        version=__version__,
        description=(
            "The catalog of infrastructure ResourceDefinitions for the Nestor platform. Errors are always "
            '{"error": {"code", "message", "service", "details", "trace_id"}}.'
        ),
        render_plugins=[ui.docs_render_plugin(path="/")],
        openapi_router=Router(DOCS_PATH, route_handlers=[], include_in_schema=False, opt={"public": True}),
        components=Components(
            security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")}
        ),
        security=security,
        use_handler_docstrings=True,
        contact=Contact(name="nestor-catalog maintainers", url="https://github.com/nestor-platform/nestor-catalog"),
        tags=[Tag(name=name, description=description) for name, description in _TAGS],
    )


#: Every operation's tag, with what it groups (Spectral's operation-tag-defined).
_TAGS: Final = (
    ("resources", "Read definitions: lists with filters, exact versions, latest, constraints, versions."),
    ("publishing", "Write definitions the API owns: publish, deprecate, withdraw, restore."),
    ("discovery", "Search and facets over the catalog."),
    ("validation", "Dry runs (POST /api/v1/validate) and the definition JSON Schema."),
    ("audit", "Who published, deprecated, withdrew or was refused what."),
    ("sync", "Git repositories and watched directories: status, manual sync, webhooks."),
    ("events", "The live event stream (Server-Sent Events) with Last-Event-ID resume."),
    ("operations", "Health, readiness, metrics and status."),
)


def _middleware(settings: Settings) -> list[Middleware]:
    limit = settings.service.rate_limit
    if not limit.enabled:
        return []
    config = LitestarRateLimit(rate_limit=(limit.per, limit.requests), exclude_opt_key="no_rate_limit")
    return [config.middleware]


def create_app(
    settings: Settings,
    *,
    catalog: CatalogReader | None = None,
    sync: SyncManager | None = None,
    metrics: Metrics | None = None,
    tracing: Tracing | None = None,
) -> Litestar:
    """The Litestar app for ``settings``.

    ``catalog`` (a started ``Catalog``, or a mirror's ``CatalogReader``) and ``sync`` are used as
    given and left to the caller to stop and close; without them the lifespan opens the store of
    ``settings.store_uri()`` and creates the sync manager. ``metrics`` lets a caller share or
    inspect the registry; ``tracing`` defaults to what the ``OTEL_*`` variables ask for
    (``Tracing.from_environment``). Raises ``ConfigError`` for unusable auth keys.
    """
    metrics = metrics or Metrics(service=settings.service.name, version=__version__)
    if tracing is None:
        tracing = Tracing.from_environment(settings.service.name)
    verifier = TokenVerifier(settings.auth) if settings.auth.enabled else None
    lifespan = _Lifespan(settings, catalog=catalog, sync=sync, metrics=metrics, verifier=verifier, tracing=tracing)
    app = Litestar(
        route_handlers=route_handlers(),
        dependencies={"app_state": Provide(_app_state_dependency, sync_to_thread=False)},
        exception_handlers=exception_handlers(settings.service.name),
        guards=[authorize] if settings.auth.enabled else None,
        middleware=_middleware(settings),
        lifespan=[lifespan],
        openapi_config=_openapi_config(settings),
        template_config=ui.template_config(),
        request_max_body_size=settings.service.max_body_size,
        logging_config=None,
        debug=False,
        state=State(),
    )
    app.asgi_handler = RequestObserver(app.asgi_handler, metrics, tracing)
    return app


class _Lifespan:
    """Opens and closes what the app holds; see the module docstring for the order."""

    def __init__(
        self,
        settings: Settings,
        *,
        catalog: CatalogReader | None,
        sync: SyncManager | None,
        metrics: Metrics,
        verifier: TokenVerifier | None,
        tracing: Tracing,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.sync = sync
        self.metrics = metrics
        self.verifier = verifier
        self.tracing = tracing

    @contextlib.asynccontextmanager
    async def __call__(self, app: Litestar) -> AsyncIterator[None]:
        settings = self.settings
        configure_logging(settings.logging, settings.service.name)
        async with contextlib.AsyncExitStack() as stack:
            stack.callback(self.tracing.shutdown)
            if self.verifier is not None:
                await self.verifier.start()
                stack.push_async_callback(self.verifier.close)
            catalog = self.catalog if self.catalog is not None else await self._open_catalog(stack)
            state = AppState(
                settings=settings, catalog=catalog, metrics=self.metrics, verifier=self.verifier, sync=self.sync
            )
            app.state[STATE_KEY] = state
            stack.push_async_callback(_cancel_tasks, state.tasks)
            stack.callback(shutdown_on_signals(state.shutdown))
            if self.catalog is None and isinstance(catalog, Catalog):
                scaleout = await self._open_scaleout(state, catalog, stack)
                self._start_background(state, catalog, scaleout)
            if state.sync is None and self._should_sync(catalog):
                state.sync = await self._start_sync(catalog, stack)
            stack.callback(state.shutdown.set)
            log.info(
                "catalog serving",
                extra={
                    "operation": "start",
                    "revision": catalog.revision,
                    "storage": settings.storage.type,
                    "sources": state.sync.sources() if state.sync is not None else [],
                    "read_only": catalog.read_only,
                    "auth": settings.auth.enabled,
                },
            )
            yield
        log.info("catalog stopped", extra={"operation": "stop"})

    async def _open_catalog(self, stack: contextlib.AsyncExitStack) -> Catalog:
        """The catalog over the configured store; a store that cannot be opened stops the start
        with one log line saying which store and why (the server then exits non-zero)."""
        store = open_store(self.settings.store_uri())
        if self.tracing.enabled:
            store = TracedStore(store, self.tracing)
        catalog = Catalog(store, catalog_settings(self.settings))
        try:
            await catalog.start()
        except CatalogError as exc:
            log.error(
                "cannot open the %s storage: %s",
                self.settings.storage.type,
                exc.message,
                extra={"operation": "start", "error_code": exc.code, "details": exc.details},
            )
            await catalog.close()
            raise
        stack.push_async_callback(catalog.close)
        return catalog

    def _should_sync(self, catalog: CatalogReader) -> bool:
        git = self.settings.git
        return isinstance(catalog, Catalog) and not catalog.read_only and bool(git.repositories or git.directories)

    def _new_manager(self, catalog: Catalog) -> SyncManager:
        from nestor_catalog_server.sync import SyncManager

        return SyncManager(
            catalog,
            self.settings.git,
            data_dir=self.settings.service.data_dir,
            metrics=self.metrics,
            load_options=catalog.settings.load_options,
            tracing=self.tracing,
        )

    async def _start_sync(self, catalog: CatalogReader, stack: contextlib.AsyncExitStack) -> SyncManager:
        assert isinstance(catalog, Catalog)
        manager = self._new_manager(catalog)
        await manager.start()
        stack.push_async_callback(manager.stop)
        return manager

    async def _open_scaleout(self, state: AppState, catalog: Catalog, stack: contextlib.AsyncExitStack) -> ScaleOut:
        from nestor_catalog_server.scaleout import ScaleOut

        scaleout = ScaleOut(
            self.settings,
            catalog,
            sync=state.sync is None and self._should_sync(catalog),
            new_manager=functools.partial(self._new_manager, catalog),
        )
        stack.push_async_callback(scaleout.close)
        await scaleout.start(state)
        return scaleout

    def _start_background(self, state: AppState, catalog: Catalog, scaleout: ScaleOut) -> None:
        event_log = self.settings.storage.events
        follow = scaleout.follow_loop() or catalog.follow(FOLLOW_INTERVAL)
        state.tasks["follow"] = asyncio.create_task(follow, name="catalog-follow")
        if not catalog.read_only:
            job = functools.partial(_trim_events, catalog, event_log.retention, event_log.max_events)
            state.tasks["retention"] = asyncio.create_task(_every(RETENTION_INTERVAL, job), name="event-retention")
            state.tasks["sunsets"] = asyncio.create_task(_announce_sunsets(catalog), name="sunset-announcer")


async def _every(interval: float, job: Callable[[], Awaitable[None]]) -> None:
    """Run ``job`` shortly after start, then every ``interval`` seconds; a failure is logged, not fatal."""
    await asyncio.sleep(_FIRST_RETENTION_DELAY)
    while True:
        try:
            await job()
        except CatalogError as exc:
            log.warning("background job failed: %s", exc.message, extra={"error_code": exc.code})
        await asyncio.sleep(interval)


async def _announce_sunsets(catalog: Catalog) -> None:
    """Record ``resource.sunset`` when deprecated versions reach their sunset date: at start
    (for sunsets passed while no server ran), whenever the catalog changed (a version published
    or deprecated with a date already passed), at each next sunset moment, and at least every
    ``SUNSET_CHECK_INTERVAL`` seconds. Looking costs a scan of the in-memory versions; the
    audit log is read only for versions that are due."""
    seen_revision: int | None = None
    due = utcnow()
    while True:
        if catalog.revision != seen_revision or utcnow() >= due:
            try:
                for event in await catalog.announce_sunsets():
                    log.info(
                        "version reached its sunset date",
                        extra={"operation": "sunset", "resource": event.name, "version": event.version},
                    )
            except CatalogError as exc:
                log.warning("sunset announcement failed: %s", exc.message, extra={"error_code": exc.code})
            seen_revision = catalog.revision
            now = utcnow()
            upcoming = catalog.next_sunset(now)
            due = now + timedelta(seconds=SUNSET_CHECK_INTERVAL)
            if upcoming is not None:
                due = min(due, upcoming)
        await asyncio.sleep(SUNSET_POLL_INTERVAL)


async def _trim_events(catalog: Catalog, retention: timedelta, max_events: int) -> None:
    removed = await catalog.store.trim_events(older_than=utcnow() - retention, keep_last=max_events)
    if removed:
        log.info("event log trimmed", extra={"operation": "trim_events", "removed": removed})


async def _cancel_tasks(tasks: dict[str, asyncio.Task[Any]]) -> None:
    for task in tasks.values():
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks.values(), return_exceptions=True)
    tasks.clear()
