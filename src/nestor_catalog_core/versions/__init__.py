"""Versions, constraints and compatibility: SemVer 2.0.0 parsing and ordering, the
constraint grammar (npm ranges plus ``~>``), and the checker that enforces semantic
versioning between two versions of a definition."""

from nestor_catalog_core.versions.compat import (
    BUMP_TOO_SMALL,
    RULES,
    VERSION_NOT_INCREASED,
    Bump,
    Change,
    CompatReport,
    HasPositions,
    changed_fields,
    compare,
    declared_bump,
    next_version,
)
from nestor_catalog_core.versions.constraint import MAX_CONSTRAINT_LENGTH, Constraint
from nestor_catalog_core.versions.version import (
    VersionKey,
    is_prerelease,
    is_version,
    latest,
    parse_version,
    predecessor,
    release_tuple,
    sort_versions,
    version_key,
)

__all__ = [
    "BUMP_TOO_SMALL",
    "MAX_CONSTRAINT_LENGTH",
    "RULES",
    "VERSION_NOT_INCREASED",
    "Bump",
    "Change",
    "CompatReport",
    "Constraint",
    "HasPositions",
    "VersionKey",
    "changed_fields",
    "compare",
    "declared_bump",
    "is_prerelease",
    "is_version",
    "latest",
    "next_version",
    "parse_version",
    "predecessor",
    "release_tuple",
    "sort_versions",
    "version_key",
]
