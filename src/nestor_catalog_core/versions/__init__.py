"""Versions, constraints and compatibility: SemVer 2.0.0 parsing and ordering, the
constraint grammar (npm ranges plus ``~>``), and the checker that enforces semantic
versioning between two versions of a definition.

Names are imported the first time they are used (PEP 562 ``__getattr__``): parsing a
constraint does not load the compatibility checker (nor it the models, until it compares).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nestor_catalog_core import _lazy

if TYPE_CHECKING:
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
    from nestor_catalog_core.versions.constraint import (
        MAX_CONSTRAINT_LENGTH,
        Constraint,
    )
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

_LAZY: dict[str, str] = {
    "BUMP_TOO_SMALL": "nestor_catalog_core.versions.compat",
    "Bump": "nestor_catalog_core.versions.compat",
    "Change": "nestor_catalog_core.versions.compat",
    "CompatReport": "nestor_catalog_core.versions.compat",
    "Constraint": "nestor_catalog_core.versions.constraint",
    "HasPositions": "nestor_catalog_core.versions.compat",
    "MAX_CONSTRAINT_LENGTH": "nestor_catalog_core.versions.constraint",
    "RULES": "nestor_catalog_core.versions.compat",
    "VERSION_NOT_INCREASED": "nestor_catalog_core.versions.compat",
    "VersionKey": "nestor_catalog_core.versions.version",
    "changed_fields": "nestor_catalog_core.versions.compat",
    "compare": "nestor_catalog_core.versions.compat",
    "declared_bump": "nestor_catalog_core.versions.compat",
    "is_prerelease": "nestor_catalog_core.versions.version",
    "is_version": "nestor_catalog_core.versions.version",
    "latest": "nestor_catalog_core.versions.version",
    "next_version": "nestor_catalog_core.versions.compat",
    "parse_version": "nestor_catalog_core.versions.version",
    "predecessor": "nestor_catalog_core.versions.version",
    "release_tuple": "nestor_catalog_core.versions.version",
    "sort_versions": "nestor_catalog_core.versions.version",
    "version_key": "nestor_catalog_core.versions.version",
}


__getattr__, __dir__ = _lazy.lazy_names(globals(), _LAZY)
