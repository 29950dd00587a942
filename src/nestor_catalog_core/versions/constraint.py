"""Version constraints: npm ranges plus the Terraform/RubyGems ``~>``.

``semver`` orders versions but has no ranges, so the grammar is ours. Every form desugars
to comparator sets exactly as node-semver does (``^0.x`` and ``^0.0.x``, ``~`` with partial
versions, ``<1.2`` meaning ``<1.2.0-0``, ``-0`` upper bounds), then each AND-set collapses
to one interval, which is what ``allows`` tests and ``canonical()`` prints.

Grammar (whitespace between tokens is free unless noted)::

    constraint := "" | "latest" | set ("||" set)*                 a set may be empty (every release)
    set        := element ((whitespace | ",") element)*          AND
    element    := partial " - " partial                          hyphen range (spaces required)
                | op? partial
    op         := "=" | "<" | "<=" | ">" | ">=" | "^" | "~" | "~>"
    partial    := "v"? n ("." n ("." n ("-" prerelease)? ("+" build)?)?)?    n := digits | "x" | "X" | "*"

Meaning:

- ``1.2.3`` / ``=1.2.3`` / ``v1.2.3``: exactly that version (build metadata ignored).
  ``1.2``, ``1.2.x``: ``>=1.2.0 <1.3.0-0``; ``1``, ``1.x``: ``>=1.0.0 <2.0.0-0``.
- ``<1.2`` = ``<1.2.0-0``; ``<=1.2`` = ``<1.3.0-0``; ``>1.2`` = ``>=1.3.0``; ``>=1.2`` = ``>=1.2.0``;
  ``>*`` and ``<*`` match nothing.
- ``^1.2.3`` = ``>=1.2.3 <2.0.0-0``; ``^0.2.3`` = ``>=0.2.3 <0.3.0-0``; ``^0.0.3`` = ``>=0.0.3 <0.0.4-0``.
- ``~1.2.3`` = ``>=1.2.3 <1.3.0-0``; ``~1.2`` = ``>=1.2.0 <1.3.0-0``; ``~1`` = ``>=1.0.0 <2.0.0-0``.
- ``~>`` is the pessimistic operator of Terraform (hashicorp/go-version) and RubyGems: only
  the rightmost given component may increase. ``~> 1.0.4`` = ``>=1.0.4 <1.1.0-0``,
  ``~> 5.0`` = ``>=5.0.0 <6.0.0-0``, and ``~> 5`` = ``>=5.0.0`` (as Terraform does; RubyGems
  would stop at 6). Wildcards are not allowed after ``~>``. This differs from npm, which reads
  ``~>`` as ``~``.
- ``1.2 - 2.3.4`` = ``>=1.2.0 <=2.3.4``; a partial upper end includes its whole range
  (``1 - 2.3`` = ``>=1.0.0 <2.4.0-0``).
- ``""``, ``*``, ``x`` and ``latest`` match every release: resolving them selects the highest
  release, which is what ``latest`` means in the catalog.

Prereleases (npm's rule): a version with a prerelease satisfies a set only if some
comparator of that set carries a prerelease on the same ``X.Y.Z``, so ``^1.2.3-beta.1``
admits ``1.2.3-beta.2`` but not ``1.3.0-alpha``, and ``*`` admits no prerelease.

An empty alternative (``||``, ``1.2.3 ||``, ``|| 2``) is an empty set and so matches every
release, as node-semver reads it.

Two deliberate differences from node-semver: ``||`` is a plain union (node collapses a
range containing ``*`` to ``*``, silently dropping prerelease alternatives), and malformed
input is an error rather than ignored: a wildcard followed by a number (``1.x.3``), a
prerelease on a partial version, ``!=`` (not a range operator; write ``<X || >X``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, NamedTuple

from nestor_catalog_core._exceptions import InvalidConstraint, InvalidVersion
from nestor_catalog_core.versions.version import VersionKey, version_key

__all__ = ["MAX_CONSTRAINT_LENGTH", "Constraint"]

#: Longer constraint strings are refused (they arrive in query strings and documents).
MAX_CONSTRAINT_LENGTH: Final = 1024

_TOKEN_RE: Final = re.compile(
    r"(?P<ws>\s+)|(?P<or>\|\|)|(?P<comma>,)|(?P<op>~>|>=|<=|!=|[<>=^~])|(?P<word>[^\s,|<>=^~!]+)|(?P<bad>.)",
    re.ASCII | re.DOTALL,
)
_PARTIAL_RE: Final = re.compile(
    r"""
    v?
    (?P<major>0|[1-9][0-9]*|[xX*])
    (?:\.(?P<minor>0|[1-9][0-9]*|[xX*])
      (?:\.(?P<patch>0|[1-9][0-9]*|[xX*])
        (?:-(?P<prerelease>(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*))?
        (?:\+(?P<build>[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?
      )?
    )?
    """,
    re.VERBOSE | re.ASCII,
)
_PARTIAL_PRERELEASE_RE: Final = re.compile(r"v?[0-9xX*]+(?:\.[0-9xX*]+)?[-+].*", re.ASCII | re.DOTALL)
_LEADING_ZERO_RE: Final = re.compile(r"(?:^v?|\.)0[0-9]", re.ASCII)
_ASCII_WHITESPACE: Final = " \t\n\r\f\v"
_WILDCARDS: Final = frozenset({"x", "X", "*"})
_NULL_VERSION: Final = "0.0.0-0"  # the lowest version there is: "<0.0.0-0" matches nothing


class _Token(NamedTuple):
    kind: str
    value: str
    position: int


class _Partial(NamedTuple):
    """A possibly partial version; ``None`` components are wildcards (given or omitted)."""

    major: int | None
    minor: int | None
    patch: int | None
    prerelease: str | None
    given: int  # how many components were written, wildcards included


class _Comparator(NamedTuple):
    op: str  # one of "<", "<=", ">", ">=", "="
    version: str  # canonical text: no "v", no build metadata


class _Bound(NamedTuple):
    key: VersionKey
    version: str
    inclusive: bool


def _version_text(major: int, minor: int, patch: int, prerelease: str | None = None) -> str:
    core = f"{major}.{minor}.{patch}"
    return f"{core}-{prerelease}" if prerelease else core


def _bound(version: str, *, inclusive: bool) -> _Bound:
    return _Bound(version_key(version), version, inclusive)


@dataclass(frozen=True, slots=True)
class _Interval:
    """One AND-set collapsed: a lower and an upper bound (``None`` = unbounded) and the
    ``X.Y.Z`` tuples on which prereleases are admitted (npm's rule)."""

    lower: _Bound | None
    upper: _Bound | None
    prerelease_tuples: frozenset[tuple[int, int, int]]

    def contains(self, key: VersionKey) -> bool:
        lower = self.lower
        if lower is not None and (key < lower.key or (key == lower.key and not lower.inclusive)):
            return False
        upper = self.upper
        if upper is not None and (key > upper.key or (key == upper.key and not upper.inclusive)):
            return False
        return key[3] == 1 or (key[0], key[1], key[2]) in self.prerelease_tuples

    def is_empty(self) -> bool:
        lower, upper = self.lower, self.upper
        if upper is not None and upper.version == _NULL_VERSION and not upper.inclusive:
            return True
        if lower is None or upper is None:
            return False
        return lower.key > upper.key or (lower.key == upper.key and not (lower.inclusive and upper.inclusive))

    def canonical(self) -> str:
        lower, upper = self.lower, self.upper
        if lower is None and upper is None:
            return "*"
        if lower is not None and upper is not None and lower.key == upper.key and lower.inclusive and upper.inclusive:
            return lower.version
        parts = []
        if lower is not None:
            parts.append((">=" if lower.inclusive else ">") + lower.version)
        if upper is not None:
            parts.append(("<=" if upper.inclusive else "<") + upper.version)
        return " ".join(parts)


_EMPTY: Final = _Interval(None, _bound(_NULL_VERSION, inclusive=False), frozenset())
_ANY: Final = _Interval(None, None, frozenset())


def _stronger_lower(current: _Bound | None, candidate: _Bound) -> _Bound:
    if current is None or candidate.key > current.key:
        return candidate
    if candidate.key == current.key and not candidate.inclusive:
        return candidate
    return current


def _stronger_upper(current: _Bound | None, candidate: _Bound) -> _Bound:
    if current is None or candidate.key < current.key:
        return candidate
    if candidate.key == current.key and not candidate.inclusive:
        return candidate
    return current


def _prerelease_tuple(bound: _Bound | None) -> tuple[int, int, int] | None:
    if bound is None or bound.key[3] == 1:
        return None
    return (bound.key[0], bound.key[1], bound.key[2])


def _collapse(comparators: Iterable[_Comparator]) -> _Interval:
    """Intersect comparators into one interval. Dropping a dominated comparator never changes
    which prereleases pass: a prerelease on the dominated bound's ``X.Y.Z`` can only pass
    the dominating bound if that bound is itself a prerelease on the same ``X.Y.Z``."""
    lower: _Bound | None = None
    upper: _Bound | None = None
    for op, version in comparators:
        if op in (">=", ">", "="):
            lower = _stronger_lower(lower, _bound(version, inclusive=op != ">"))
        if op in ("<=", "<", "="):
            upper = _stronger_upper(upper, _bound(version, inclusive=op != "<"))
    tuples = frozenset(t for t in (_prerelease_tuple(lower), _prerelease_tuple(upper)) if t is not None)
    interval = _Interval(lower, upper, tuples)
    if interval.is_empty():
        return _EMPTY
    if lower is not None and lower.version == "0.0.0" and lower.inclusive:
        return _Interval(None, upper, tuples)  # in a non-empty set, ">=0.0.0" admits what no bound admits
    return interval


def _union(intervals: Iterable[_Interval]) -> tuple[_Interval, ...]:
    unique = list(dict.fromkeys(intervals))
    non_empty = [interval for interval in unique if not interval.is_empty()]
    return tuple(non_empty) if non_empty else (_EMPTY,)


# --- desugaring, one function per operator, following node-semver's range.js ---------------


def _desugar_major(
    v: _Partial, from_minor: Callable[[int, int, int | None, str | None], list[_Comparator]]
) -> list[_Comparator]:
    """``^`` and ``~`` alike up to the minor: ``^*`` admits anything, ``^X`` is ``>=X.0.0 <X+1.0.0-0``;
    with a minor given, ``from_minor(major, minor, patch, prerelease)`` desugars the rest."""
    major, minor, patch, prerelease, _ = v
    if major is None:
        return []
    if minor is None:
        return [_Comparator(">=", _version_text(major, 0, 0)), _Comparator("<", _version_text(major + 1, 0, 0, "0"))]
    return from_minor(major, minor, patch, prerelease)


def _desugar_caret(major: int, minor: int, patch: int | None, prerelease: str | None) -> list[_Comparator]:
    if patch is None:
        upper = _version_text(0, minor + 1, 0, "0") if major == 0 else _version_text(major + 1, 0, 0, "0")
        return [_Comparator(">=", _version_text(major, minor, 0)), _Comparator("<", upper)]
    if major == 0 and minor == 0:
        upper = _version_text(0, 0, patch + 1, "0")
    elif major == 0:
        upper = _version_text(0, minor + 1, 0, "0")
    else:
        upper = _version_text(major + 1, 0, 0, "0")
    return [_Comparator(">=", _version_text(major, minor, patch, prerelease)), _Comparator("<", upper)]


def _desugar_tilde(major: int, minor: int, patch: int | None, prerelease: str | None) -> list[_Comparator]:
    lower = _version_text(major, minor, 0) if patch is None else _version_text(major, minor, patch, prerelease)
    return [_Comparator(">=", lower), _Comparator("<", _version_text(major, minor + 1, 0, "0"))]


def _desugar_pessimistic(v: _Partial) -> list[_Comparator]:
    major, minor, patch, prerelease, given = v
    assert major is not None  # wildcards are refused by the parser before this point
    if given == 1:
        return [_Comparator(">=", _version_text(major, 0, 0))]
    assert minor is not None
    if given == 2:
        return [
            _Comparator(">=", _version_text(major, minor, 0)),
            _Comparator("<", _version_text(major + 1, 0, 0, "0")),
        ]
    assert patch is not None
    return [
        _Comparator(">=", _version_text(major, minor, patch, prerelease)),
        _Comparator("<", _version_text(major, minor + 1, 0, "0")),
    ]


def _desugar_xrange(op: str, v: _Partial) -> list[_Comparator]:
    major, minor, patch, prerelease, _ = v
    if major is not None and minor is not None and patch is not None:
        return [_Comparator(op or "=", _version_text(major, minor, patch, prerelease))]
    if major is None:
        return [_Comparator("<", _NULL_VERSION)] if op in (">", "<") else []
    if op in ("", "="):
        if minor is None:
            return [
                _Comparator(">=", _version_text(major, 0, 0)),
                _Comparator("<", _version_text(major + 1, 0, 0, "0")),
            ]
        return [
            _Comparator(">=", _version_text(major, minor, 0)),
            _Comparator("<", _version_text(major, minor + 1, 0, "0")),
        ]
    next_major, next_minor = (major + 1, 0) if minor is None else (major, minor + 1)
    if op == ">":
        return [_Comparator(">=", _version_text(next_major, next_minor, 0))]
    if op == "<=":
        return [_Comparator("<", _version_text(next_major, next_minor, 0, "0"))]
    if op == "<":
        return [_Comparator("<", _version_text(major, minor or 0, 0, "0"))]
    return [_Comparator(">=", _version_text(major, minor or 0, 0))]


def _desugar_hyphen(low: _Partial, high: _Partial) -> list[_Comparator]:
    out: list[_Comparator] = []
    if low.major is not None:
        lower = _version_text(low.major, low.minor or 0, low.patch or 0, low.prerelease)
        out.append(_Comparator(">=", lower))
    major, minor, patch, prerelease, _ = high
    if major is None:
        return out
    if minor is None:
        out.append(_Comparator("<", _version_text(major + 1, 0, 0, "0")))
    elif patch is None:
        out.append(_Comparator("<", _version_text(major, minor + 1, 0, "0")))
    else:
        out.append(_Comparator("<=", _version_text(major, minor, patch, prerelease)))
    return out


def _desugar(op: str, v: _Partial) -> list[_Comparator]:
    if op == "^":
        return _desugar_major(v, _desugar_caret)
    if op == "~":
        return _desugar_major(v, _desugar_tilde)
    if op == "~>":
        return _desugar_pessimistic(v)
    return _desugar_xrange(op, v)


# --- parsing ------------------------------------------------------------------------------


class _Parser:
    """Recursive-descent over the token list; every error names the offending token."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = [t for t in _tokenize(text) if t.kind != "ws"]
        self.index = 0

    def error(self, token: _Token, reason: str) -> InvalidConstraint:
        return InvalidConstraint(self.text, token.value, reason, position=token.position)

    def peek(self, offset: int = 0) -> _Token | None:
        index = self.index + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def parse(self) -> tuple[_Interval, ...]:
        intervals = [_collapse(self.parse_set())]
        while (token := self.peek()) is not None:
            assert token.kind == "or"
            self.index += 1
            intervals.append(_collapse(self.parse_set()))
        return _union(intervals)

    def parse_set(self) -> list[_Comparator]:
        comparators: list[_Comparator] = []
        seen_element = False
        separator: _Token | None = None
        while (token := self.peek()) is not None and token.kind != "or":
            if token.kind == "comma":
                if not seen_element or separator is not None:
                    raise self.error(token, "expected a version range before ','")
                separator = token
                self.index += 1
                continue
            comparators.extend(self.parse_element())
            seen_element = True
            separator = None
        if separator is not None:
            raise self.error(separator, "expected a version range after ','")
        # An empty alternative (``||``, ``1.x ||``) is an empty set: every release, as node-semver reads it.
        return comparators

    def parse_element(self) -> list[_Comparator]:
        token = self.peek()
        assert token is not None
        if token.kind == "op":
            return self.parse_operator(token)
        if token.kind == "bad":
            hint = "; did you mean '||'?" if token.value == "|" else ""
            raise self.error(token, f"unexpected character {token.value!r}{hint}")
        if token.value == "-":
            raise self.error(token, "'-' must stand between two plain versions (a hyphen range like '1.2 - 2.3')")
        if token.value == "latest":
            raise self.error(token, "'latest' must be the whole constraint")
        self.index += 1
        low = self.parse_partial(token)
        dash = self.peek()
        if dash is None or dash.kind != "word" or dash.value != "-":
            return _desugar_xrange("", low)
        self.index += 1
        high_token = self.peek()
        if high_token is None or high_token.kind != "word":
            raise self.error(dash, "expected a version after '-' (a hyphen range like '1.2 - 2.3')")
        self.index += 1
        return _desugar_hyphen(low, self.parse_partial(high_token))

    def parse_operator(self, op: _Token) -> list[_Comparator]:
        if op.value == "!=":
            raise self.error(op, "'!=' is not supported; exclude a version with '<X || >X'")
        self.index += 1
        word = self.peek()
        if word is None or word.kind != "word" or word.value == "-":
            raise self.error(op if word is None else word, f"expected a version after {op.value!r}")
        self.index += 1
        version = self.parse_partial(word)
        if op.value == "~>" and (version.major is None or version.given > _given_numbers(version)):
            raise self.error(word, "'~>' needs explicit numbers like '~> 1.2' (no wildcards)")
        return _desugar(op.value, version)

    def parse_partial(self, token: _Token) -> _Partial:
        match = _PARTIAL_RE.fullmatch(token.value)
        if match is None:
            raise self.error(token, _why_not_a_version(token.value))
        parts = [match["major"], match["minor"], match["patch"]]
        given = sum(part is not None for part in parts)
        numbers: list[int | None] = []
        for part in parts:
            if part is None or part in _WILDCARDS:
                numbers.append(None)
            elif numbers and numbers[-1] is None:
                raise self.error(token, "a wildcard cannot be followed by a number")
            else:
                numbers.append(int(part))
        if (match["prerelease"] or match["build"]) and numbers[2] is None:
            raise self.error(token, "a prerelease or build needs a full version like 1.2.3-rc.1")
        return _Partial(numbers[0], numbers[1], numbers[2], match["prerelease"], given)


def _given_numbers(version: _Partial) -> int:
    return sum(part is not None for part in (version.major, version.minor, version.patch))


def _tokenize(text: str) -> Iterator[_Token]:
    for match in _TOKEN_RE.finditer(text):
        kind = match.lastgroup
        assert kind is not None
        yield _Token(kind, match.group(), match.start())


def _why_not_a_version(word: str) -> str:
    if word.startswith("-"):
        return "not a version; write a hyphen range with spaces around '-' ('1.2 - 2.3')"
    if _PARTIAL_PRERELEASE_RE.fullmatch(word):
        return "a prerelease or build needs a full version like 1.2.3-rc.1"
    if _LEADING_ZERO_RE.search(word):
        return "not a version: numbers must not have leading zeros"
    return "not a version (expected forms like 1, 1.2, 1.x, 1.2.3 or 1.2.3-rc.1)"


def _parse_intervals(text: str) -> tuple[_Interval, ...]:
    if len(text) > MAX_CONSTRAINT_LENGTH:
        raise InvalidConstraint(
            text[:40] + "...",
            text[MAX_CONSTRAINT_LENGTH : MAX_CONSTRAINT_LENGTH + 10],
            f"longer than {MAX_CONSTRAINT_LENGTH} characters",
            position=MAX_CONSTRAINT_LENGTH,
        )
    if text.strip(_ASCII_WHITESPACE) in ("", "latest"):
        return (_ANY,)
    return _Parser(text).parse()


@lru_cache(maxsize=1024)
def _parse_cached(text: str) -> Constraint:
    return Constraint(text, _parse_intervals(text))


@dataclass(frozen=True, slots=True, eq=False)
class Constraint:
    """A parsed version constraint: immutable, hashable, cheap to test.

    ``str()`` is the text as written; ``canonical()`` the normalized comparator form
    (``^1.2`` -> ``>=1.2.0 <2.0.0-0``). Two constraints are equal when their normalized
    forms are, whatever their spelling. Build ``Constraint.parse(text)`` (cached) or
    ``Constraint.exact(version)``, not the constructor.
    """

    text: str
    _intervals: tuple[_Interval, ...]

    @classmethod
    def parse(cls, text: str) -> Constraint:
        """Parse ``text``; raises ``InvalidConstraint`` naming the offending token and its
        0-based position."""
        if not isinstance(text, str):
            raise InvalidConstraint(repr(text), repr(text), "a constraint must be a string")
        return _parse_cached(text)

    @classmethod
    def exact(cls, version: str) -> Constraint:
        """The constraint that admits exactly ``version`` (prerelease included, build
        metadata ignored); raises ``InvalidVersion`` if it is not a version."""
        key = version_key(version)
        core = _version_text(key[0], key[1], key[2], version.split("+", 1)[0].partition("-")[2] or None)
        point = _bound(core, inclusive=True)
        tuples = frozenset({(key[0], key[1], key[2])}) if key[3] == 0 else frozenset()
        return cls(version, (_Interval(point, point, tuples),))

    def allows(self, version: str) -> bool:
        """Whether ``version`` satisfies the constraint; ``False`` for anything that is not a
        full SemVer version (never raises)."""
        try:
            key = version_key(version)
        except (InvalidVersion, TypeError):
            return False
        return any(interval.contains(key) for interval in self._intervals)

    def select(self, versions: Iterable[str]) -> str | None:
        """The highest allowed version among ``versions`` (the string as given), or ``None``.
        Strings that are not versions are skipped. Among versions of equal precedence
        (differing only in build metadata) the greatest text wins, so the choice never
        depends on the input order."""
        best_key: VersionKey | None = None
        best = ""
        intervals = self._intervals
        for version in versions:
            try:
                key = version_key(version)
            except (InvalidVersion, TypeError):
                continue
            if best_key is not None and (key < best_key or (key == best_key and version <= best)):
                continue
            for interval in intervals:
                if interval.contains(key):
                    best_key, best = key, version
                    break
        return None if best_key is None else best

    def canonical(self) -> str:
        """The normalized form: each ``||`` alternative as ``>=A <B`` (``*`` for any release,
        ``<0.0.0-0`` for nothing). ``Constraint.parse(c.canonical())`` admits exactly what
        ``c`` admits."""
        return " || ".join(interval.canonical() for interval in self._intervals)

    @property
    def matches_nothing(self) -> bool:
        """Whether the constraint can admit no version at all (``<0.0.0-0``, ``>2 <1``)."""
        return self._intervals == (_EMPTY,)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Constraint({self.text!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Constraint):
            return NotImplemented
        return self._intervals == other._intervals

    def __hash__(self) -> int:
        return hash(self._intervals)
