from __future__ import annotations

import nestor_catalog_core.versions as versions

EXPECTED = {
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
}


def test_all_is_exactly_the_public_surface() -> None:
    assert set(versions.__all__) == EXPECTED
    assert len(versions.__all__) == len(EXPECTED)
    for name in EXPECTED:
        assert getattr(versions, name) is not None
