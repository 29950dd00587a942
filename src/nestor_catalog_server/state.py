"""What a running app holds: one ``AppState`` per Litestar app, built in the lifespan.

Handlers reach it through the ``state`` dependency (``provide_app_state``), never through
module globals, so several apps (tests, a sidecar beside a server) live in one process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.params import SkipValidation

from nestor_catalog_core import AuditPage, AuditQuery, Catalog, CatalogEntry, CatalogReader, ReadOnly
from nestor_catalog_server.api._pages import PageCache

if TYPE_CHECKING:
    from nestor_catalog_server.auth import TokenVerifier
    from nestor_catalog_server.config import Settings
    from nestor_catalog_server.observability import Metrics
    from nestor_catalog_server.sync import SourceStatus, WebhookDelivery, WebhookGate

__all__ = [
    "STATE_KEY",
    "AppState",
    "AppStateParam",
    "ReadThrough",
    "SyncControl",
    "app_state_of",
    "provide_app_state",
]

STATE_KEY = "nestor"


class SyncControl(Protocol):
    """What the handlers use of git sync: a ``SyncManager``, or on a catalog the app opened
    itself, scale-out's ``ClusterSync``, which runs one only while this replica holds the sync
    lease and forwards triggers and webhooks to the replica that does otherwise."""

    @property
    def ready(self) -> bool: ...

    def sources(self) -> list[str]: ...

    def status(self) -> list[SourceStatus]: ...

    def source_status(self, name: str) -> SourceStatus: ...

    def trigger(self, name: str, *, reason: str = "manual") -> None: ...

    def webhook_gate(self, provider: str, name: str, headers: Mapping[str, str]) -> WebhookGate: ...

    def confirm_withdrawals(self, name: str) -> dict[str, Any] | None:
        """Let the sync the withdraw guard holds through; what was held (None: forwarded to
        the leader, which checks). ``ConflictError`` when nothing is held."""

    async def handle_webhook(
        self, provider: str, name: str, headers: Mapping[str, str], body: bytes, *, verified: bool = False
    ) -> WebhookDelivery: ...


class ReadThrough(Protocol):
    """Reads the in-memory read model cannot answer, from a cache in front of storage
    (scale-out's ``ReadThroughCache``). Never raises for a cache outage: it reads storage."""

    async def version_entry(self, name: str, version: str) -> CatalogEntry | None:
        """An exact version this replica has not applied yet (published through another
        replica a moment ago), or None when storage does not hold it either."""

    async def audit(self, query: AuditQuery) -> AuditPage:
        """An audit page (the read model holds no audit records)."""


@dataclass
class AppState:
    """Everything request handlers need. ``catalog`` is the full ``Catalog`` on a primary
    server and a read-only ``CatalogReader`` (a mirror) on a sidecar."""

    settings: Settings
    catalog: CatalogReader
    metrics: Metrics
    verifier: TokenVerifier | None = None
    sync: SyncControl | None = None
    #: Set in scale-out deployments: exact versions the read model misses, and audit pages.
    read_through: ReadThrough | None = None
    started_at: float = field(default_factory=time.time)
    shutdown: asyncio.Event = field(default_factory=asyncio.Event)
    sse_connections: int = 0
    #: Named background tasks started by the lifespan (follow, retention, leadership, ...).
    tasks: dict[str, asyncio.Task[Any]] = field(default_factory=dict)
    #: Extra facts for /api/v1/status and /ready contributed by optional components
    #: (the mirror's upstream lag, Redis health, the leader), keyed by component name.
    components: dict[str, Any] = field(default_factory=dict)
    #: Recent list and search pages of the current revision (``api._pages``).
    pages: PageCache = field(default_factory=PageCache)

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
