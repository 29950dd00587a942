"""The storage interface every adapter implements.

Semantics (proven for every adapter by ``tests/core/storage/test_conformance.py``):

- **Atomic publish.** ``publish`` writes the version, its event and its audit record, and
  claims the name for the version's source, as one all-or-nothing write. It is a
  *conditional* write: it never reads-then-writes outside the store's own transaction, so
  two writers racing on one ``(name, version)`` cannot both win.
- **Immutability.** Publishing an existing ``(name, version)`` with the same digest writes
  nothing and reports ``created=False``; with another digest it raises
  ``ImmutableVersionError`` and writes nothing.
- **Ownership.** The first source to publish a name owns it; another source publishing
  the same name raises ``OwnershipConflict``.
- **Event log.** Every event gets the next sequence number: gap-free, monotonic, starting
  at 1, assigned inside the same write as what it describes. Retention trims the oldest
  events only; ``first_sequence`` then tells readers what they can no longer replay.
- **Sync state** per source and **leases** (one holder until expiry; a fencing token that
  grows on every acquisition) for leader election.

The shape maps one to one onto DynamoDB: a publish is a ``TransactWriteItems`` of the
version (``attribute_not_exists``), the owner claim, the sequence counter (condition on
its current value), the event and the audit item.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, ClassVar, Self

from nestor_catalog_core._exceptions import CatalogError, ConfigError, ImmutableVersionError, OwnershipConflict
from nestor_catalog_core.models import (
    AuditRecord,
    Event,
    Lease,
    StoredVersion,
    SyncState,
)
from nestor_catalog_core.storage._common import normalize_audit, normalize_event

__all__ = ["AuditPage", "AuditQuery", "ComponentStore", "PublishOutcome"]


@dataclass(frozen=True, slots=True)
class PublishOutcome:
    """What ``publish`` did. ``created`` is False for an idempotent re-publish (same
    digest), in which case ``version`` is the stored one and nothing else was written."""

    created: bool
    version: StoredVersion
    event: Event | None = None
    audit: AuditRecord | None = None


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """Filters for ``query_audit``; all given ones must match. Results are newest first.

    ``since`` is inclusive, ``until`` exclusive. ``cursor`` is the ``next_cursor`` of the
    previous page; paging is keyset (by the store-assigned audit id, which sorts by
    timestamp), so records arriving meanwhile never shift or repeat later pages.
    """

    resource: str | None = None
    version: str | None = None
    user: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class AuditPage:
    records: list[AuditRecord]
    next_cursor: str | None


class ComponentStore(ABC):
    """Durable storage of published versions, the event log, audit, sync state and leases.

    Implementations are chosen by URI scheme (see ``nestor_catalog_core.storage.open_store``).
    All methods are coroutines; blocking drivers run off the event loop.
    """

    scheme: ClassVar[str]

    @classmethod
    def from_uri(cls, uri: str, **options: Any) -> Self:
        """Construct (without opening) a store from its URI and options; ``open_store`` calls
        this. Adapters that can be chosen by URI override it; raise ``ConfigError`` for a bad
        URI or option. The adapter is the one judge of its options: the server's config only
        builds the URI and constructs the store to check it, so an error about one option
        carries ``details={"option": name, "reason": what is wrong}`` and the config error
        names that key with its line in the file."""
        raise ConfigError(f"{cls.__name__} cannot be opened from a URI ({uri!r})")

    # -- lifecycle -------------------------------------------------------------------------

    @abstractmethod
    async def open(self) -> None:
        """Connect and create or migrate the schema. Idempotent."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections. Idempotent."""

    @abstractmethod
    async def ping(self) -> None:
        """Raise ``StorageUnavailable`` when the store cannot be reached."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- versions --------------------------------------------------------------------------

    @abstractmethod
    async def publish(
        self, version: StoredVersion, event: Event, audit: AuditRecord, *, expected_sequence: int | None = None
    ) -> PublishOutcome:
        """Atomically store a new version with its event and audit record (see module doc).

        The stored version's ``sequence`` and the audit record's ``event_sequence`` are the
        event's assigned sequence. Raises ``ImmutableVersionError`` or ``OwnershipConflict``
        without writing anything.

        With ``expected_sequence`` (the last event the caller's read model has applied), the
        write happens only if it is still the store's last event sequence, checked in the
        same atomic step: otherwise ``ConcurrentWrite`` (``concurrent_error``) and nothing
        is written. The catalog publishes this way, so the checks it made against its read
        model (compatibility with the predecessor) can never be overtaken by another writer
        between its read and its write, and it needs no read of the log before each write.
        """

    async def publish_many(
        self, items: Sequence[tuple[StoredVersion, Event, AuditRecord]]
    ) -> list[PublishOutcome | CatalogError]:
        """Publish several versions, each with exactly ``publish``'s semantics and atomicity,
        in order; a refused item (``ImmutableVersionError``, ``OwnershipConflict``) is
        returned in its place and does not stop the others. Adapters that can commit many
        items at once (one SQLite transaction) override this; the default loops."""
        out: list[PublishOutcome | CatalogError] = []
        for version, event, audit in items:
            try:
                out.append(await self.publish(version, event, audit))
            except (ImmutableVersionError, OwnershipConflict) as exc:
                out.append(exc)
        return out

    @abstractmethod
    async def get_version(self, name: str, version: str) -> StoredVersion | None: ...

    @abstractmethod
    async def list_versions(self, name: str) -> list[StoredVersion]:
        """Every stored version of ``name`` (withdrawn ones included), in any order."""

    @abstractmethod
    def scan_versions(self, *, page_size: int = 1000) -> AsyncIterator[StoredVersion]:
        """Every stored version, page by page (to rebuild a read model)."""

    @abstractmethod
    async def get_owner(self, name: str) -> str | None:
        """The ``Source.owner`` that first published ``name``."""

    async def set_lifecycle(
        self, name: str, version: str, document: bytes, deprecated: bool, event: Event, audit: AuditRecord
    ) -> StoredVersion:
        """Replace a version's document with one differing only in its lifecycle block,
        atomically with the event and audit record. Raises ``VersionNotFound``. The caller
        guarantees the digest is unchanged."""
        changes = {"document": bytes(document), "deprecated": deprecated}
        return await self._update_version(name, version, normalize_event(event), normalize_audit(audit), changes)

    async def set_withdrawn(
        self, name: str, version: str, withdrawn: bool, event: Event, audit: AuditRecord
    ) -> StoredVersion:
        """Withdraw or restore a version atomically with its event and audit record.
        Raises ``VersionNotFound``."""
        changes = {"withdrawn": withdrawn}
        return await self._update_version(name, version, normalize_event(event), normalize_audit(audit), changes)

    @abstractmethod
    async def _update_version(
        self, name: str, version: str, event: Event, audit: AuditRecord, changes: dict[str, Any]
    ) -> StoredVersion:
        """What ``set_lifecycle`` and ``set_withdrawn`` share: the stored version with
        ``changes`` (``StoredVersion`` fields) and ``updated_at = event.time``, written
        atomically with ``event`` and ``audit`` (both already normalized to UTC). Raises
        ``VersionNotFound``."""

    # -- events and audit ------------------------------------------------------------------

    async def append(self, event: Event | None, audit: AuditRecord | None) -> tuple[Event | None, AuditRecord | None]:
        """Record an event and/or an audit record that change no version (rejections,
        sync results), atomically. Returns them as stored (sequence, id assigned)."""
        if event is None and audit is None:
            return None, None
        return await self._append(
            normalize_event(event) if event is not None else None,
            normalize_audit(audit) if audit is not None else None,
        )

    @abstractmethod
    async def _append(self, event: Event | None, audit: AuditRecord | None) -> tuple[Event | None, AuditRecord | None]:
        """``append``'s write: at least one of ``event`` and ``audit`` is given, both
        already normalized to UTC."""

    @abstractmethod
    async def read_events(self, after: int, limit: int = 1000) -> list[Event]:
        """Events with ``sequence > after``, ascending, at most ``limit``."""

    @abstractmethod
    async def last_sequence(self) -> int:
        """The newest assigned sequence, 0 for an empty log (kept across retention)."""

    @abstractmethod
    async def first_sequence(self) -> int:
        """The oldest retained sequence; ``last_sequence() + 1`` when nothing is retained."""

    @abstractmethod
    async def trim_events(self, *, older_than: datetime | None = None, keep_last: int | None = None) -> int:
        """Apply retention: drop events older than ``older_than`` and beyond the newest
        ``keep_last``. Returns how many were dropped. Sequences are never reused.

        Only a prefix of the log is ever dropped, so the retained events stay contiguous:
        an old event that follows a younger one (clock skew between writers) is kept."""

    @abstractmethod
    async def query_audit(self, query: AuditQuery) -> AuditPage: ...

    # -- sync state ------------------------------------------------------------------------

    @abstractmethod
    async def get_sync_state(self, source: str) -> SyncState | None: ...

    @abstractmethod
    async def put_sync_state(self, state: SyncState) -> None: ...

    # -- leases ----------------------------------------------------------------------------

    @abstractmethod
    async def acquire_lease(self, name: str, holder: str, ttl: timedelta) -> Lease | None:
        """Take the lease if it is free, expired, or already ``holder``'s (then renewed).
        Returns the lease now held, or None when another holder has it."""

    @abstractmethod
    async def renew_lease(self, name: str, holder: str, ttl: timedelta) -> Lease | None:
        """Extend ``holder``'s unexpired lease; None when it was lost."""

    @abstractmethod
    async def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up if ``holder`` has it; otherwise do nothing."""

    @abstractmethod
    async def get_lease(self, name: str) -> Lease | None:
        """The current unexpired lease, if any."""
