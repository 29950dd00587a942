"""Table tests for the constraint grammar, in the spirit of node-semver's range fixtures
(range-include, range-exclude, range-parse) and Terraform's ``~>`` documentation."""

from __future__ import annotations

import pytest

from nestor_catalog_core import InvalidConstraint, InvalidVersion
from nestor_catalog_core.versions import MAX_CONSTRAINT_LENGTH, Constraint

INCLUDED = [
    ("1.0.0 - 2.0.0", "1.2.3"),
    ("^1.2.3+build", "1.2.3"),
    ("^1.2.3+build", "1.3.0"),
    ("1.2.3-pre+asdf - 2.4.3-pre+asdf", "1.2.3"),
    ("1.2.3-pre+asdf - 2.4.3-pre+asdf", "1.2.3-pre.2"),
    ("1.2.3-pre+asdf - 2.4.3-pre+asdf", "2.4.3-alpha"),
    ("1.2.3+asdf - 2.4.3+asdf", "1.2.3"),
    ("1.0.0", "1.0.0"),
    ("1.0.0", "1.0.0+build"),
    ("=1.0.0", "1.0.0"),
    ("v1.0.0", "1.0.0"),
    ("=v1.0.0", "1.0.0"),
    (">=*", "0.2.4"),
    ("", "1.0.0"),
    ("*", "1.2.3"),
    ("latest", "1.2.3"),
    (">=1.0.0", "1.0.0"),
    (">=0.0.0", "0.0.0"),
    (">0.0.0", "0.0.1"),
    (">=1.0.0", "1.0.1"),
    (">1.0.0", "1.0.1"),
    (">1.0.0", "1.1.0"),
    ("<=2.0.0", "2.0.0"),
    ("<=2.0.0", "1.9999.9999"),
    ("<2.0.0", "1.9999.9999"),
    ("<2.0.0", "0.2.9"),
    (">= 1.0.0", "1.0.0"),
    (">=  1.0.0", "1.0.1"),
    ("> 1.0.0", "1.0.1"),
    ("<=   2.0.0", "2.0.0"),
    ("<\t2.0.0", "0.2.9"),
    ("0.1.20 || 1.2.4", "1.2.4"),
    (">=0.2.3 || <0.0.1", "0.0.0"),
    (">=0.2.3 || <0.0.1", "0.2.3"),
    ("2.x.x", "2.1.3"),
    ("1.2.x", "1.2.3"),
    ("1.2.x || 2.x", "2.1.3"),
    ("1.2.x || 2.x", "1.2.3"),
    ("x", "1.2.3"),
    ("X", "1.2.3"),
    ("2.*.*", "2.1.3"),
    ("1.2.* || 2.*", "1.2.3"),
    ("2", "2.1.2"),
    ("2.3", "2.3.1"),
    ("~0.0.1", "0.0.1"),
    ("~0.0.1", "0.0.2"),
    ("~x", "0.0.9"),
    ("~2", "2.0.9"),
    ("~2.4", "2.4.0"),
    ("~2.4", "2.4.5"),
    ("~1", "1.2.3"),
    ("~1.0", "1.0.2"),
    ("~ 1.0", "1.0.2"),
    ("~ 1.0.3", "1.0.12"),
    (">=1", "1.0.0"),
    (">= 1", "1.0.0"),
    ("<1.2", "1.1.1"),
    ("< 1.2", "1.1.1"),
    ("~v0.5.4-pre", "0.5.5"),
    ("~v0.5.4-pre", "0.5.4"),
    ("=0.7.x", "0.7.2"),
    ("<=0.7.x", "0.7.2"),
    (">=0.7.x", "0.7.2"),
    ("<=0.7.x", "0.6.2"),
    ("~1.2.1 >=1.2.3", "1.2.3"),
    ("~1.2.1 =1.2.3", "1.2.3"),
    ("~1.2.1 1.2.3", "1.2.3"),
    ("~1.2.1 >=1.2.3 1.2.3", "1.2.3"),
    (">=1.2.1 1.2.3", "1.2.3"),
    (">=1.2.3 >=1.2.1", "1.2.3"),
    (">=1.2", "1.2.8"),
    ("^1.2.3", "1.8.1"),
    ("^0.1.2", "0.1.2"),
    ("^0.1", "0.1.2"),
    ("^0.0.1", "0.0.1"),
    ("^1.2", "1.4.2"),
    ("^1.2 ^1", "1.4.2"),
    ("^1.2.3-alpha", "1.2.3-pre"),
    ("^1.2.0-alpha", "1.2.0-pre"),
    ("^0.0.1-alpha", "0.0.1-beta"),
    ("^0.0.1-alpha", "0.0.1"),
    ("^0.1.1-alpha", "0.1.1-beta"),
    ("^x", "1.2.3"),
    ("x - 1.0.0", "0.9.7"),
    ("x - 1.x", "0.9.7"),
    ("1.0.0 - x", "1.9.7"),
    ("1.x - x", "1.9.7"),
    ("<=7.x", "7.9.9"),
    # AND by comma, as Terraform writes it
    (">=1.0.0, <2.0.0", "1.5.0"),
    (">= 1.2.0, < 2.0.0", "1.2.0"),
    (">=1.0.0,<2.0.0", "1.9.9"),
    # prereleases admitted on the same X.Y.Z only
    (">=1.0.0-rc.1 <2.0.0", "1.0.0-rc.2"),
    ("1.0.0-rc.1 || 1.0.0-rc.2", "1.0.0-rc.2"),
    ("* || 1.0.0-rc.2", "1.0.0-rc.2"),
    ("<=1.0.0-rc.5", "1.0.0-rc.1"),
    ("<=1.0.0-rc.5", "0.9.0"),
]

EXCLUDED = [
    ("1.0.0 - 2.0.0", "2.2.3"),
    ("1.2.3+asdf - 2.4.3+asdf", "1.2.3-pre.2"),
    ("1.2.3+asdf - 2.4.3+asdf", "2.4.3-alpha"),
    ("^1.2.3+build", "2.0.0"),
    ("^1.2.3+build", "1.2.0"),
    ("^1.2.3", "1.2.3-pre"),
    ("^1.2", "1.2.0-pre"),
    (">1.2", "1.3.0-beta"),
    ("<=1.2.3", "1.2.3-beta"),
    ("^1.2.3", "1.2.3-beta"),
    ("=0.7.x", "0.7.0-asdf"),
    (">=0.7.x", "0.7.0-asdf"),
    ("1.0.0", "1.0.1"),
    (">=1.0.0", "0.0.0"),
    (">0.0.0", "0.0.0"),
    (">=0.0.0", "0.0.0-rc.1"),
    (">=1.0.0", "0.1.0"),
    (">1.0.0", "0.0.1"),
    ("<=2.0.0", "3.0.0"),
    ("<=2.0.0", "2.2.9"),
    ("<2.0.0", "2.9999.9999"),
    (">=0.1.97", "0.1.93"),
    ("0.1.20 || 1.2.4", "1.2.3"),
    (">=0.2.3 || <0.0.1", "0.0.3"),
    (">=0.2.3 || <0.0.1", "0.2.2"),
    ("2.x.x", "1.1.3"),
    ("2.x.x", "3.1.3"),
    ("1.2.x", "1.3.3"),
    ("1.2.x || 2.x", "3.1.3"),
    ("1.2.x || 2.x", "1.1.3"),
    ("2.*.*", "1.1.3"),
    ("1.2.* || 2.*", "1.1.3"),
    ("2", "1.1.2"),
    ("2.3", "2.4.1"),
    ("~0.0.1", "0.1.0-alpha"),
    ("~0.0.1", "0.1.0"),
    ("~2.4", "2.5.0"),
    ("~2.4", "2.3.9"),
    ("~1", "0.2.3"),
    ("~1.0", "1.1.0"),
    ("<1", "1.0.0"),
    (">=1.2", "1.1.1"),
    ("~v0.5.4-beta", "0.5.4-alpha"),
    ("=0.7.x", "0.8.2"),
    (">=0.7.x", "0.6.2"),
    ("<0.7.x", "0.7.2"),
    ("<1.2.3", "1.2.3-beta"),
    ("=1.2.3", "1.2.3-beta"),
    (">1.2", "1.2.8"),
    ("^0.0.1", "0.0.2-alpha"),
    ("^0.0.1", "0.0.2"),
    ("^1.2.3", "2.0.0-alpha"),
    ("^1.2.3", "1.2.2"),
    ("^1.2", "1.1.9"),
    ("^1.0.0", "2.0.0-rc1"),
    ("*", "1.2.3-foo"),
    ("", "1.2.3-foo"),
    ("latest", "2.0.0-rc.1"),
    ("<2.0.0", "2.0.0-rc.1"),
    (">X", "1.0.0"),
    ("<X", "0.0.0"),
    ("<x <* || >* 2.x", "2.0.0"),
    (">=1.0.0, <2.0.0", "2.0.0"),
    (">=1.0.0-rc.1 <2.0.0", "1.5.0-rc.1"),
    ("<=1.0.0-rc.5", "1.0.0-rc.6"),
    # invalid versions never satisfy and never raise
    ("*", "not a version"),
    (">=2", "glorp"),
    ("*", "v1.2.3"),
    ("*", "1.2"),
    ("*", ""),
]

# Terraform's documented `~>` (hashicorp/go-version: only the rightmost given component moves)
TERRAFORM = [
    ("~> 1.0.4", "1.0.4", True),
    ("~> 1.0.4", "1.0.5", True),
    ("~> 1.0.4", "1.0.10", True),
    ("~> 1.0.4", "1.1.0", False),
    ("~> 1.0.4", "1.0.3", False),
    ("~> 1.1", "1.2.0", True),
    ("~> 1.1", "1.10.0", True),
    ("~> 1.1", "2.0.0", False),
    ("~> 1.1", "1.0.9", False),
    ("~> 5.0", "5.0.0", True),
    ("~> 5.0", "5.99.1", True),
    ("~> 5.0", "6.0.0", False),
    ("~> 5.0", "4.9.9", False),
    ("~> 5", "5.0.0", True),
    ("~> 5", "6.0.0", True),
    ("~> 5", "4.9.9", False),
    ("~>3.2.1", "3.2.2", True),
    ("~>3.2.1", "3.3.2", False),
    ("~>3.2.1", "3.2.0", False),
    ("~> 1.0.4-beta", "1.0.4-rc.1", True),
    ("~> 1.0.4-beta", "1.0.5", True),
    ("~> 1.0.4-beta", "1.0.5-rc.1", False),
    ("~> 5.0", "5.1.0-rc.1", False),
    (">= 1.2.0, < 2.0.0, ~> 1.4", "1.5.0", True),
    (">= 1.2.0, < 2.0.0, ~> 1.4", "1.3.0", False),
]

CANONICAL = [
    ("1.0.0 - 2.0.0", ">=1.0.0 <=2.0.0"),
    ("1 - 2", ">=1.0.0 <3.0.0-0"),
    ("1.0 - 2.0", ">=1.0.0 <2.1.0-0"),
    ("1.2 - 3.4.5", ">=1.2.0 <=3.4.5"),
    ("1.2.3 - 3.4", ">=1.2.3 <3.5.0-0"),
    ("1.0.0", "1.0.0"),
    ("=1.0.0+build", "1.0.0"),
    (">=*", "*"),
    ("", "*"),
    ("  ", "*"),
    ("*", "*"),
    ("latest", "*"),
    (">=1.0.0", ">=1.0.0"),
    (">1.0.0", ">1.0.0"),
    ("<=2.0.0", "<=2.0.0"),
    ("1", ">=1.0.0 <2.0.0-0"),
    ("> 1.0.0", ">1.0.0"),
    ("<\t2.0.0", "<2.0.0"),
    ("0.1.20 || 1.2.4", "0.1.20 || 1.2.4"),
    (">=0.2.3 || <0.0.1", ">=0.2.3 || <0.0.1"),
    ("2.x.x", ">=2.0.0 <3.0.0-0"),
    ("1.2.x || 2.x", ">=1.2.0 <1.3.0-0 || >=2.0.0 <3.0.0-0"),
    ("x", "*"),
    ("2.3", ">=2.3.0 <2.4.0-0"),
    ("~2.4", ">=2.4.0 <2.5.0-0"),
    ("~1", ">=1.0.0 <2.0.0-0"),
    ("~1.2.3", ">=1.2.3 <1.3.0-0"),
    ("~ 1.0", ">=1.0.0 <1.1.0-0"),
    ("^0", "<1.0.0-0"),
    ("^ 1", ">=1.0.0 <2.0.0-0"),
    ("^0.1", ">=0.1.0 <0.2.0-0"),
    ("^1.2", ">=1.2.0 <2.0.0-0"),
    ("^0.0.1", ">=0.0.1 <0.0.2-0"),
    ("^0.0.1-beta", ">=0.0.1-beta <0.0.2-0"),
    ("^0.1.2", ">=0.1.2 <0.2.0-0"),
    ("^1.2.3-beta.4", ">=1.2.3-beta.4 <2.0.0-0"),
    ("<1", "<1.0.0-0"),
    (">= 1", ">=1.0.0"),
    ("<1.2", "<1.2.0-0"),
    ("<=1.2", "<1.3.0-0"),
    ("^ 1.2 ^ 1", ">=1.2.0 <2.0.0-0"),
    (">1", ">=2.0.0"),
    (">1.2", ">=1.3.0"),
    (">X", "<0.0.0-0"),
    ("<X", "<0.0.0-0"),
    ("<x <* || >* 2.x", "<0.0.0-0"),
    (">x 2.x || * || <x", "*"),
    ("2.x || * || <x", ">=2.0.0 <3.0.0-0 || *"),
    ("~> 5.0", ">=5.0.0 <6.0.0-0"),
    ("~> 1.0.4", ">=1.0.4 <1.1.0-0"),
    ("~> 5", ">=5.0.0"),
    (">=1.0.0, <2.0.0", ">=1.0.0 <2.0.0"),
    (">=1.0.0 >=1.2.0 <3.0.0 <2.0.0", ">=1.2.0 <2.0.0"),
    (">1.0.0 >=1.0.0", ">1.0.0"),
    ("<=2.0.0 <2.0.0", "<2.0.0"),
    (">=1.2.3 <=1.2.3", "1.2.3"),
    (">2.0.0 <1.0.0", "<0.0.0-0"),
    (">=1.0.0 <1.0.0", "<0.0.0-0"),
    ("1.0.0 || 1.0.0", "1.0.0"),
    ("1.0.0 || >2 <1", "1.0.0"),
    (">=0.0.0", "*"),
    (">=0.0.0 <1.0.0", "<1.0.0"),
    (">=0.0.0 <=0.0.0-5", "<0.0.0-0"),
    (">=0.0.0-0 <=0.0.0-5", ">=0.0.0-0 <=0.0.0-5"),
]

ERRORS = [
    # (text, token, position, reason fragment)
    (">=1.0.0,", ",", 7, "expected a version range after ','"),
    (", >=1.0.0", ",", 0, "expected a version range before ','"),
    (">=1,, <2", ",", 4, "expected a version range before ','"),
    (">=", ">=", 0, "expected a version after '>='"),
    ("^", "^", 0, "expected a version after '^'"),
    (">= <2", "<", 3, "expected a version after '>='"),
    ("1.2.3 - ", "-", 6, "expected a version after '-'"),
    ("- 1.2.3", "-", 0, "'-' must stand between two plain versions"),
    (">=1 - 2", "-", 4, "'-' must stand between two plain versions"),
    ("1.2.3 -2.0.0", "-2.0.0", 6, "spaces around '-'"),
    ("1.x.3", "1.x.3", 0, "a wildcard cannot be followed by a number"),
    ("*.1", "*.1", 0, "a wildcard cannot be followed by a number"),
    ("1.2.x-beta", "1.2.x-beta", 0, "a prerelease or build needs a full version"),
    ("1.2-beta", "1.2-beta", 0, "needs a full version"),
    ("01.2.3", "01.2.3", 0, "leading zeros"),
    (">=1.02", "1.02", 2, "leading zeros"),
    ("1.2.3.4", "1.2.3.4", 0, "not a version"),
    ("banana", "banana", 0, "not a version"),
    ("!=1.2.3", "!=", 0, "'!=' is not supported"),
    ("1.0.0 | 2.0.0", "|", 6, "did you mean '||'"),
    ("^1.2 ! 2", "!", 5, "unexpected character"),
    ("~> 1.x", "1.x", 3, "'~>' needs explicit numbers"),
    ("~> *", "*", 3, "'~>' needs explicit numbers"),
    ("latest || 1.0.0", "latest", 0, "'latest' must be the whole constraint"),
    ("1.0.0 \u00a0", "\u00a0", 6, "not a version"),
    ("V1.2.3", "V1.2.3", 0, "not a version"),
]


@pytest.mark.parametrize(("text", "version"), INCLUDED)
def test_included(text: str, version: str) -> None:
    assert Constraint.parse(text).allows(version)


@pytest.mark.parametrize(("text", "version"), EXCLUDED)
def test_excluded(text: str, version: str) -> None:
    assert not Constraint.parse(text).allows(version)


@pytest.mark.parametrize(("text", "version", "expected"), TERRAFORM)
def test_terraform_pessimistic_operator(text: str, version: str, expected: bool) -> None:
    assert Constraint.parse(text).allows(version) is expected


@pytest.mark.parametrize(("text", "canonical"), CANONICAL)
def test_canonical_form(text: str, canonical: str) -> None:
    constraint = Constraint.parse(text)
    assert constraint.canonical() == canonical
    assert str(constraint) == text
    assert Constraint.parse(canonical) == constraint
    assert Constraint.parse(canonical).canonical() == canonical


@pytest.mark.parametrize(("text", "token", "position", "reason"), ERRORS)
def test_invalid_constraints_name_the_token(text: str, token: str, position: int, reason: str) -> None:
    with pytest.raises(InvalidConstraint, match="invalid version constraint") as info:
        Constraint.parse(text)
    error = info.value
    assert (error.token, error.position) == (token, position)
    assert reason in error.reason
    assert error.text == text
    assert error.code == "INVALID_CONSTRAINT"
    assert error.details == {"constraint": text, "token": token, "reason": error.reason, "position": position}


def test_too_long_constraint_is_refused() -> None:
    text = " || ".join(["^1.2.3"] * 200)
    assert len(text) > MAX_CONSTRAINT_LENGTH
    with pytest.raises(InvalidConstraint, match="longer than 1024 characters"):
        Constraint.parse(text)


def test_non_string_is_refused() -> None:
    with pytest.raises(InvalidConstraint, match="must be a string"):
        Constraint.parse(12)  # type: ignore[arg-type]


def test_select_returns_highest_allowed_input_string() -> None:
    versions = ["1.0.0", "1.2.0", "1.10.0", "2.0.0", "1.11.0-rc.1", "junk", "1.10.0+b"]
    assert Constraint.parse("^1.0").select(versions) == "1.10.0+b"
    assert Constraint.parse("^1.0").select(reversed(versions)) == "1.10.0+b"
    assert Constraint.parse("~1.2").select(versions) == "1.2.0"
    assert Constraint.parse(">=1.11.0-rc.1").select(versions) == "2.0.0"
    assert Constraint.parse(">=1.11.0-rc.1 <2").select(versions) == "1.11.0-rc.1"
    assert Constraint.parse("^3").select(versions) is None
    assert Constraint.parse("latest").select(versions) == "2.0.0"
    assert Constraint.parse("*").select([]) is None


def test_exact() -> None:
    exact = Constraint.exact("1.2.3-rc.1")
    assert exact.allows("1.2.3-rc.1")
    assert not exact.allows("1.2.3-rc.2")
    assert not exact.allows("1.2.3")
    assert str(exact) == "1.2.3-rc.1"
    assert exact == Constraint.parse("=1.2.3-rc.1")
    assert Constraint.exact("1.2.3+b").canonical() == "1.2.3"
    assert Constraint.exact("1.2.3+b").allows("1.2.3")
    with pytest.raises(InvalidVersion, match=r"'1\.2'"):
        Constraint.exact("1.2")


def test_constraint_is_immutable_hashable_and_cached() -> None:
    a = Constraint.parse("^1.2")
    assert Constraint.parse("^1.2") is a
    b = Constraint.parse(">=1.2.0 <2.0.0-0")
    assert a == b
    assert hash(a) == hash(b)
    assert {a, b} == {a}
    assert a != Constraint.parse("^1.3")
    assert a != "^1.2"
    assert repr(a) == "Constraint('^1.2')"
    with pytest.raises(AttributeError):
        a.text = "other"  # type: ignore[misc]


def test_matches_nothing() -> None:
    assert Constraint.parse(">2 <1").matches_nothing
    assert Constraint.parse("<0.0.0-0").matches_nothing
    assert not Constraint.parse("^1").matches_nothing


@pytest.mark.parametrize("text", ["||", "1.x ||", "|| 2", "1 || || 2", "1.2.3 ||"])
def test_an_empty_alternative_matches_every_release_as_node_semver_reads_it(text: str) -> None:
    constraint = Constraint.parse(text)
    assert all(constraint.allows(v) for v in ("0.0.1", "1.2.3", "7.0.0"))
    assert not constraint.allows("7.0.0-rc.1")
