"""``TracedStore``: any ``ComponentStore`` with a span around each call (``storage.<call>``).

The app wraps its store in it only when tracing is on, so an untraced server pays nothing. The
spans carry ``db.system`` (the store's URI scheme) and the call's main arguments (resource,
version, source, lease); a failing call records its exception. ``scan_versions`` (a read-model
rebuild) is one span around the whole iteration.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from nestor_catalog_core import CatalogError
from nestor_catalog_core.models import AuditRecord, Event, Lease, StoredVersion, SyncState
from nestor_catalog_core.storage import AuditPage, AuditQuery, ComponentStore, PublishOutcome
from nestor_catalog_server.observability.otel import Tracing

__all__ = ["TracedStore"]

T = TypeVar("T")


class TracedStore(ComponentStore):
    """Delegates every call to ``inner`` inside a span; see the module docstring."""

    def __init__(self, inner: ComponentStore, tracing: Tracing) -> None:
        self.inner = inner
        self.scheme = inner.scheme  # type: ignore[misc]
        self._tracing = tracing

    @classmethod
    def from_uri(cls, uri: str, **options: Any) -> TracedStore:
        raise TypeError("wrap an opened store: TracedStore(open_store(uri), tracing)")

    def __repr__(self) -> str:
        return f"TracedStore({self.inner!r})"

    async def _call(self, operation: str, call: Awaitable[T], **attributes: Any) -> T:
        fields = {"db.system": self.inner.scheme, "db.operation": operation}
        fields.update({f"nestor.{key}": value for key, value in attributes.items() if value is not None})
        with self._tracing.span(f"storage.{operation}", kind="client", attributes=fields):
            return await call

    # -- lifecycle --------------------------------------------------------------------------

    async def open(self) -> None:
        await self._call("open", self.inner.open())

    async def close(self) -> None:
        await self.inner.close()

    async def ping(self) -> None:
        await self._call("ping", self.inner.ping())

    # -- versions ---------------------------------------------------------------------------

    async def publish(
        self, version: StoredVersion, event: Event, audit: AuditRecord, *, expected_sequence: int | None = None
    ) -> PublishOutcome:
        return await self._call(
            "publish",
            self.inner.publish(version, event, audit, expected_sequence=expected_sequence),
            resource=version.name,
            version=version.version,
        )

    async def publish_many(
        self, items: Sequence[tuple[StoredVersion, Event, AuditRecord]]
    ) -> list[PublishOutcome | CatalogError]:
        return await self._call("publish_many", self.inner.publish_many(items), count=len(items))

    async def get_version(self, name: str, version: str) -> StoredVersion | None:
        return await self._call("get_version", self.inner.get_version(name, version), resource=name, version=version)

    async def list_versions(self, name: str) -> list[StoredVersion]:
        return await self._call("list_versions", self.inner.list_versions(name), resource=name)

    async def scan_versions(self, *, page_size: int = 1000) -> AsyncIterator[StoredVersion]:
        fields = {"db.system": self.inner.scheme, "db.operation": "scan_versions"}
        with self._tracing.span("storage.scan_versions", kind="client", attributes=fields):
            async for version in self.inner.scan_versions(page_size=page_size):
                yield version

    async def get_owner(self, name: str) -> str | None:
        return await self._call("get_owner", self.inner.get_owner(name), resource=name)

    async def _update_version(
        self, name: str, version: str, event: Event, audit: AuditRecord, changes: dict[str, Any]
    ) -> StoredVersion:
        """``set_lifecycle`` and ``set_withdrawn`` arrive here (ComponentStore's template);
        each goes on to the inner store's method of the same name, in a span named after it."""
        if "withdrawn" in changes:
            call = self.inner.set_withdrawn(name, version, changes["withdrawn"], event, audit)
            return await self._call("set_withdrawn", call, resource=name, version=version)
        call = self.inner.set_lifecycle(name, version, changes["document"], changes["deprecated"], event, audit)
        return await self._call("set_lifecycle", call, resource=name, version=version)

    # -- events and audit -------------------------------------------------------------------

    async def _append(self, event: Event | None, audit: AuditRecord | None) -> tuple[Event | None, AuditRecord | None]:
        return await self._call("append", self.inner.append(event, audit))

    async def read_events(self, after: int, limit: int = 1000) -> list[Event]:
        return await self._call("read_events", self.inner.read_events(after, limit), after=after)

    async def last_sequence(self) -> int:
        return await self._call("last_sequence", self.inner.last_sequence())

    async def first_sequence(self) -> int:
        return await self._call("first_sequence", self.inner.first_sequence())

    async def trim_events(self, *, older_than: datetime | None = None, keep_last: int | None = None) -> int:
        return await self._call("trim_events", self.inner.trim_events(older_than=older_than, keep_last=keep_last))

    async def query_audit(self, query: AuditQuery) -> AuditPage:
        return await self._call("query_audit", self.inner.query_audit(query))

    # -- sync state and leases --------------------------------------------------------------

    async def get_sync_state(self, source: str) -> SyncState | None:
        return await self._call("get_sync_state", self.inner.get_sync_state(source), source=source)

    async def put_sync_state(self, state: SyncState) -> None:
        await self._call("put_sync_state", self.inner.put_sync_state(state), source=state.source)

    async def acquire_lease(self, name: str, holder: str, ttl: timedelta) -> Lease | None:
        return await self._call("acquire_lease", self.inner.acquire_lease(name, holder, ttl), lease=name)

    async def renew_lease(self, name: str, holder: str, ttl: timedelta) -> Lease | None:
        return await self._call("renew_lease", self.inner.renew_lease(name, holder, ttl), lease=name)

    async def release_lease(self, name: str, holder: str) -> None:
        await self._call("release_lease", self.inner.release_lease(name, holder), lease=name)

    async def get_lease(self, name: str) -> Lease | None:
        return await self._call("get_lease", self.inner.get_lease(name), lease=name)
