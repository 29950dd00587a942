"""``MemoryStore``: the whole catalog in process memory, for tests and in-process use.

It keeps exactly the semantics of the durable adapters (the conformance suite runs on
it), including the failures: records that are not JSON-safe are refused, stored records
are private copies (mutating an event you passed in or got back changes nothing stored),
and a closed store raises ``StorageUnavailable``. Data lives as long as the object: closing
and re-opening the same instance keeps it; a new instance starts empty.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, ClassVar, Self

from nestor_catalog_core._exceptions import ConfigError, StorageUnavailable, VersionNotFound
from nestor_catalog_core.models import (
    AuditRecord,
    Event,
    Lease,
    StoredVersion,
    SyncState,
    utcnow,
)
from nestor_catalog_core.storage._common import (
    LeaseDecision,
    LeaseRow,
    RowLeases,
    audit_id,
    audit_range,
    check_after,
    check_limit,
    concurrent_error,
    dump_json,
    ensure_utc,
    event_data_json,
    immutable_error,
    load_json,
    next_cursor,
    normalize_audit,
    normalize_event,
    normalize_version,
    ownership_error,
    retention_cutoff,
    split_uri,
    uri_options,
)
from nestor_catalog_core.storage.base import AuditPage, AuditQuery, ComponentStore, PublishOutcome

__all__ = ["MemoryStore"]


@dataclass(frozen=True, slots=True)
class _StoredEvent:
    """An event with its ``data`` kept as JSON text, so nobody holds a reference into it."""

    event: Event
    data_json: str

    def materialize(self) -> Event:
        return replace(self.event, data=load_json(self.data_json))


@dataclass(frozen=True, slots=True)
class _StoredAudit:
    id: str
    action: str
    resource: str | None
    version: str | None
    user: str | None
    record_json: str

    def materialize(self) -> AuditRecord:
        return AuditRecord.from_dict(load_json(self.record_json))

    def matches(self, query: AuditQuery) -> bool:
        return all(
            wanted is None or wanted == actual
            for wanted, actual in (
                (query.resource, self.resource),
                (query.version, self.version),
                (query.user, self.user),
                (query.action, self.action),
            )
        )


class MemoryStore(RowLeases, ComponentStore):
    """An in-process ``ComponentStore``.

    URI: ``memory://`` or ``memory://<name>``; the name is only a label (in ``repr`` and
    logs), two stores with the same name do not share data. No options.

    Every operation runs under one ``threading.Lock`` and contains no ``await`` while it
    holds it, so each is atomic with respect to other tasks on the loop and to other
    threads (a sync facade may call it from a worker thread), and the store is not tied
    to one event loop.
    """

    scheme: ClassVar[str] = "memory"

    def __init__(self, name: str = "", *, clock: Callable[[], datetime] = utcnow) -> None:
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()
        self._open = False
        self._versions: dict[str, dict[str, StoredVersion]] = {}
        self._sorted_keys: list[tuple[str, str]] = []
        self._owners: dict[str, str] = {}
        self._events: list[_StoredEvent] = []
        self._last_sequence = 0
        self._audit: list[_StoredAudit] = []
        self._audit_counter = 0
        self._sync: dict[str, str] = {}
        self._leases: dict[str, LeaseRow] = {}

    @classmethod
    def from_uri(cls, uri: str, **options: Any) -> Self:
        netloc, path, query = split_uri(uri, cls.scheme)
        if path not in ("", "/"):
            raise ConfigError(f"memory:// URIs take only a name (memory://<name>), got {uri!r}")
        clock = options.pop("clock", utcnow)
        uri_options(cls.scheme, query, options, frozenset())
        return cls(name=netloc, clock=clock)

    def __repr__(self) -> str:
        return f"MemoryStore(name={self.name!r}, open={self._open})"

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        with self._lock:
            self._open = True

    async def close(self) -> None:
        with self._lock:
            self._open = False

    async def ping(self) -> None:
        with self._lock:
            self._check_open()

    def _check_open(self) -> None:
        if not self._open:
            raise StorageUnavailable(f"memory store {self.name!r} is not open", details={"store": "memory"})

    # -- versions --------------------------------------------------------------------------

    async def publish(
        self, version: StoredVersion, event: Event, audit: AuditRecord, *, expected_sequence: int | None = None
    ) -> PublishOutcome:
        version, event, audit = normalize_version(version), normalize_event(event), normalize_audit(audit)
        event_data = event_data_json(event)
        with self._lock:
            self._check_open()
            if expected_sequence is not None and expected_sequence != self._last_sequence:
                raise concurrent_error(expected_sequence, self._last_sequence)
            owner = self._owners.get(version.name)
            if owner is not None and owner != version.source.owner:
                raise ownership_error(version.name, owner, version.source.owner)
            stored = self._versions.get(version.name, {}).get(version.version)
            if stored is not None:
                if stored.digest != version.digest:
                    raise immutable_error(stored, version)
                return PublishOutcome(created=False, version=stored)
            sequence = self._last_sequence + 1
            stored_event = self._prepare_event(event, event_data, sequence)
            stored_audit = self._prepare_audit(audit, sequence)
            stored = replace(version, sequence=sequence)
            self._commit(stored_event, stored_audit)
            self._owners.setdefault(version.name, version.source.owner)
            self._versions.setdefault(version.name, {})[version.version] = stored
            bisect.insort(self._sorted_keys, stored.key)
        return PublishOutcome(
            created=True, version=stored, event=stored_event.materialize(), audit=stored_audit.materialize()
        )

    async def get_version(self, name: str, version: str) -> StoredVersion | None:
        with self._lock:
            self._check_open()
            return self._versions.get(name, {}).get(version)

    async def list_versions(self, name: str) -> list[StoredVersion]:
        with self._lock:
            self._check_open()
            return sorted(self._versions.get(name, {}).values(), key=lambda v: v.sequence)

    async def scan_versions(self, *, page_size: int = 1000) -> AsyncIterator[StoredVersion]:
        check_limit(page_size, "page_size")
        last: tuple[str, str] | None = None
        while True:
            page = self._scan_page(last, page_size)
            for item in page:
                yield item
            if len(page) < page_size:
                return
            last = page[-1].key

    def _scan_page(self, after: tuple[str, str] | None, page_size: int) -> list[StoredVersion]:
        with self._lock:
            self._check_open()
            start = bisect.bisect_right(self._sorted_keys, after) if after is not None else 0
            keys = self._sorted_keys[start : start + page_size]
            return [self._versions[name][version] for name, version in keys]

    async def get_owner(self, name: str) -> str | None:
        with self._lock:
            self._check_open()
            return self._owners.get(name)

    async def _update_version(
        self, name: str, version: str, event: Event, audit: AuditRecord, changes: dict[str, Any]
    ) -> StoredVersion:
        event_data = event_data_json(event)
        with self._lock:
            self._check_open()
            stored = self._versions.get(name, {}).get(version)
            if stored is None:
                raise VersionNotFound(name, version, message=f"{name} {version} is not published")
            sequence = self._last_sequence + 1
            stored_event = self._prepare_event(event, event_data, sequence)
            stored_audit = self._prepare_audit(audit, sequence)
            updated = replace(stored, updated_at=event.time, **changes)
            self._commit(stored_event, stored_audit)
            self._versions[name][version] = updated
        return updated

    # -- events and audit ------------------------------------------------------------------

    async def _append(self, event: Event | None, audit: AuditRecord | None) -> tuple[Event | None, AuditRecord | None]:
        event_data = event_data_json(event) if event is not None else ""
        with self._lock:
            self._check_open()
            stored_event = None
            if event is not None:
                stored_event = self._prepare_event(event, event_data, self._last_sequence + 1)
            sequence = stored_event.event.sequence if stored_event is not None else None
            stored_audit = self._prepare_audit(audit, sequence) if audit is not None else None
            self._commit(stored_event, stored_audit)
        return (
            stored_event.materialize() if stored_event is not None else None,
            stored_audit.materialize() if stored_audit is not None else None,
        )

    def _prepare_event(self, event: Event, data_json: str, sequence: int) -> _StoredEvent:
        return _StoredEvent(event=replace(event, sequence=sequence, data={}, data_json=None), data_json=data_json)

    def _prepare_audit(self, audit: AuditRecord, sequence: int | None) -> _StoredAudit:
        """Assign the id and event sequence and serialize (which may refuse the record)
        before anything is stored, so a refusal leaves no partial write."""
        record = replace(
            audit,
            id=audit_id(audit.timestamp, self._audit_counter + 1),
            event_sequence=sequence if sequence is not None else audit.event_sequence,
        )
        return _StoredAudit(
            id=record.id,
            action=record.action,
            resource=record.resource,
            version=record.version,
            user=record.user,
            record_json=dump_json(record.to_dict(), "AuditRecord"),
        )

    def _commit(self, event: _StoredEvent | None, audit: _StoredAudit | None) -> None:
        if event is not None:
            self._events.append(event)
            self._last_sequence = event.event.sequence
        if audit is not None:
            self._audit_counter += 1
            bisect.insort(self._audit, audit, key=lambda item: item.id)

    async def read_events(self, after: int, limit: int = 1000) -> list[Event]:
        check_after(after)
        check_limit(limit, "limit")
        with self._lock:
            self._check_open()
            first = self._first_sequence()
            start = max(after + 1 - first, 0)
            page = self._events[start : start + limit]
        return [item.materialize() for item in page]

    async def last_sequence(self) -> int:
        with self._lock:
            self._check_open()
            return self._last_sequence

    async def first_sequence(self) -> int:
        with self._lock:
            self._check_open()
            return self._first_sequence()

    def _first_sequence(self) -> int:
        return self._events[0].event.sequence if self._events else self._last_sequence + 1

    async def trim_events(self, *, older_than: datetime | None = None, keep_last: int | None = None) -> int:
        older_than = ensure_utc(older_than, "older_than") if older_than is not None else None
        with self._lock:
            self._check_open()
            first_young = None
            if older_than is not None:
                first_young = next((e.event.sequence for e in self._events if e.event.time >= older_than), None)
            cutoff = retention_cutoff(
                last=self._last_sequence, first_young=first_young, older_than=older_than, keep_last=keep_last
            )
            dropped = max(0, min(cutoff - self._first_sequence(), len(self._events)))
            del self._events[:dropped]
            return dropped

    async def query_audit(self, query: AuditQuery) -> AuditPage:
        bounds = audit_range(query)
        with self._lock:
            self._check_open()
            end = (
                bisect.bisect_left(self._audit, bounds.upper, key=lambda a: a.id) if bounds.upper else len(self._audit)
            )
            found: list[_StoredAudit] = []
            for index in range(end - 1, -1, -1):
                item = self._audit[index]
                if bounds.lower is not None and item.id < bounds.lower:
                    break
                if item.matches(query):
                    found.append(item)
                    if len(found) > bounds.limit:
                        break
        page = found[: bounds.limit]
        return AuditPage(
            records=[item.materialize() for item in page],
            next_cursor=next_cursor([item.id for item in found], bounds.limit),
        )

    # -- sync state ------------------------------------------------------------------------

    async def get_sync_state(self, source: str) -> SyncState | None:
        with self._lock:
            self._check_open()
            text = self._sync.get(source)
        return SyncState.from_dict(load_json(text)) if text is not None else None

    async def put_sync_state(self, state: SyncState) -> None:
        if state.updated_at is not None:
            state = replace(state, updated_at=ensure_utc(state.updated_at, "SyncState.updated_at"))
        text = dump_json(state.to_dict(), "SyncState")
        with self._lock:
            self._check_open()
            self._sync[state.source] = text

    # -- leases ----------------------------------------------------------------------------

    async def _change_lease(self, name: str, decide: LeaseDecision) -> Lease | None:
        with self._lock:
            self._check_open()
            row = decide(self._leases.get(name), self._clock())
            if row is None:
                return None
            self._leases[name] = row
            return row.as_lease() if row.holder is not None else None

    async def get_lease(self, name: str) -> Lease | None:
        with self._lock:
            self._check_open()
            row = self._leases.get(name)
            if row is None or row.is_free(self._clock()):
                return None
            return row.as_lease()
