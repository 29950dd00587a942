from __future__ import annotations

import random

import pytest
import semver
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from nestor_catalog_core import InvalidVersion
from nestor_catalog_core.models.definition import Metadata
from nestor_catalog_core.versions import (
    is_prerelease,
    is_version,
    latest,
    parse_version,
    predecessor,
    release_tuple,
    sort_versions,
    version_key,
)

# semver.org's precedence example, in ascending order.
SEMVER_ORG_ORDER = [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.0.1",
    "1.1.0",
    "2.0.0-0",
    "2.0.0",
    "10.0.0",
]

VALID = ["0.0.0", "1.2.3", "1.2.3-rc.1", "1.2.3+build.5", "1.2.3-0.a-b.3+x-y", "10.20.30", "1.0.0-alpha.01a"]
INVALID = [
    "",
    "1",
    "1.2",
    "v1.2.3",
    "01.2.3",
    "1.02.3",
    "1.2.3-01",
    "1.2.3-",
    "1.2.3+",
    "1.2.3\n",
    " 1.2.3",
    "1.2.3.4",
    "1.\u0663.3",  # Arabic-Indic digit three: not an ASCII digit
    "1.1\u0663.3",
    "1.0.0-1\u0663",
    "1.2.3-béta",
    "x.y.z",
]


@pytest.mark.parametrize("text", VALID)
def test_valid_versions_parse(text: str) -> None:
    assert is_version(text)
    assert parse_version(text) == semver.Version.parse(text)


@pytest.mark.parametrize("text", INVALID)
def test_invalid_versions_raise_invalid_version(text: str) -> None:
    assert not is_version(text)
    with pytest.raises(InvalidVersion, match=r"expected a full SemVer 2\.0\.0 version"):
        parse_version(text)
    with pytest.raises(InvalidVersion, match="invalid version"):
        version_key(text)


def test_is_version_rejects_non_strings() -> None:
    assert not is_version(None)
    assert not is_version(123)
    assert not is_version(["1.2.3"])


def test_version_key_follows_semver_org_precedence() -> None:
    shuffled = SEMVER_ORG_ORDER[:]
    random.Random(7).shuffle(shuffled)
    assert sort_versions(shuffled) == SEMVER_ORG_ORDER
    keys = [version_key(v) for v in SEMVER_ORG_ORDER]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)


def test_build_metadata_is_ignored_in_precedence_but_sorting_is_deterministic() -> None:
    assert version_key("1.2.3+a") == version_key("1.2.3+b") == version_key("1.2.3")
    assert sort_versions(["1.2.3+b", "1.2.3", "1.2.3+a"]) == ["1.2.3", "1.2.3+a", "1.2.3+b"]
    assert sort_versions(["1.2.3+a", "1.2.3+b", "1.2.3"]) == ["1.2.3", "1.2.3+a", "1.2.3+b"]


def test_huge_numbers() -> None:
    digits = "9" * 5000
    with pytest.raises(InvalidVersion, match="invalid version"):
        version_key(f"{digits}.0.0")  # beyond int() conversion: refused, never a crash
    assert version_key(f"1.0.0-{digits}") > version_key(f"1.0.0-{'9' * 4999}")
    assert version_key(f"1.0.0-{digits}") < version_key("1.0.0-a")


def test_sort_versions_raises_on_invalid() -> None:
    with pytest.raises(InvalidVersion, match="'nope'"):
        sort_versions(["1.0.0", "nope"])


def test_latest_is_highest_release() -> None:
    assert latest(["1.0.0", "2.0.0-rc.1", "1.5.0", "1.10.0"]) == "1.10.0"
    assert latest(["2.0.0-rc.1"]) is None
    assert latest([]) is None
    with pytest.raises(InvalidVersion, match=r"'1\.0'"):
        latest(["1.0"])


def test_predecessor_is_highest_lower_version() -> None:
    versions = ["1.0.0", "1.1.0", "1.2.0-rc.1", "1.2.0", "2.0.0"]
    assert predecessor("1.2.0", versions) == "1.2.0-rc.1"
    assert predecessor("1.2.0-rc.1", versions) == "1.1.0"
    assert predecessor("1.5.0", versions) == "1.2.0"
    assert predecessor("1.0.0", versions) is None
    assert predecessor("1.0.0+build", ["1.0.0"]) is None


def test_prerelease_and_release_tuple() -> None:
    assert is_prerelease("1.2.3-rc.1")
    assert not is_prerelease("1.2.3+rc.1")
    assert release_tuple("1.2.3-rc.1+b") == (1, 2, 3)
    with pytest.raises(InvalidVersion, match="invalid version"):
        is_prerelease("1.2")


_identifier = st.one_of(
    st.integers(0, 30).map(str),
    st.sampled_from(["alpha", "beta", "rc", "a-b", "0a", "x1", "-", "A"]),
)
_versions = st.builds(
    lambda core, pre, build: f"{core[0]}.{core[1]}.{core[2]}" + (f"-{'.'.join(pre)}" if pre else "") + build,
    st.tuples(st.integers(0, 12), st.integers(0, 12), st.integers(0, 12)),
    st.lists(_identifier, max_size=3),
    st.sampled_from(["", "+b", "+build.7"]),
)


@given(_versions, _versions)
def test_version_key_agrees_with_semver(a: str, b: str) -> None:
    expected = semver.Version.parse(a).compare(semver.Version.parse(b))
    ka, kb = version_key(a), version_key(b)
    actual = (ka > kb) - (ka < kb)
    assert actual == expected


@given(st.text(max_size=30))
def test_is_version_agrees_with_semver_parse(text: str) -> None:
    try:
        semver.Version.parse(text)
        accepted = True
    except ValueError:
        accepted = False
    assert is_version(text) == accepted


@pytest.mark.parametrize("text", [*VALID, *INVALID])
def test_metadata_version_accepts_exactly_the_versions_we_order(text: str) -> None:
    """The model's pattern (run by pydantic-core) and ``is_version`` must agree, or a stored
    version could be impossible to sort."""
    data = {"name": "a", "version": text, "provider": "p", "category": "c", "resource_type": "r"}
    try:
        Metadata.model_validate(data)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted == is_version(text)
