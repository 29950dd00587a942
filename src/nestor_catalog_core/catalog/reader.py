"""``CatalogReader``: the read API over an in-memory read model, shared by the ``Catalog``
(backed by a store it writes to) and by mirrors (fed by a remote catalog's events).

Everything here is synchronous and served from memory: dict lookups, cached bodies and
models, index intersections. The read model changes only through ``apply_event`` (events
in sequence order) or ``replace_model`` (a full rebuild), so every reader sees states that
some prefix of the event log produced.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from typing import Any

from nestor_catalog_core._exceptions import (
    InvalidRequest,
    InvalidVersion,
    NoMatchingVersion,
    ResourceNotFound,
    VersionNotFound,
)
from nestor_catalog_core.catalog.read_model import (
    NO_FILTERS,
    CatalogEntry,
    ListFilters,
    NameState,
    Page,
    ReadModel,
    decode_cursor,
    encode_cursor,
)
from nestor_catalog_core.events.filters import EventFilter
from nestor_catalog_core.events.hub import EventHub, StreamReset
from nestor_catalog_core.models import RESOURCE_EVENTS, Event, Resource, stored_from_body
from nestor_catalog_core.versions import CompatReport, Constraint, compare, is_version

__all__ = ["CatalogReader"]


class CatalogReader(ABC):
    """Read API over a read model; subclasses say where older events come from."""

    def __init__(self, *, event_buffer: int = 10_000) -> None:
        self._model = ReadModel()
        self._hub = EventHub(capacity=event_buffer)

    @property
    def revision(self) -> int:
        """Sequence of the last event applied to the read model (an ETag for lists)."""
        return self._model.revision

    @property
    def hub(self) -> EventHub:
        return self._hub

    @property
    def read_only(self) -> bool:
        return True

    # -- where replays come from -----------------------------------------------------------

    @abstractmethod
    async def read_events(self, after: int, limit: int) -> list[Event]:
        """Durable events with ``sequence > after`` (for subscribers behind the ring)."""

    @abstractmethod
    async def first_sequence(self) -> int:
        """The oldest event still available to ``read_events``."""

    # -- changing the read model -----------------------------------------------------------

    def replace_model(self, model: ReadModel) -> None:
        """Swap in a rebuilt read model (start-up, reset) and restart the hub at its revision."""
        self._model = model
        self._hub.reset_head(model.revision)

    def apply_event(self, event: Event) -> bool:
        """Apply the next event in sequence. Returns True when applied or already seen,
        False when events are missing before it (the caller must fetch them first)."""
        if event.sequence != self._model.revision + 1:
            return event.sequence <= self._model.revision
        self._apply(event)
        return True

    def _apply(self, event: Event) -> None:
        if event.type in RESOURCE_EVENTS and "status" in event.data:
            stored = stored_from_body(event.data)
            if not stored.sequence:
                stored = stored.with_changes(sequence=event.sequence)
            self._model.upsert(stored)
        self._model.revision = event.sequence
        self._hub.append(event)

    def subscribe(
        self,
        event_filter: EventFilter | None = None,
        *,
        since: int | None = None,
        **criteria: Any,
    ) -> AsyncIterator[Event | StreamReset]:
        """Events after ``since`` (or from now), then live ones, as an async iterator.

        ``criteria`` are ``EventFilter.of`` keywords (provider, category, name,
        resource_type, types). A ``StreamReset`` says the position is older than
        retention: re-list, then keep iterating.
        """
        if event_filter is None:
            event_filter = EventFilter.of(**criteria)
        return self._hub.stream(
            since=since,
            event_filter=event_filter,
            read_events=self.read_events,
            first_sequence=self.first_sequence,
        )

    # -- reads -----------------------------------------------------------------------------

    def _state(self, name: str) -> NameState:
        state = self._model.names.get(name)
        if state is None:
            raise ResourceNotFound(name)
        return state

    def entry(self, name: str, version: str) -> CatalogEntry:
        """An exact version, withdrawn ones included (check ``entry.withdrawn``)."""
        entry = self._model.versions.get((name, version))
        if entry is None:
            raise VersionNotFound(name, version)
        return entry

    def get(self, name: str, version: str) -> Resource:
        return self.entry(name, version).resource()

    def latest_entry(self, name: str) -> CatalogEntry:
        state = self._state(name)
        if state.latest is None:
            raise NoMatchingVersion(
                f"{name} has no available version (all withdrawn or past their sunset date)",
                details={"resource_name": name},
            )
        return state.latest

    def latest(self, name: str) -> Resource:
        return self.latest_entry(name).resource()

    def resolve_entry(self, name: str, constraint: str | Constraint) -> CatalogEntry:
        parsed = constraint if isinstance(constraint, Constraint) else Constraint.parse(constraint)
        entry = self._state(name).resolve(parsed)
        if entry is None:
            raise NoMatchingVersion(
                f"no available version of {name} matches {str(parsed)!r}",
                details={
                    "resource_name": name,
                    "constraint": str(parsed),
                    "available": list(self._state(name).available),
                },
            )
        return entry

    def resolve(self, name: str, constraint: str | Constraint) -> Resource:
        """The highest available version of ``name`` allowed by ``constraint``."""
        return self.resolve_entry(name, constraint).resource()

    def versions(self, name: str) -> list[CatalogEntry]:
        """Every version of ``name``, newest first, withdrawn ones included."""
        return list(reversed(self._state(name).entries))

    def diff(self, name: str, from_version: str | None = None, to_version: str | None = None) -> CompatReport:
        """Every change from ``from_version`` to ``to_version`` of ``name`` (the compatibility
        engine's report: rule id, field, both values and the bump each needs).

        ``to_version`` defaults to the latest version, ``from_version`` to the highest version
        below ``to_version`` (withdrawn ones included: they were published). Either may be any
        published version, so a "downgrade" diff is allowed (its ``declared`` is ``none``).
        Raises ``VersionNotFound`` (``InvalidVersion`` for text that is not a version) and
        ``NoMatchingVersion`` when there is no previous version to compare with."""
        state = self._state(name)
        target = self._diff_side(name, to_version) if to_version is not None else self.latest_entry(name)
        if from_version is not None:
            origin = self._diff_side(name, from_version)
        else:
            previous = state.predecessor(target.version)
            if previous is None:
                raise NoMatchingVersion(
                    f"{name} {target.version} is the first version: there is no previous version to compare with",
                    details={"resource_name": name, "version": target.version},
                )
            origin = previous
        return compare(origin.definition(), target.definition())

    def _diff_side(self, name: str, version: str) -> CatalogEntry:
        if not is_version(version):
            raise InvalidVersion(
                f"{version!r} is not a version: expected a full SemVer 2.0.0 version like 1.2.3",
                details={"resource_name": name, "version": version},
            )
        return self.entry(name, version)

    def snapshot(self) -> tuple[int, list[CatalogEntry]]:
        """Every version (withdrawn ones included), by name then version, with the revision
        they are the state of: taken in one step, so it is consistent."""
        model = self._model
        revision = model.revision
        entries = [entry for name in sorted(model.names) for entry in model.names[name].entries]
        return revision, entries

    def has(self, name: str, version: str | None = None) -> bool:
        if version is None:
            return name in self._model.names
        return (name, version) in self._model.versions

    def names(self) -> list[str]:
        return list(self._model.sorted_names)

    def list_latest(
        self, filters: ListFilters = NO_FILTERS, *, limit: int = 50, cursor: str | None = None, facets: bool = False
    ) -> Page:
        """The latest version of every name matching ``filters``, by name, a page at a time."""
        return self._model.list_page(filters, limit=_check_limit(limit), cursor=cursor, facets=facets)

    def facets(self, filters: ListFilters = NO_FILTERS) -> dict[str, dict[str, int]]:
        """Counts per provider, category, resource_type and engine over the filtered names."""
        return self._model.selection_facets(filters)

    def search(
        self,
        q: str,
        filters: ListFilters = NO_FILTERS,
        *,
        limit: int = 20,
        cursor: str | None = None,
        facets: bool = False,
    ) -> Page:
        """Ranked search over the latest versions (see ``search.index`` for the ranking)."""
        limit = _check_limit(limit)
        fingerprint = json.dumps([q, filters.fingerprint()])
        offset = 0
        if cursor:
            position = decode_cursor(cursor, "search", fingerprint)
            offset = int(position) if position.isdigit() else 0
        ranked = self._model.ranked(q, filters)
        chosen = ranked[offset : offset + limit]
        items = [entry for name, _ in chosen if (entry := self._model.names[name].latest) is not None]
        more = offset + limit < len(ranked)
        return Page(
            items=items,
            next_cursor=encode_cursor("search", str(offset + limit), fingerprint) if more else None,
            total=len(ranked),
            facets=self._model.ranked_facets(q, filters) if facets else None,
        )

    def stats(self) -> dict[str, int]:
        versions = self._model.versions.values()
        return {
            "resources": len(self._model.sorted_names),
            "names": len(self._model.names),
            "versions": len(self._model.versions),
            "withdrawn": sum(1 for e in versions if e.withdrawn),
            "deprecated": sum(1 for e in versions if e.deprecated),
            "revision": self._model.revision,
        }


def _check_limit(limit: int) -> int:
    if not 1 <= limit <= 1000:
        raise InvalidRequest("limit must be between 1 and 1000", details={"limit": limit})
    return limit
