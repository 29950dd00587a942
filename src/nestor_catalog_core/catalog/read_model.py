"""The in-memory read model: every published version, indexed for lookups in microseconds.

Writers replace per-name state copy-on-write (a new ``NameState`` swapped into a dict), so
readers in any thread see either the old or the new state of a name, never a half-built
one. Index sets are updated in place (copying them per change would make a bulk sync
quadratic); readers only touch them through C-level set operations that run under the
GIL in one step, and ``candidates`` hands out fresh sets, never the live ones.

Serialized bodies and parsed models are built lazily, once per version, and cached: an
immutable version's JSON never changes until its status does (which makes a new entry).
"""

from __future__ import annotations

import base64
import json
import sys
from bisect import bisect_left, bisect_right, insort
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from operator import attrgetter
from typing import Any, Final, get_type_hints

import pydantic_core

from nestor_catalog_core._exceptions import InvalidRequest
from nestor_catalog_core.models import Resource, ResourceStatus, StoredVersion, resource_body, utcnow
from nestor_catalog_core.models.definition import ResourceDefinition
from nestor_catalog_core.search.index import SearchDocument, SearchIndex
from nestor_catalog_core.versions import Constraint, version_key

__all__ = ["FACET_FIELDS", "NO_FILTERS", "CatalogEntry", "ListFilters", "NameState", "Page", "ReadModel"]

FACET_FIELDS = ("provider", "category", "resource_type", "engine")


#: Parsed models kept for readers (``Catalog.get``, ``definition()``: deprecation headers, input
#: schemas), most recently built first out. A parsed definition costs about 12 KB, the version's
#: JSON a quarter of that: keeping one per version tripled the read model (tracemalloc, 10,000
#: generated definitions after a sync), while readers that need models touch a working set.
MODEL_CACHE_SIZE = 4096
#: Models of versions just published, for the compatibility check of the next version of the
#: same name; kept apart so that a sync of 10,000 files does not fill the readers' cache.
PUBLISHED_CACHE_SIZE = 64


class _ModelCache:
    """A bounded map from entry to its parsed models, evicting the oldest insertion. Safe for
    readers in threads: each step is one dict operation, and a lost race only costs a parse."""

    __slots__ = ("_items", "capacity")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[CatalogEntry, tuple[ResourceDefinition, Resource | None]] = OrderedDict()

    def get(self, entry: CatalogEntry) -> tuple[ResourceDefinition, Resource | None] | None:
        return self._items.get(entry)

    def put(self, entry: CatalogEntry, definition: ResourceDefinition, resource: Resource | None) -> None:
        items = self._items
        items[entry] = (definition, resource)
        while len(items) > self.capacity:
            try:
                items.popitem(last=False)
            except KeyError:  # another thread emptied it first
                break

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


_models = _ModelCache(MODEL_CACHE_SIZE)
_published = _ModelCache(PUBLISHED_CACHE_SIZE)


class CatalogEntry:
    """One published version in the read model: the stored record, its version key and its
    served JSON (built once). Parsed models come from a bounded cache shared by all entries."""

    __slots__ = ("_body", "key", "prerelease", "stored", "sunset_at")

    def __init__(self, stored: StoredVersion) -> None:
        self.stored = stored
        self.sunset_at = stored.sunset_at  # None unless deprecated with a sunset date
        self.key = key = version_key(stored.version)
        self.prerelease = key[3] == 0  # is_prerelease, from the key already parsed
        self._body: bytes | None = None

    @property
    def name(self) -> str:
        return self.stored.name

    @property
    def version(self) -> str:
        return self.stored.version

    @property
    def digest(self) -> str:
        return self.stored.digest

    def is_sunset(self, now: datetime) -> bool:
        """Whether the version's sunset moment has come by ``now``."""
        return self.sunset_at is not None and now >= self.sunset_at

    @property
    def withdrawn(self) -> bool:
        return self.stored.withdrawn

    @property
    def deprecated(self) -> bool:
        return self.stored.deprecated

    def body(self) -> bytes:
        """The resource's JSON (definition + status), built once."""
        body = self._body
        if body is None:
            body = self._body = resource_body(self.stored)
        return body

    def seed(self, definition: ResourceDefinition) -> None:
        """Keep a model known to equal the stored document (the one just published) for a while."""
        _published.put(self, definition, None)

    def definition(self) -> ResourceDefinition:
        cached = _models.get(self) or _published.get(self)
        if cached is not None:
            return cached[0]
        definition = self.stored.definition()
        _models.put(self, definition, None)
        return definition

    def resource(self) -> Resource:
        cached = _models.get(self)
        if cached is not None and cached[1] is not None:
            return cached[1]
        if cached is None:
            cached = _published.get(self)
        definition = cached[0] if cached is not None else self.stored.definition()
        resource = Resource(definition=definition, status=ResourceStatus.of(self.stored))
        _models.put(self, definition, resource)
        return resource

    def document_dict(self) -> dict[str, Any]:
        return self.stored.document_dict()


@dataclass(frozen=True, slots=True)
class NameState:
    """Everything about one name; replaced as a whole on every change."""

    name: str
    entries: tuple[CatalogEntry, ...]  # ascending by version precedence
    by_version: dict[str, CatalogEntry]
    available: tuple[str, ...]  # versions latest and constraints may choose (not withdrawn, not sunset), ascending
    latest: CatalogEntry | None
    # facet and filter attributes of the latest version: field -> its values (interned, sorted)
    attributes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    resolved: dict[str, str | None] = field(default_factory=dict)  # constraint text -> version cache

    @classmethod
    def build(cls, name: str, entries: Iterable[CatalogEntry]) -> NameState:
        return cls.derive(name, entries)[0]

    @classmethod
    def derive(
        cls,
        name: str,
        entries: Iterable[CatalogEntry],
        *,
        known: tuple[CatalogEntry, Mapping[str, Any]] | None = None,
        now: datetime | None = None,
    ) -> tuple[NameState, SearchDocument | None]:
        """The state of ``name`` and what search indexes for it (from the latest version; the
        search index keeps its own compact form, so the state does not hold the document).
        ``known`` is an entry with its document as data, used instead of parsing it again;
        ``now`` the moment sunsets are judged at (default: the current time)."""
        ordered = tuple(sorted(entries, key=_entry_key))
        if now is None:
            now = utcnow()
        available = tuple(e.stored.version for e in ordered if _resolvable(e, now))
        latest = _pick_latest(ordered, now)
        attributes: dict[str, tuple[str, ...]] = {}
        search: SearchDocument | None = None
        if latest is not None:
            data = known[1] if known is not None and known[0] is latest else _parse_json(latest.stored.document)
            search = SearchDocument.from_definition_dict(data)
            meta = data.get("metadata", {})
            spec = data.get("spec", {})
            stored = latest.stored
            engines = spec.get("supported_engines")
            maintainers = meta.get("maintainers")
            attributes = {
                "provider": (sys.intern(stored.provider),),
                "category": (sys.intern(stored.category),),
                "resource_type": (sys.intern(stored.resource_type),),
                "engine": _values(str(e) for e in engines) if engines else (),
                "maintainer": _values(str(m).lower() for m in maintainers) if maintainers else (),
                "deprecated": _TRUE if stored.deprecated else _FALSE,
            }
        state = cls(
            name=name,
            entries=ordered,
            by_version={e.stored.version: e for e in ordered},
            available=available,
            latest=latest,
            attributes=attributes,
        )
        return state, search

    def predecessor(self, version: str) -> CatalogEntry | None:
        """The highest version below ``version`` (withdrawn ones included)."""
        key = version_key(version)
        keys = [e.key for e in self.entries]
        index = bisect_right(keys, key)
        while index > 0:
            candidate = self.entries[index - 1]
            if candidate.key < key:
                return candidate
            index -= 1
        return None

    def resolve(self, constraint: Constraint) -> CatalogEntry | None:
        text = str(constraint)
        if text in self.resolved:
            version = self.resolved[text]
        else:
            version = constraint.select(self.available)
            if len(self.resolved) < 256:
                self.resolved[text] = version
        return self.by_version[version] if version is not None else None


_TRUE: Final = ("true",)
_FALSE: Final = ("false",)
_entry_key: Final = attrgetter("key")


def _parse_json(document: bytes) -> Any:
    """A stored document as data. pydantic-core's parser (a dependency of the models) gives the
    same objects as ``json.loads`` for the canonical JSON the store holds, in about 70% of the
    time, which matters on a cold start (one document per name); what it refuses and ``json``
    accepts (lone surrogate escapes) goes to ``json``. Only keys go to its string cache (a
    fixed-size global one): values are mostly distinct, and caching them held ~1 MB more."""
    try:
        return pydantic_core.from_json(document, cache_strings="keys")
    except ValueError:
        return json.loads(document)


def _values(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted({sys.intern(item) for item in items}))


def _resolvable(entry: CatalogEntry, now: datetime) -> bool:
    """Whether ``latest`` and constraints may choose ``entry``: not withdrawn, not past its
    sunset. The state of a name is built at one moment; the ``resource.sunset`` event the
    catalog records when a sunset comes rebuilds it."""
    stored = entry.stored
    if stored.withdrawn:
        return False
    sunset_at = entry.sunset_at
    return sunset_at is None or now < sunset_at


def _pick_latest(ordered: Sequence[CatalogEntry], now: datetime) -> CatalogEntry | None:
    """Highest resolvable non-prerelease version; failing that, the highest resolvable
    prerelease (so a name with only prereleases is still listed)."""
    fallback: CatalogEntry | None = None
    for entry in reversed(ordered):
        if not _resolvable(entry, now):
            continue
        if not entry.prerelease:
            return entry
        if fallback is None:
            fallback = entry
    return fallback


@dataclass(frozen=True, slots=True)
class ListFilters:
    """The filters of a list, a search or facet counts: every field given must match (an empty
    string is no filter, like None). The one type for them, and its wire form is the HTTP
    query: the clients write it with ``to_query``, the server reads it back once per request
    with ``from_query``, the reader and the read model take it as it is."""

    provider: str | None = None
    category: str | None = None
    resource_type: str | None = None
    engine: str | None = None
    maintainer: str | None = None
    deprecated: bool | None = None

    @classmethod
    def of(cls, filters: Mapping[str, Any]) -> ListFilters:
        """From keyword filters (the clients' ``**filters``); an unknown name is an
        ``InvalidRequest`` that lists the known ones."""
        unknown = filters.keys() - _FILTER_NAMES
        if unknown:
            raise InvalidRequest(
                f"unknown filter(s) {sorted(unknown)}: use {sorted(_FILTER_NAMES)}",
                details={"filters": sorted(unknown)},
            )
        return cls(**filters) if filters else NO_FILTERS

    @classmethod
    def from_query(cls, query: Mapping[str, str] | Iterable[tuple[str, str]]) -> ListFilters:
        """The filters of an HTTP query (a mapping, or its pairs as ``to_query`` gives them; of
        a repeated parameter the last counts), other parameters left alone. A flag
        (``deprecated``) is ``true`` or ``false`` in any case, or ``1``/``0``; anything else is
        an ``InvalidRequest`` naming the parameter, as the server reports a bad parameter."""
        pairs = query.items() if isinstance(query, Mapping) else query
        given = {name: value for name, value in pairs if name in _FILTER_NAMES}
        values: dict[str, Any] = {}
        for name, value in given.items():
            if name in _FLAGS:
                values[name] = _query_flag(name, value)
            elif value:
                values[name] = value
        return cls(**values) if values else NO_FILTERS

    def to_query(self) -> tuple[tuple[str, str], ...]:
        """The query parameters of the filters given, in field order: what ``from_query``
        reads back into equal filters (``ListFilters.from_query(f.to_query()) == f``)."""
        out: list[tuple[str, str]] = []
        for name in _FILTER_NAMES:
            value = getattr(self, name)
            if value is None or value == "":
                continue
            out.append((name, ("true" if value else "false") if isinstance(value, bool) else str(value)))
        return tuple(out)

    def criteria(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for key in FACET_FIELDS:
            value = getattr(self, key)
            if value:
                out.append((key, value))
        if self.maintainer:
            out.append(("maintainer", self.maintainer.lower()))
        if self.deprecated is not None:
            out.append(("deprecated", "true" if self.deprecated else "false"))
        return out

    def fingerprint(self) -> str:
        return json.dumps(self.criteria(), separators=(",", ":"))


#: No filter at all: every name.
NO_FILTERS: Final = ListFilters()
#: The filters' names, in field order: the fields, the query parameters, the clients' keywords
#: (a dict: ordered, and a hash lookup for ``in``).
_FILTER_NAMES: Final = dict.fromkeys(item.name for item in fields(ListFilters))
#: The yes/no filters, read from the query with ``_QUERY_BOOLEANS``.
_FLAGS: Final = frozenset(name for name, hint in get_type_hints(ListFilters).items() if hint == bool | None)
#: How a query spells a flag (lowercased), as the API has always read it.
_QUERY_BOOLEANS: Final = {"true": True, "1": True, "false": False, "0": False}


def _query_flag(name: str, value: str) -> bool:
    flag = _QUERY_BOOLEANS.get(value.lower())
    if flag is None:
        message = f"expected true or false, got {value!r}"
        raise InvalidRequest(
            f"invalid query parameter {name!r}: {message}",
            details={"parameter": name, "parameters": [{"name": name, "in": "query", "message": message}]},
        )
    return flag


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list or a search. ``next_cursor`` is None on the last page."""

    items: list[CatalogEntry]
    next_cursor: str | None
    total: int
    facets: dict[str, dict[str, int]] | None = None


def encode_cursor(kind: str, position: str, fingerprint: str) -> str:
    raw = json.dumps([kind, position, fingerprint], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str, fingerprint: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        got_kind, position, got_fingerprint = json.loads(raw)
    except (ValueError, TypeError) as exc:
        raise InvalidRequest(
            "invalid cursor: pass the next_cursor of a previous page", details={"cursor": cursor}
        ) from exc
    if got_kind != kind or got_fingerprint != fingerprint or not isinstance(position, str):
        raise InvalidRequest(
            "cursor does not belong to this query: keep the same filters when following next_cursor",
            details={"cursor": cursor},
        )
    return position


class ReadModel:
    """Names, versions and indexes. Mutated only by the Catalog, in event order.

    Reads keep what they computed: per filter combination, the matching names in order (a
    list page is then a bisect and a slice of it, its total the length) and their facet
    counts. A change to which names are listed or to their attributes keeps both current
    (``_relisted``: the name put in or taken out, its values counted in or out), so neither is
    recounted per request nor after a write; a new version that is not the latest of its name
    leaves them as they are. Search rankings (and their facets) are dropped when a latest
    version changes; a bulk ``load`` drops everything (``_changed``).
    """

    def __init__(self) -> None:
        self.names: dict[str, NameState] = {}
        self.versions: dict[tuple[str, str], CatalogEntry] = {}
        self.sorted_names: list[str] = []  # names with a latest version, sorted
        self.index: dict[str, dict[str, set[str]]] = {k: {} for k in _FILTER_NAMES}  # criteria key -> value -> names
        self.search_index = SearchIndex()
        self.revision = 0  # sequence of the last applied event
        # criteria -> names matching them, sorted (None: every listed name, ``sorted_names``)
        self._selections: dict[tuple[tuple[str, str], ...], list[str]] = {}
        self._facets: dict[tuple[tuple[str, str], ...], dict[str, dict[str, int]]] = {}
        # (query, criteria) -> ranked (name, score) of the search index within the selection
        self._rankings: dict[tuple[str, tuple[tuple[str, str], ...]], list[tuple[str, float]]] = {}
        # (query, criteria) -> facet counts of that ranking (kept and dropped with it)
        self._ranked_facets: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, dict[str, int]]] = {}

    # -- writes ----------------------------------------------------------------------------

    def load(self, stored: Iterable[StoredVersion]) -> None:
        """Bulk-build from storage (start-up): entries grouped by name, each name's state
        derived at one moment, the indexes filled in one pass and the search index in bulk
        (``SearchIndex.put_many``: sorted views and cached rankings dropped once)."""
        grouped: dict[str, list[CatalogEntry]] = {}
        versions = self.versions
        for item in stored:
            entry = CatalogEntry(item)
            name = item.name
            group = grouped.get(name)
            if group is None:
                grouped[name] = [entry]
            else:
                group.append(entry)
            versions[name, item.version] = entry
        index: dict[str, dict[str, set[str]]] = {key: {} for key in self.index}
        listed: list[str] = []
        documents: list[SearchDocument] = []
        states = self.names
        now = utcnow()
        for name, entries in grouped.items():
            state, search = NameState.derive(name, entries, now=now)
            states[name] = state
            if state.latest is None:
                continue
            listed.append(name)
            for key, values in state.attributes.items():
                bucket = index[key]
                for value in values:
                    members = bucket.get(value)
                    if members is None:
                        bucket[value] = {name}
                    else:
                        members.add(name)
            if search is not None:
                documents.append(search)
                if len(documents) >= _INDEX_BATCH:
                    self.search_index.put_many(documents)
                    documents.clear()
        self.search_index.put_many(documents)
        for key, buckets in index.items():
            target = self.index[key]
            for value, names in buckets.items():
                target.setdefault(value, set()).update(names)
        self.sorted_names = sorted(set(self.sorted_names).union(listed))
        self._changed()

    def upsert(self, stored: StoredVersion, *, document: Mapping[str, Any] | None = None) -> NameState:
        """Insert or replace one version (from an event) and re-derive its name's state.
        ``document`` is ``stored``'s document as data when the caller already has it."""
        entry = CatalogEntry(stored)
        self.versions[stored.key] = entry
        previous = self.names.get(stored.name)
        entries = [e for e in (previous.entries if previous else ()) if e.version != stored.version]
        entries.append(entry)
        state, search = NameState.derive(stored.name, entries, known=(entry, document) if document else None)
        self._install(state, search, previous=previous)
        return state

    def _install(self, state: NameState, search: SearchDocument | None, previous: NameState | None) -> None:
        old_latest = previous.latest if previous else None
        self.names[state.name] = state
        if old_latest is state.latest and previous is not None and previous.attributes == state.attributes:
            return
        listed_before = previous is not None and previous.latest is not None
        if not (listed_before and state.latest is not None and previous and previous.attributes == state.attributes):
            # which names are listed, or what they are filtered by, changed: keep the kept
            # selections and counts current (the name in or out of each, its values counted)
            self._relisted(
                state.name,
                previous.attributes if previous is not None and listed_before else None,
                state.attributes if state.latest is not None else None,
            )
        if self._rankings or self._ranked_facets:
            self._rankings = {}  # the latest version changed: what search sees
            self._ranked_facets = {}
        if previous is not None and previous.latest is not None:
            for key, values in previous.attributes.items():
                for value in values:
                    self._index_discard(key, value, state.name)
        if state.latest is not None:
            for key, values in state.attributes.items():
                for value in values:
                    self._index_add(key, value, state.name)
            if search is not None:
                self.search_index.put(search)
            if previous is None or previous.latest is None:
                insort(self.sorted_names, state.name)
        else:
            self.search_index.remove(state.name)
            if previous is not None and previous.latest is not None:
                i = bisect_right(self.sorted_names, state.name) - 1
                if i >= 0 and self.sorted_names[i] == state.name:
                    del self.sorted_names[i]

    def _relisted(
        self, name: str, before: Mapping[str, tuple[str, ...]] | None, after: Mapping[str, tuple[str, ...]] | None
    ) -> None:
        """``name`` was listed with the attributes ``before`` (None: not listed) and is now
        listed with ``after`` (None: no longer listed). Each kept selection gets the name
        inserted or removed (a new list: readers in other threads keep a consistent one) and
        each kept facet count its values moved, so a write costs O(kept combinations x log n)
        instead of a recount of every selection at the next read."""
        selections = self._selections
        for criteria, selected in list(selections.items()):
            was = before is not None and _matches(before, criteria)
            now = after is not None and _matches(after, criteria)
            if was != now:
                selections[criteria] = _inserted(selected, name) if now else _removed(selected, name)
        kept = self._facets
        for criteria, counts in list(kept.items()):
            was = before is not None and _matches(before, criteria)
            now = after is not None and _matches(after, criteria)
            if was or now:
                kept[criteria] = _recounted(counts, before if was else None, after if now else None)

    def _changed(self) -> None:
        """Listed names or their attributes changed: drop what reads computed from them."""
        if self._selections:
            self._selections = {}
        if self._facets:
            self._facets = {}
        if self._rankings or self._ranked_facets:
            self._rankings = {}
            self._ranked_facets = {}

    def _index_add(self, key: str, value: str, name: str) -> None:
        self.index[key].setdefault(value, set()).add(name)

    def _index_discard(self, key: str, value: str, name: str) -> None:
        bucket = self.index[key]
        names = bucket.get(value)
        if names is None:
            return
        names.discard(name)
        if not names:
            del bucket[value]

    # -- reads -----------------------------------------------------------------------------

    def candidates(self, filters: ListFilters) -> frozenset[str] | None:
        """Names matching every filter, or None when there is no filter (all listed names)."""
        criteria = filters.criteria()
        if not criteria:
            return None
        empty: set[str] = set()
        sets = sorted((self.index[key].get(value, empty) for key, value in criteria), key=len)
        result = frozenset(sets[0])
        for other in sets[1:]:
            if not result:
                break
            result = result & other
        return result

    def selection(self, filters: ListFilters) -> Sequence[str]:
        """Names matching every filter, sorted; kept until the indexes change (do not mutate)."""
        criteria = tuple(filters.criteria())
        if not criteria:
            return self.sorted_names
        selections = self._selections
        names = selections.get(criteria)
        if names is None:
            selected = self.candidates(filters)
            names = sorted(selected) if selected else []
            if len(selections) >= _SELECTION_CACHE_SIZE:
                selections.clear()
            selections[criteria] = names
        return names

    def ranked(self, query: str, filters: ListFilters) -> list[tuple[str, float]]:
        """``search_index.rank(query)`` within ``selection(filters)``, kept until the latest
        version of a name changes (do not mutate)."""
        criteria = tuple(filters.criteria())
        if not criteria:
            return self.search_index.rank(query)
        key = (query, criteria)
        ranked = self._rankings.get(key)
        if ranked is None:
            ranked = self.search_index.rank(query, within=frozenset(self.selection(filters)))
            if len(self._rankings) >= _SELECTION_CACHE_SIZE:
                self._rankings.clear()
            self._rankings[key] = ranked
        return ranked

    def ranked_facets(self, query: str, filters: ListFilters) -> dict[str, dict[str, int]]:
        """``facets`` of the names ``ranked(query, filters)`` finds, kept as long as that
        ranking (do not mutate): the pages of one search count them once."""
        key = (query, tuple(filters.criteria()))
        counts = self._ranked_facets.get(key)
        if counts is None:
            counts = self.facets(name for name, _ in self.ranked(query, filters))
            if len(self._ranked_facets) >= _SELECTION_CACHE_SIZE:
                self._ranked_facets.clear()
            self._ranked_facets[key] = counts
        return counts

    def list_page(self, filters: ListFilters, *, limit: int, cursor: str | None, facets: bool) -> Page:
        fingerprint = filters.fingerprint()
        after = decode_cursor(cursor, "list", fingerprint) if cursor else None
        names = self.selection(filters)
        start = bisect_right(names, after) if after is not None else 0
        chosen = names[start : start + limit]
        states = self.names
        items = [entry for n in chosen if (entry := states[n].latest) is not None]
        more = start + limit < len(names)
        next_cursor = encode_cursor("list", chosen[-1], fingerprint) if more and chosen else None
        return Page(
            items=items,
            next_cursor=next_cursor,
            total=len(names),
            facets=self.selection_facets(filters) if facets else None,
        )

    def selection_facets(self, filters: ListFilters) -> dict[str, dict[str, int]]:
        """``facets`` of ``selection(filters)``, kept until the indexes change (do not mutate)."""
        criteria = tuple(filters.criteria())
        counts = self._facets.get(criteria)
        if counts is None:
            counts = self.facets(self.selection(filters))
            if len(self._facets) >= _SELECTION_CACHE_SIZE:
                self._facets.clear()
            self._facets[criteria] = counts
        return counts

    def facets(self, names: Iterable[str]) -> dict[str, dict[str, int]]:
        counters: dict[str, Counter[str]] = {key: Counter() for key in FACET_FIELDS}
        for name in names:
            attributes = self.names[name].attributes
            for key in FACET_FIELDS:
                counters[key].update(attributes.get(key, ()))
        return {key: dict(sorted(counter.items(), key=_by_count)) for key, counter in counters.items()}

    def iter_latest(self) -> Iterator[CatalogEntry]:
        for name in self.sorted_names:
            latest = self.names[name].latest
            if latest is not None:
                yield latest


def _matches(attributes: Mapping[str, tuple[str, ...]], criteria: tuple[tuple[str, str], ...]) -> bool:
    """Whether a name with ``attributes`` is in the selection of ``criteria`` (what the
    intersection of the index buckets gives)."""
    return all(value in attributes.get(key, ()) for key, value in criteria)


def _inserted(names: list[str], name: str) -> list[str]:
    i = bisect_left(names, name)
    if i < len(names) and names[i] == name:
        return names
    return [*names[:i], name, *names[i:]]


def _removed(names: list[str], name: str) -> list[str]:
    i = bisect_left(names, name)
    if i < len(names) and names[i] == name:
        return [*names[:i], *names[i + 1 :]]
    return names


def _recounted(
    counts: dict[str, dict[str, int]],
    minus: Mapping[str, tuple[str, ...]] | None,
    plus: Mapping[str, tuple[str, ...]] | None,
) -> dict[str, dict[str, int]]:
    """``counts`` (as ``ReadModel.facets`` gives them) with one name's values taken out
    (``minus``) and put in (``plus``): a new mapping, the fields that moved sorted again."""
    out = dict(counts)
    for key in FACET_FIELDS:
        old = minus.get(key, ()) if minus is not None else ()
        new = plus.get(key, ()) if plus is not None else ()
        if old == new:
            continue
        field_counts = dict(counts.get(key, {}))
        for value in old:
            left = field_counts.get(value, 0) - 1
            if left > 0:
                field_counts[value] = left
            else:
                field_counts.pop(value, None)
        for value in new:
            field_counts[value] = field_counts.get(value, 0) + 1
        out[key] = dict(sorted(field_counts.items(), key=_by_count))
    return out


def _by_count(item: tuple[str, int]) -> tuple[int, str]:
    return (-item[1], item[0])


#: Search documents a bulk load hands to the index at once: a document's token sets are some
#: kilobytes until indexed (interned), so holding every name's until the end doubled the peak.
_INDEX_BATCH = 256
#: Filter combinations whose sorted names and facets are kept at once (all dropped on a change).
_SELECTION_CACHE_SIZE = 256
