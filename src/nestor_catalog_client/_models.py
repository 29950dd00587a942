"""What the client returns beyond the core models: pages, version lists, reports.

Each type parses the JSON body the HTTP contract (``api.md``) specifies. Resources are core
``Resource`` objects, findings core ``Finding`` objects, so code written against the
in-process ``Catalog`` reads the same attributes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nestor_catalog_core import Finding, Resource, Source
from nestor_catalog_core.models import parse_time

__all__ = [
    "CatalogDeprecationWarning",
    "FacetCounts",
    "ResourcePage",
    "SearchResult",
    "ValidationReport",
    "VersionInfo",
]

Facets = dict[str, dict[str, int]]


class CatalogDeprecationWarning(FutureWarning):
    """A fetched resource version is deprecated (see ``resource.deprecation`` for the message,
    replacement and sunset date). A ``FutureWarning`` so that it shows by default: the people
    who must act on it are the consumer's users, not only its developers. Emitted once per
    (name, version) per client; silence it with ``warnings.filterwarnings``."""


@dataclass(frozen=True, slots=True)
class VersionInfo:
    """One entry of ``GET /resources/{name}/versions`` (newest first, withdrawn ones flagged)."""

    version: str
    digest: str
    published_at: datetime
    deprecated: bool = False
    withdrawn: bool = False
    prerelease: bool = False
    source: Source | None = None
    sunset: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VersionInfo:
        source = data.get("source")
        return cls(
            version=str(data["version"]),
            digest=str(data.get("digest", "")),
            published_at=parse_time(data["published_at"]),
            deprecated=bool(data.get("deprecated", False)),
            withdrawn=bool(data.get("withdrawn", False)),
            prerelease=bool(data.get("prerelease", False)),
            sunset=bool(data.get("sunset", False)),
            source=Source.from_dict(source) if isinstance(source, dict) else None,
        )


@dataclass(frozen=True, slots=True)
class ResourcePage:
    """One page of ``GET /resources``: the latest version of each name, by name.

    ``revision`` is the catalog's event sequence the page was read at; ``next_cursor`` is None
    on the last page.
    """

    items: list[Resource]
    next_cursor: str | None
    total: int
    revision: int
    facets: Facets | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResourcePage:
        return cls(**_page_fields(data))


@dataclass(frozen=True, slots=True)
class SearchResult:
    """Ranked hits of ``GET /search`` (exact name, then name prefix, then other fields)."""

    query: str
    items: list[Resource]
    next_cursor: str | None
    total: int
    revision: int
    facets: Facets | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchResult:
        return cls(query=str(data.get("query", "")), **_page_fields(data))


def _page_fields(data: dict[str, Any]) -> dict[str, Any]:
    """What list and search pages share: ``{"items", "next_cursor", "total", "revision", "facets"?}``."""
    return {
        "items": [Resource.from_dict(item) for item in data.get("items", [])],
        "next_cursor": data.get("next_cursor"),
        "total": int(data.get("total", 0)),
        "revision": int(data.get("revision", 0)),
        "facets": data.get("facets"),
    }


@dataclass(frozen=True, slots=True)
class FacetCounts:
    """``GET /facets``: how many names per provider, category, resource_type and engine."""

    total: int
    facets: Facets
    revision: int

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FacetCounts:
        return cls(
            total=int(data.get("total", 0)),
            facets=dict(data.get("facets") or {}),
            revision=int(data.get("revision", 0)),
        )


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """``POST /validate``: a dry run of a publish, with every finding at once."""

    valid: bool
    files: int
    definitions: int
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.is_error]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ValidationReport:
        return cls(
            valid=bool(data.get("valid", False)),
            files=int(data.get("files", 0)),
            definitions=int(data.get("definitions", 0)),
            findings=[Finding.from_dict(item) for item in data.get("findings", [])],
        )
