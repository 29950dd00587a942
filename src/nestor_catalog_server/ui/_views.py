"""What each page shows, as plain data for its template: built from the read model and the
core engines in the server process (no HTTP round trip to our own API), so a page costs what
the API call it mirrors costs.

Every function here is pure over its arguments (a ``CatalogReader``, the settings, the sync
status list), which keeps the templates free of logic beyond loops and conditions.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Final
from urllib.parse import quote, urlencode, urlsplit

from nestor_catalog_core import (
    CatalogEntry,
    CatalogReader,
    InvalidRequest,
    ListFilters,
    NotFoundError,
    Page,
    ResourceDefinition,
)
from nestor_catalog_core.models import InputSpec, Source, format_time
from nestor_catalog_core.versions import compare

__all__ = [
    "FACET_LABELS",
    "PAGE_SIZE",
    "Badge",
    "BrowseQuery",
    "FacetCache",
    "browse_context",
    "commit_links",
    "diff_context",
    "input_fields",
    "resource_context",
    "sync_context",
    "ui_path",
]

#: Results per page on the home page.
PAGE_SIZE: Final = 25
#: The facets the home page filters on, in display order, with their headings.
FACET_LABELS: Final = {
    "provider": "Provider",
    "category": "Category",
    "resource_type": "Resource type",
    "engine": "Engine",
}
_DEPRECATED_CHOICES: Final = {"": "Any status", "false": "Not deprecated", "true": "Deprecated only"}


def ui_path(*segments: str, **query: str | None) -> str:
    """``/ui/<segments>?<query>`` with each segment quoted and empty query values left out."""
    path = "/ui/" + "/".join(quote(segment, safe="") for segment in segments)
    kept = {key: value for key, value in query.items() if value}
    return f"{path}?{urlencode(kept)}" if kept else path


# ------------------------------------------------------------------------------------------ badges


@dataclass(frozen=True, slots=True)
class Badge:
    """A status label: ``kind`` picks the style (``deprecated``, ``sunset``, ``withdrawn``,
    ``prerelease``, ``latest``), ``label`` is the text, ``title`` the longer explanation."""

    kind: str
    label: str
    title: str = ""


def badges(entry: CatalogEntry, *, today: date, latest: str | None = None) -> list[Badge]:
    """The lifecycle badges of one version."""
    out: list[Badge] = []
    if latest is not None and entry.version == latest:
        out.append(Badge("latest", "latest", "The version a name without a constraint resolves to"))
    if entry.prerelease:
        out.append(Badge("prerelease", "pre-release", "Only an explicit constraint selects it"))
    if entry.withdrawn:
        out.append(Badge("withdrawn", "withdrawn", "Its file left the source: it no longer resolves"))
    deprecation = entry.definition().metadata.deprecation
    if deprecation is not None:
        out.append(Badge("deprecated", "deprecated", deprecation.message))
        if deprecation.sunset is not None:
            passed = deprecation.sunset <= today
            label = f"sunset {'since' if passed else 'on'} {deprecation.sunset.isoformat()}"
            out.append(Badge("sunset", label, "May stop resolving after this date"))
    return out


# ------------------------------------------------------------------------------------------ browse


@dataclass(frozen=True, slots=True)
class BrowseQuery:
    """The home page's state, all of it in the URL: ``/?q=&provider=&...&cursor=``."""

    q: str = ""
    provider: str = ""
    category: str = ""
    resource_type: str = ""
    engine: str = ""
    deprecated: str = ""
    cursor: str = ""

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> BrowseQuery:
        deprecated = params.get("deprecated", "")
        if deprecated not in _DEPRECATED_CHOICES:
            raise InvalidRequest(
                "deprecated must be true, false or empty", details={"parameter": "deprecated", "value": deprecated}
            )
        return cls(
            q=params.get("q", "").strip(),
            provider=params.get("provider", ""),
            category=params.get("category", ""),
            resource_type=params.get("resource_type", ""),
            engine=params.get("engine", ""),
            deprecated=deprecated,
            cursor=params.get("cursor", ""),
        )

    def filters(self) -> ListFilters:
        return ListFilters(
            provider=self.provider or None,
            category=self.category or None,
            resource_type=self.resource_type or None,
            engine=self.engine or None,
            deprecated=None if not self.deprecated else self.deprecated == "true",
        )

    def url(self, **changes: str) -> str:
        """The home page URL with ``changes`` applied (a filter change starts at the first page)."""
        values = {
            "q": self.q,
            "provider": self.provider,
            "category": self.category,
            "resource_type": self.resource_type,
            "engine": self.engine,
            "deprecated": self.deprecated,
            "cursor": "",
        }
        values.update(changes)
        kept = {key: value for key, value in values.items() if value}
        return "/?" + urlencode(kept) if kept else "/"


class FacetCache:
    """Facet counts by ``(revision, q, filters)``, the most recently used ``size`` kept.

    Counting facets walks every matching name (tens of milliseconds over 10,000 names), while
    the page of results itself is a slice; the counts only change with the catalog's revision,
    so the home page, its filters and its later pages reuse them until the next change.
    """

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[Any, ...], dict[str, dict[str, int]]] = OrderedDict()

    def get(self, key: tuple[Any, ...]) -> dict[str, dict[str, int]] | None:
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, key: tuple[Any, ...], facets: dict[str, dict[str, int]]) -> None:
        self._entries[key] = facets
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


def _page(
    catalog: CatalogReader, query: BrowseQuery, cache: FacetCache | None
) -> tuple[Page, dict[str, dict[str, int]]]:
    cursor = query.cursor or None
    filters = query.filters()
    key = (
        catalog.revision,
        query.q,
        filters.provider,
        filters.category,
        filters.resource_type,
        filters.engine,
        filters.deprecated,
    )
    cached = cache.get(key) if cache is not None else None
    if query.q:
        page = catalog.search(query.q, filters, limit=PAGE_SIZE, cursor=cursor, facets=cached is None)
    else:
        page = catalog.list_latest(filters, limit=PAGE_SIZE, cursor=cursor, facets=cached is None)
    if cached is None:
        cached = page.facets or {}
        if cache is not None:
            cache.put(key, cached)
    return page, cached


def _summary(entry: CatalogEntry, today: date) -> dict[str, Any]:
    definition = entry.definition()
    meta = definition.metadata
    return {
        "name": entry.name,
        "version": entry.version,
        "url": ui_path("resources", entry.name),
        "description": meta.description,
        "provider": meta.provider,
        "category": meta.category,
        "resource_type": meta.resource_type,
        "engines": definition.spec.supported_engines,
        "badges": badges(entry, today=today),
    }


def browse_context(
    catalog: CatalogReader, query: BrowseQuery, *, today: date, cache: FacetCache | None = None
) -> dict[str, Any]:
    """The home page: a page of results (ranked when searching) with facet counts."""
    page, facets = _page(catalog, query, cache)
    groups = []
    for key, label in FACET_LABELS.items():
        selected = getattr(query, key)
        counts = facets.get(key, {})
        values = [
            {"value": value, "count": count, "selected": value == selected, "url": query.url(**{key: value})}
            for value, count in counts.items()
        ]
        if selected and selected not in counts:
            values.insert(0, {"value": selected, "count": 0, "selected": True, "url": query.url(**{key: selected})})
        groups.append({"key": key, "label": label, "values": values, "clear_url": query.url(**{key: ""})})
    return {
        "query": query,
        "items": [_summary(entry, today) for entry in page.items],
        "total": page.total,
        "facets": groups,
        "deprecated_choices": _DEPRECATED_CHOICES,
        "next_url": query.url(cursor=page.next_cursor) if page.next_cursor else None,
        "first_url": query.url() if query.cursor else None,
        "filtered": query.filters() != ListFilters(),
    }


# ---------------------------------------------------------------------------------------- resource


def commit_links(repository_url: str | None, source: Source) -> dict[str, str | None]:
    """Links to the commit and the file on the repository's web host, when its URL is one a
    browser can open (https/http on GitHub, GitLab, Bitbucket, Gitea/Forgejo and the like);
    none for ssh://, git://, file:// and local paths."""
    none: dict[str, str | None] = {"commit": None, "file": None}
    if not repository_url or not source.commit:
        return none
    parts = urlsplit(repository_url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return none
    base = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/').removesuffix('.git')}"
    host = parts.hostname.lower()
    path = quote(source.path or "")
    if "gitlab" in host:
        commit, blob = f"{base}/-/commit/{source.commit}", f"{base}/-/blob/{source.commit}/{path}"
    elif "bitbucket" in host:
        commit, blob = f"{base}/commits/{source.commit}", f"{base}/src/{source.commit}/{path}"
    else:
        commit, blob = f"{base}/commit/{source.commit}", f"{base}/blob/{source.commit}/{path}"
    return {"commit": commit, "file": blob if source.path else None}


def _validation_text(spec: InputSpec) -> list[str]:
    rules = spec.validation
    if rules is None:
        return []
    out = []
    if rules.pattern is not None:
        out.append(f"matches {rules.pattern}")
    if rules.min is not None:
        out.append(f">= {rules.min}")
    if rules.max is not None:
        out.append(f"<= {rules.max}")
    unit = "items" if spec.type == "array" else "characters"
    if rules.min_length is not None:
        out.append(f"at least {rules.min_length} {unit}")
    if rules.max_length is not None:
        out.append(f"at most {rules.max_length} {unit}")
    if rules.enum is not None:
        out.append("one of " + ", ".join(json.dumps(value) for value in rules.enum))
    return out


def _show(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def input_fields(definition: ResourceDefinition) -> list[dict[str, Any]]:
    """Every input (required first) with what a table and a form need: type, validation as
    text, default, the widget for the try-inputs form."""
    fields = []
    spec = definition.spec
    for required, inputs in ((True, spec.required_inputs), (False, spec.optional_inputs)):
        for item in inputs:
            rules = item.validation
            enum = rules.enum if rules is not None and rules.enum is not None else None
            if enum is not None:
                widget = "select"
            elif item.type in {"array", "object"}:
                widget = "json"
            elif item.type == "boolean":
                widget = "boolean"
            elif item.type in {"integer", "number"}:
                widget = "number"
            else:
                widget = "text"
            fields.append(
                {
                    "name": item.name,
                    "type": item.type.value,
                    "required": required,
                    "description": item.description,
                    "sensitive": item.sensitive,
                    "has_default": item.has_default,
                    "default": _show(item.default) if item.has_default else "",
                    "validation": _validation_text(item),
                    "widget": widget,
                    "options": [{"json": json.dumps(value), "label": _show(value)} for value in enum or []],
                    "min": rules.min if rules is not None else None,
                    "max": rules.max if rules is not None else None,
                    "step": "1" if item.type == "integer" else "any",
                }
            )
    return fields


def _engine_configs(definition: ResourceDefinition) -> list[dict[str, Any]]:
    out = []
    for engine, config in definition.spec.engine_configs.engines().items():
        data = config.model_dump(mode="json", exclude_none=True) if hasattr(config, "model_dump") else dict(config)
        out.append({"engine": engine, "settings": [(key, _show(value)) for key, value in data.items()]})
    return out


def _replacement(text: str | None) -> dict[str, str] | None:
    if not text:
        return None
    name = text.split("@", 1)[0].strip()
    return {"text": text, "url": ui_path("resources", name)}


def _history_row(
    entry: CatalogEntry, *, today: date, latest: str | None, repositories: Mapping[str, str]
) -> dict[str, Any]:
    source = entry.stored.source
    return {
        "version": entry.version,
        "url": ui_path("resources", entry.name, entry.version),
        "badges": badges(entry, today=today, latest=latest),
        "published_at": format_time(entry.stored.published_at),
        "source": source,
        "links": commit_links(repositories.get(source.repository or ""), source),
    }


def resource_context(
    catalog: CatalogReader,
    name: str,
    version: str | None,
    *,
    today: date,
    repositories: Mapping[str, str],
) -> dict[str, Any]:
    """A resource page: ``version`` (or the latest) in full, and every version's history."""
    entries = catalog.versions(name)
    try:
        latest: str | None = catalog.latest_entry(name).version
    except NotFoundError:
        latest = None
    if version is None:
        entry = catalog.entry(name, latest) if latest is not None else entries[0]
    else:
        entry = catalog.entry(name, version)
    definition = entry.definition()
    meta = definition.metadata
    deprecation = meta.deprecation
    index = [e.version for e in entries].index(entry.version)
    previous = entries[index + 1].version if index + 1 < len(entries) else None
    return {
        "name": name,
        "version": entry.version,
        "latest": latest,
        "is_latest": entry.version == latest,
        "meta": meta,
        "definition": definition,
        "badges": badges(entry, today=today, latest=latest),
        "deprecation": deprecation,
        "replacement": _replacement(deprecation.replacement if deprecation else None),
        "withdrawn": entry.withdrawn,
        "inputs": input_fields(definition),
        "outputs": definition.spec.outputs,
        "engines": _engine_configs(definition),
        "document": json.dumps(entry.document_dict(), indent=2, ensure_ascii=False),
        "history": [_history_row(e, today=today, latest=latest, repositories=repositories) for e in entries],
        "digest": entry.digest,
        "source": entry.stored.source,
        "links": commit_links(repositories.get(entry.stored.source.repository or ""), entry.stored.source),
        "published_at": format_time(entry.stored.published_at),
        "diff_url": ui_path("diff", name, **{"from": previous, "to": entry.version}) if previous else None,
        "try_url": ui_path("resources", name, entry.version, "try"),
        "api_url": f"/api/v1/resources/{quote(name, safe='')}/{quote(entry.version, safe='')}",
        "versions": [e.version for e in entries],
    }


# -------------------------------------------------------------------------------------------- diff


def diff_context(catalog: CatalogReader, name: str, old: str | None, new: str | None) -> dict[str, Any]:
    """The compatibility report between two versions (default: the latest and the one below
    it), computed by the core engine: the same report as ``GET /api/v1/resources/{name}/diff``."""
    entries = catalog.versions(name)
    versions = [entry.version for entry in entries]
    if new is None:
        new = versions[0]
    if old is None:
        position = versions.index(new) if new in versions else 0
        old = versions[position + 1] if position + 1 < len(versions) else new
    report = compare(catalog.entry(name, old).definition(), catalog.entry(name, new).definition())
    data = report.to_dict()
    changes = [{**change, "old": _show(change["old"]), "new": _show(change["new"])} for change in data["changes"]]
    return {
        "name": name,
        "versions": versions,
        "report": {**data, "changes": changes},
        "suggested": report.suggested_version() if not report.ok else None,
        "resource_url": ui_path("resources", name),
        "old_url": ui_path("resources", name, old),
        "new_url": ui_path("resources", name, new),
    }


# -------------------------------------------------------------------------------------------- sync


def _location(finding: Mapping[str, Any], path: str) -> str:
    file = finding.get("file") or path
    line, column = finding.get("line"), finding.get("column")
    if line is None:
        return str(file)
    return f"{file}:{line}:{column}" if column is not None else f"{file}:{line}"


def sync_context(statuses: Sequence[Mapping[str, Any]], *, mirror: Mapping[str, Any] | None) -> dict[str, Any]:
    """The sync dashboard: each source (``SourceStatus.to_dict()``) with its refused files, each
    finding located at ``file:line:col``; on a sidecar, the upstream it mirrors instead."""
    sources = []
    for status in statuses:
        refused = [
            {
                "path": path,
                "findings": [{**finding, "location": _location(finding, path)} for finding in findings],
            }
            for path, findings in sorted(status.get("findings", {}).items())
        ]
        sources.append({**status, "refused": refused})
    return {
        "sources": sources,
        "refused_total": sum(len(source["refused"]) for source in sources),
        "failing": sum(1 for source in sources if source.get("last_error")),
        "mirror": mirror,
    }
