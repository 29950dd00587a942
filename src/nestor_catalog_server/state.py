"""What a running app holds: one ``AppState`` per Litestar app, built in the lifespan.

Handlers reach it through the ``state`` dependency (``provide_app_state``), never through
module globals, so several apps (tests, a sidecar beside a server) live in one process.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.params import SkipValidation

from nestor_catalog_core import Catalog, CatalogReader, ReadOnly

if TYPE_CHECKING:
    from nestor_catalog_server.auth import TokenVerifier
    from nestor_catalog_server.config import Settings
    from nestor_catalog_server.observability import Metrics
    from nestor_catalog_server.sync import SyncManager

__all__ = ["STATE_KEY", "AppState", "AppStateParam", "app_state_of", "provide_app_state"]

STATE_KEY = "nestor"


@dataclass
class AppState:
    """Everything request handlers need. ``catalog`` is the full ``Catalog`` on a primary
    server and a read-only ``CatalogReader`` (a mirror) on a sidecar."""

    settings: Settings
    catalog: CatalogReader
    metrics: Metrics
    verifier: TokenVerifier | None = None
    sync: SyncManager | None = None
    started_at: float = field(default_factory=time.time)
    shutdown: asyncio.Event = field(default_factory=asyncio.Event)
    sse_connections: int = 0
    #: Named background tasks started by the lifespan (follow, retention, leadership, ...).
    tasks: dict[str, asyncio.Task[Any]] = field(default_factory=dict)
    #: Extra facts for /api/v1/status and /ready contributed by optional components
    #: (the mirror's upstream lag, Redis health, the leader), keyed by component name.
    components: dict[str, Any] = field(default_factory=dict)

    @property
    def writable_catalog(self) -> Catalog:
        """The catalog for write endpoints; raises ``ReadOnly`` on a mirror/sidecar."""
        catalog = self.catalog
        if isinstance(catalog, Catalog) and not catalog.read_only:
            return catalog
        raise ReadOnly()

    @property
    def uptime_seconds(self) -> float:
        return time.time() - self.started_at


def app_state_of(connection: ASGIConnection[Any, Any, Any, Any]) -> AppState:
    """The app's ``AppState`` from a request (guards, and the hottest read handlers, which skip
    dependency injection: resolving even a trivial dependency costs more than their read)."""
    app_state: AppState = connection.app.state[STATE_KEY]
    return app_state


def provide_app_state(state: State) -> AppState:
    """Litestar dependency: ``Provide(provide_app_state, sync_to_thread=False)`` as ``app_state``."""
    app_state: AppState = state[STATE_KEY]
    return app_state


#: The handler parameter type for the ``app_state`` dependency: ``app_state: AppStateParam``.
#: ``SkipValidation`` keeps Litestar from running the dataclass through msgspec on every request
#: (which costs time and would need the names ``AppState`` only imports for type checking).
AppStateParam = SkipValidation[AppState]
