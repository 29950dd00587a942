"""What the catalog stores about definitions: provenance, published versions, events, audit
records, sync state and leases.

These are plain frozen dataclasses (cheap to hold 100k of in the read model) with explicit
``to_dict``/``from_dict`` so every storage adapter serializes them the same way.
Times are timezone-aware UTC and serialize as RFC 3339 with ``Z``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import Any, Final

from nestor_catalog_core.models.definition import ResourceDefinition, canonical_json

__all__ = [
    "RESOURCE_EVENTS",
    "AuditRecord",
    "Event",
    "EventType",
    "Lease",
    "Source",
    "SourceKind",
    "StoredVersion",
    "SyncState",
    "format_time",
    "parse_time",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` and microseconds only when present."""
    value = value.astimezone(UTC)
    text = value.isoformat(timespec="microseconds" if value.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _opt_time(value: str | None) -> datetime | None:
    return parse_time(value) if value else None


class SourceKind(StrEnum):
    GIT = "git"
    LOCAL = "local"
    API = "api"


@dataclass(frozen=True, slots=True)
class Source:
    """Where a version came from. A name is owned by the source (``owner``) that first
    published it."""

    kind: SourceKind
    repository: str | None = None  # the configured source name (git repo or local dir)
    path: str | None = None  # path of the file inside the repository
    commit: str | None = None
    author_email: str | None = None
    committed_at: datetime | None = None
    user: str | None = None  # who published through the API

    @property
    def owner(self) -> str:
        """The ownership key: ``git:<repo>``, ``local:<dir>`` or ``api``."""
        if self.kind is SourceKind.API:
            return "api"
        return f"{self.kind.value}:{self.repository}"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind.value}
        for key in ("repository", "path", "commit", "author_email", "user"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        if self.committed_at is not None:
            data["committed_at"] = format_time(self.committed_at)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Source:
        return cls(
            kind=SourceKind(data["kind"]),
            repository=data.get("repository"),
            path=data.get("path"),
            commit=data.get("commit"),
            author_email=data.get("author_email"),
            committed_at=_opt_time(data.get("committed_at")),
            user=data.get("user"),
        )


@dataclass(frozen=True, slots=True)
class StoredVersion:
    """One published ``(name, version)`` with its status.

    ``document`` is the canonical JSON of the definition including its current lifecycle
    block; ``digest`` covers the definition without it and never changes.
    """

    name: str
    version: str
    digest: str
    document: bytes
    provider: str
    category: str
    resource_type: str
    source: Source
    published_at: datetime
    sequence: int = 0  # sequence of the event that published it (0 until stored)
    updated_at: datetime | None = None  # last lifecycle/withdrawal change
    withdrawn: bool = False
    deprecated: bool = False

    @classmethod
    def from_definition(
        cls,
        definition: ResourceDefinition,
        source: Source,
        *,
        published_at: datetime | None = None,
        digest: str | None = None,
        document: bytes | None = None,
    ) -> StoredVersion:
        """``document``, when given, is ``canonical_json(definition.to_dict())`` already built."""
        meta = definition.metadata
        return cls(
            name=meta.name,
            version=meta.version,
            digest=digest or definition.compute_digest(),
            document=document if document is not None else canonical_json(definition.to_dict()),
            provider=meta.provider,
            category=meta.category,
            resource_type=meta.resource_type,
            source=source,
            published_at=published_at or utcnow(),
            deprecated=meta.deprecation is not None,
        )

    @property
    def key(self) -> tuple[str, str]:
        return (self.name, self.version)

    @property
    def sunset_at(self) -> datetime | None:
        """When a deprecated version stops resolving: 00:00 UTC of its ``sunset`` date (None
        when it is not deprecated or names no sunset). Reads the stored document, so callers
        that ask often cache it (``CatalogEntry.sunset_at``)."""
        if not self.deprecated:
            return None
        deprecation = (json.loads(self.document).get("metadata") or {}).get("deprecation") or {}
        sunset = deprecation.get("sunset")
        if not isinstance(sunset, str):
            return None
        try:
            day = date.fromisoformat(sunset)
        except ValueError:
            return None
        return datetime.combine(day, time(0, 0), tzinfo=UTC)

    def is_sunset(self, now: datetime | None = None) -> bool:
        """Whether the sunset moment has come (``now`` defaults to the current time)."""
        moment = self.sunset_at
        return moment is not None and (now or utcnow()) >= moment

    def definition(self) -> ResourceDefinition:
        """Parse the stored document (callers that read often cache the result)."""
        return ResourceDefinition.model_validate_json(self.document, strict=False)

    def document_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.document)
        return data

    def with_changes(self, **changes: Any) -> StoredVersion:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "digest": self.digest,
            "document": self.document.decode(),
            "provider": self.provider,
            "category": self.category,
            "resource_type": self.resource_type,
            "source": self.source.to_dict(),
            "published_at": format_time(self.published_at),
            "sequence": self.sequence,
            "updated_at": format_time(self.updated_at) if self.updated_at else None,
            "withdrawn": self.withdrawn,
            "deprecated": self.deprecated,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StoredVersion:
        document = data["document"]
        return cls(
            name=data["name"],
            version=data["version"],
            digest=data["digest"],
            document=document.encode() if isinstance(document, str) else bytes(document),
            provider=data["provider"],
            category=data["category"],
            resource_type=data["resource_type"],
            source=Source.from_dict(data["source"]),
            published_at=parse_time(data["published_at"]),
            sequence=int(data.get("sequence", 0)),
            updated_at=_opt_time(data.get("updated_at")),
            withdrawn=bool(data.get("withdrawn", False)),
            deprecated=bool(data.get("deprecated", False)),
        )


def _stored_version_builder() -> Callable[..., StoredVersion]:
    """A constructor of ``StoredVersion`` from its 13 fields in order, for a storage scan:
    the slots are set through their descriptors, which is what the frozen dataclass's
    ``__init__`` does field by field through ``object.__setattr__``, in half its time (a
    cold start builds every stored version: 100,000 of them)."""
    new = object.__new__
    (
        set_name,
        set_version,
        set_digest,
        set_document,
        set_provider,
        set_category,
        set_resource_type,
        set_source,
        set_published_at,
        set_sequence,
        set_updated_at,
        set_withdrawn,
        set_deprecated,
    ) = (getattr(StoredVersion, f.name).__set__ for f in fields(StoredVersion))

    def build(
        name: str,
        version: str,
        digest: str,
        document: bytes,
        provider: str,
        category: str,
        resource_type: str,
        source: Source,
        published_at: datetime,
        sequence: int,
        updated_at: datetime | None,
        withdrawn: bool,
        deprecated: bool,
    ) -> StoredVersion:
        stored: StoredVersion = new(StoredVersion)
        set_name(stored, name)
        set_version(stored, version)
        set_digest(stored, digest)
        set_document(stored, document)
        set_provider(stored, provider)
        set_category(stored, category)
        set_resource_type(stored, resource_type)
        set_source(stored, source)
        set_published_at(stored, published_at)
        set_sequence(stored, sequence)
        set_updated_at(stored, updated_at)
        set_withdrawn(stored, withdrawn)
        set_deprecated(stored, deprecated)
        return stored

    return build


#: ``StoredVersion(*fields)`` for storage scans (fields in declaration order, already in the
#: types they have: no conversion or check happens here).
stored_version_of: Final = _stored_version_builder()


class EventType(StrEnum):
    """Event types on the durable log and the SSE stream."""

    RESOURCE_CREATED = "resource.created"  # first version of a name
    RESOURCE_UPDATED = "resource.updated"  # a new version of an existing name, or a restore
    RESOURCE_DEPRECATED = "resource.deprecated"  # lifecycle block added, changed or removed
    RESOURCE_DELETED = "resource.deleted"  # a version withdrawn (its file left the source)
    RESOURCE_SUNSET = "resource.sunset"  # a deprecated version reached its sunset date: no longer resolved
    SYNC_COMPLETED = "sync.completed"
    SYNC_FAILED = "sync.failed"
    SYNC_HELD = "sync.held"  # the withdraw guard stopped a sync; nothing was applied
    VALIDATION_FAILED = "validation.failed"


#: The event types whose data is a resource body (with ``status``): a version's life.
RESOURCE_EVENTS: Final = frozenset(
    {
        EventType.RESOURCE_CREATED,
        EventType.RESOURCE_UPDATED,
        EventType.RESOURCE_DEPRECATED,
        EventType.RESOURCE_DELETED,
        EventType.RESOURCE_SUNSET,
    }
)


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of the durable event log. ``sequence`` is gap-free and monotonic per
    store; it is 0 until the store assigns it. ``data`` is JSON-safe.

    ``data_json`` is ``data`` already encoded, when the writer has it (the Catalog's publish:
    the document's canonical JSON with its status appended, which the event stream serves
    too): stores write it instead of encoding ``data`` again. It must decode to ``data``;
    it takes no part in equality, and a copy with other ``data`` must drop it."""

    type: EventType
    time: datetime
    data: dict[str, Any] = field(default_factory=dict)
    name: str | None = None
    version: str | None = None
    provider: str | None = None
    category: str | None = None
    resource_type: str | None = None
    sequence: int = 0
    data_json: bytes | None = field(default=None, compare=False, repr=False)

    def with_sequence(self, sequence: int) -> Event:
        return replace(self, sequence=sequence)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sequence": self.sequence,
            "type": self.type.value,
            "time": format_time(self.time),
            "name": self.name,
            "version": self.version,
            "provider": self.provider,
            "category": self.category,
            "resource_type": self.resource_type,
            "data": self.data,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Event:
        return cls(
            sequence=int(data.get("sequence", 0)),
            type=EventType(data["type"]),
            time=parse_time(data["time"]),
            name=data.get("name"),
            version=data.get("version"),
            provider=data.get("provider"),
            category=data.get("category"),
            resource_type=data.get("resource_type"),
            data=dict(data.get("data") or {}),
        )


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """Who changed what, when, from where; shaped like the spec's audit example.

    ``action`` is the event type of the change, or ``resource.rejected`` for a publish the
    catalog refused. ``changes`` lists the changed field paths against the predecessor.
    """

    action: str
    resource: str | None
    version: str | None
    user: str | None
    timestamp: datetime
    changes: list[str] = field(default_factory=list)
    git_commit: str | None = None
    source: Source | None = None
    outcome: str = "accepted"  # accepted | rejected | noop
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    id: str = ""  # assigned by the store; sortable by time
    event_sequence: int | None = None  # the event written with it, if any

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event": self.action,
            "resource": self.resource,
            "version": self.version,
            "user": self.user,
            "timestamp": format_time(self.timestamp),
            "changes": list(self.changes),
            "git_commit": self.git_commit,
            "source": self.source.to_dict() if self.source else None,
            "outcome": self.outcome,
            "reason": self.reason,
            "details": self.details,
            "event_sequence": self.event_sequence,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditRecord:
        return cls(
            id=data.get("id", ""),
            action=data["event"],
            resource=data.get("resource"),
            version=data.get("version"),
            user=data.get("user"),
            timestamp=parse_time(data["timestamp"]),
            changes=list(data.get("changes") or []),
            git_commit=data.get("git_commit"),
            source=Source.from_dict(data["source"]) if data.get("source") else None,
            outcome=data.get("outcome", "accepted"),
            reason=data.get("reason"),
            details=dict(data.get("details") or {}),
            event_sequence=data.get("event_sequence"),
        )


@dataclass(frozen=True, slots=True)
class SyncState:
    """What a source's last successful sync reached, so a restart resumes incrementally.

    ``files`` maps each synced path to ``[blob_sha, name, version]`` (the version it
    published), which lets a sync diff against the stored tree even after a force-push
    or with a fresh mirror. ``data`` holds anything else a source kind needs.
    """

    source: str
    last_commit: str | None = None
    updated_at: datetime | None = None
    files: dict[str, list[str]] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "last_commit": self.last_commit,
            "updated_at": format_time(self.updated_at) if self.updated_at else None,
            "files": self.files,
            "data": self.data,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SyncState:
        return cls(
            source=data["source"],
            last_commit=data.get("last_commit"),
            updated_at=_opt_time(data.get("updated_at")),
            files={k: list(v) for k, v in (data.get("files") or {}).items()},
            data=dict(data.get("data") or {}),
        )


@dataclass(frozen=True, slots=True)
class Lease:
    """A named lease: exactly one holder until ``expires_at``. ``token`` increases on every
    acquisition (a fencing token)."""

    name: str
    holder: str
    expires_at: datetime
    token: int
