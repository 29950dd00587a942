"""SemVer 2.0.0 versions: parsing, validity, precedence keys and sorting.

``semver`` is the reference implementation (``parse_version`` returns a ``semver.Version``),
but the read model sorts and compares hundreds of thousands of version strings, so ordering
goes through ``version_key``: a plain tuple that compares like SemVer precedence, computed
once per string (cached) from the same strict grammar.

Only full ``X.Y.Z`` versions are versions here (prerelease and build allowed, no ``v``
prefix, no leading zeros, ASCII digits only). Build metadata never affects precedence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Final, TypeAlias

import semver

from nestor_catalog_core._exceptions import InvalidVersion
from nestor_catalog_core.models._base import SEMVER_PATTERN

__all__ = [
    "PrereleaseKey",
    "VersionKey",
    "is_prerelease",
    "is_version",
    "latest",
    "parse_version",
    "predecessor",
    "release_tuple",
    "sort_versions",
    "version_key",
]

#: One prerelease identifier: ``(0, digits, text)`` for numeric identifiers (compared by
#: length, then text: numeric order without ``int()`` on arbitrarily long digit strings),
#: ``(1, 0, text)`` for alphanumeric ones, which always sort after numeric ones.
PrereleaseKey: TypeAlias = tuple[int, int, str]

#: ``(major, minor, patch, is_release, prerelease identifiers)``: ``is_release`` is 1 for a
#: release and 0 for a prerelease, so ``1.0.0-rc.1 < 1.0.0``; identifiers compare
#: left to right and a shorter list that is a prefix of a longer one sorts first.
VersionKey: TypeAlias = tuple[int, int, int, int, tuple[PrereleaseKey, ...]]

# re.ASCII: `\d` must not accept other scripts' digits; fullmatch: `$` would accept "1.2.3\n".
_VERSION_RE: Final = re.compile(SEMVER_PATTERN, re.ASCII)
_KEY_CACHE_SIZE: Final = 1 << 15  # at most ~10 MB of keys; the read model keeps its own


def is_version(text: object) -> bool:
    """Whether ``text`` is a full SemVer 2.0.0 version string."""
    if not isinstance(text, str):
        return False
    try:
        version_key(text)
    except InvalidVersion:
        return False
    return True


def parse_version(text: str) -> semver.Version:
    """``text`` as a ``semver.Version``; raises ``InvalidVersion`` for anything that is not a
    full SemVer 2.0.0 version."""
    version_key(text)
    return semver.Version.parse(text)


def _invalid(text: object) -> InvalidVersion:
    return InvalidVersion(
        f"invalid version {text!r}: expected a full SemVer 2.0.0 version like 1.2.3 or 1.2.3-rc.1",
        details={"version": text if isinstance(text, str) else repr(text)},
    )


def _prerelease_key(identifier: str) -> PrereleaseKey:
    if identifier.isdigit():
        return (0, len(identifier), identifier)
    return (1, 0, identifier)


@lru_cache(maxsize=_KEY_CACHE_SIZE)
def version_key(text: str) -> VersionKey:
    """A hashable, totally ordered key that sorts versions by SemVer precedence.

    Two versions that differ only in build metadata get equal keys. Raises
    ``InvalidVersion`` for strings that are not versions. Cached: the read model calls it
    for every stored version and every lookup.
    """
    match = _VERSION_RE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise _invalid(text)
    major, minor, patch, prerelease = match.group(1, 2, 3, 4)
    try:
        numbers = (int(major), int(minor), int(patch))
    except ValueError as exc:  # more digits than Python converts (sys.get_int_max_str_digits)
        raise _invalid(text) from exc
    if prerelease is None:
        return (*numbers, 1, ())
    return (*numbers, 0, tuple(_prerelease_key(part) for part in prerelease.split(".")))


def release_tuple(text: str) -> tuple[int, int, int]:
    """``(major, minor, patch)`` of a version; raises ``InvalidVersion``."""
    key = version_key(text)
    return (key[0], key[1], key[2])


def is_prerelease(text: str) -> bool:
    """Whether a version carries a prerelease (``1.2.0-rc.1``); raises ``InvalidVersion``."""
    return version_key(text)[3] == 0


def _sort_key(text: str) -> tuple[VersionKey, str]:
    return (version_key(text), text)


def sort_versions(versions: Iterable[str]) -> list[str]:
    """The versions in ascending precedence; raises ``InvalidVersion`` on the first string
    that is not a version. Versions of equal precedence (differing only in build metadata)
    are ordered by their text, so the result never depends on the input order."""
    return sorted(versions, key=_sort_key)


def latest(versions: Iterable[str]) -> str | None:
    """The highest non-prerelease version, or ``None`` when there is none; raises
    ``InvalidVersion`` for strings that are not versions. Withdrawal is the catalog's
    concern: pass only the versions that may be served."""
    best: tuple[VersionKey, str] | None = None
    for text in versions:
        candidate = _sort_key(text)
        if candidate[0][3] == 1 and (best is None or candidate > best):
            best = candidate
    return None if best is None else best[1]


def predecessor(version: str, versions: Iterable[str]) -> str | None:
    """The highest of ``versions`` with lower precedence than ``version`` (the one a new
    version is checked against), or ``None``; raises ``InvalidVersion``."""
    key = version_key(version)
    best: tuple[VersionKey, str] | None = None
    for text in versions:
        candidate = _sort_key(text)
        if candidate[0] < key and (best is None or candidate > best):
            best = candidate
    return None if best is None else best[1]
