"""HTTP caching: ETags, ``If-None-Match``, ``Cache-Control`` and the lifecycle headers.

- An exact version's ETag is its digest (``"sha256:..."``): the definition behind it never
  changes, so it is cached for a year (``immutable``). Its status block can change (deprecation,
  withdrawal); those are announced by events, and a withdrawn version is served ``no-cache``
  with a ``Warning``.
- ``latest`` and constraint answers carry the digest of the version they chose, ``no-cache``:
  revalidate every time, get a 304 while the choice is unchanged.
- Lists, searches, facets and version lists carry the catalog's revision (``W/"r<revision>"``),
  which moves on every change.

Deprecated versions add ``Deprecation: @<epoch seconds>`` (RFC 9745: when the version was
deprecated, i.e. its last lifecycle change, or its publication when it was published
deprecated), ``Sunset`` (RFC 8594, an HTTP date) when the definition names a sunset date, and
``Link: <...>; rel="successor-version"`` when it names a replacement. A version past its sunset
(exact fetches only: nothing else resolves to it) carries a ``Warning``.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from email.utils import format_datetime
from typing import Final
from urllib.parse import quote

from nestor_catalog_core import CatalogEntry
from nestor_catalog_core.models import utcnow
from nestor_catalog_core.versions import is_version

__all__ = [
    "IMMUTABLE",
    "NO_CACHE",
    "SUNSET_WARNING",
    "WITHDRAWN_WARNING",
    "deprecation_headers",
    "entry_headers",
    "etag_matches",
    "revision_etag",
    "strong_etag",
    "successor_path",
    "version_path",
]

IMMUTABLE: Final = "public, max-age=31536000, immutable"
NO_CACHE: Final = "no-cache"
WITHDRAWN_WARNING: Final = '299 - "withdrawn: excluded from latest and constraint resolution"'
SUNSET_WARNING: Final = '299 - "sunset: past its sunset date, excluded from latest and constraint resolution"'
RESOURCES_PATH: Final = "/api/v1/resources"


def strong_etag(digest: str) -> str:
    return f'"{digest}"'


def revision_etag(revision: int) -> str:
    return f'W/"r{revision}"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 ``If-None-Match``: weak comparison against any listed tag, or ``*``."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(candidate.strip().removeprefix("W/") == wanted for candidate in if_none_match.split(","))


def entry_headers(entry: CatalogEntry, *, exact: bool) -> dict[str, str]:
    """Headers for a response carrying ``entry``: ETag, caching, where it lives, lifecycle.

    ``exact`` is true for ``/{name}/{version}`` (cacheable forever unless withdrawn) and
    false for ``latest`` and constraint answers (revalidated every time).
    """
    headers = {
        "ETag": strong_etag(entry.digest),
        "Cache-Control": IMMUTABLE if exact and not entry.withdrawn else NO_CACHE,
    }
    if not exact:
        headers["Content-Location"] = version_path(entry.name, entry.version)
        headers["X-Resource-Version"] = entry.version
    if entry.withdrawn:
        headers["Warning"] = WITHDRAWN_WARNING
    elif entry.sunset_at is not None and entry.is_sunset(utcnow()):
        headers["Warning"] = SUNSET_WARNING
    if entry.deprecated:
        headers.update(deprecation_headers(entry))
    return headers


def deprecation_headers(entry: CatalogEntry) -> dict[str, str]:
    """``Deprecation`` (RFC 9745), and ``Sunset``/``Link`` when the lifecycle block gives them."""
    stored = entry.stored
    since = stored.updated_at or stored.published_at
    headers = {"Deprecation": f"@{int(since.timestamp())}"}
    deprecation = entry.definition().metadata.deprecation
    if deprecation is None:
        return headers
    if deprecation.sunset is not None:
        moment = datetime.combine(deprecation.sunset, time(0, 0), tzinfo=UTC)
        headers["Sunset"] = format_datetime(moment, usegmt=True)
    if deprecation.replacement:
        headers["Link"] = f'<{successor_path(entry.name, deprecation.replacement)}>; rel="successor-version"'
    return headers


def version_path(name: str, version: str) -> str:
    """The exact-version URL; names and versions are URL-safe by construction (a DNS label and
    SemVer characters), so nothing is escaped."""
    return f"{RESOURCES_PATH}/{name}/{version}"


def successor_path(name: str, replacement: str) -> str:
    """The URL of a replacement written as ``name``, ``name@version``, ``name@constraint`` or a
    bare version of the same name."""
    if is_version(replacement):
        return version_path(name, replacement)
    target, _, selector = replacement.partition("@")
    base = f"{RESOURCES_PATH}/{quote(target.strip(), safe='')}"
    selector = selector.strip()
    if not selector:
        return base
    if is_version(selector):
        return f"{base}/{quote(selector, safe='+')}"
    return f"{base}?constraint={quote(selector, safe='')}"
