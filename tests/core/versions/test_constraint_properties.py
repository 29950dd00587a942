"""Property tests: constraints generated from the grammar are checked against a second,
deliberately naive interpretation written here. The reference desugars each element into
explicit comparator tuples the way node-semver's range.js does (string by string, no
interval collapsing), evaluates them with ``semver.Version.compare`` and applies npm's
prerelease rule literally; ``||`` is a plain union."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache

import semver
from hypothesis import given, settings
from hypothesis import strategies as st

from nestor_catalog_core import InvalidConstraint
from nestor_catalog_core.versions import Constraint

PRERELEASES = ["0", "alpha", "beta.1", "rc.2"]
GRID = [
    f"{major}.{minor}.{patch}" + (f"-{pre}" if pre else "")
    for major, minor, patch in itertools.product(range(4), repeat=3)
    for pre in [None, *PRERELEASES]
]
PARSED_GRID = [(text, semver.Version.parse(text)) for text in GRID]


@dataclass(frozen=True)
class Partial:
    parts: tuple[int | None, ...]  # 1 to 3 written components; None = wildcard
    prerelease: str | None
    wildcard: str
    v_prefix: bool

    def render(self) -> str:
        core = ".".join(self.wildcard if part is None else str(part) for part in self.parts)
        return ("v" if self.v_prefix else "") + core + (f"-{self.prerelease}" if self.prerelease else "")

    def padded(self) -> tuple[int | None, int | None, int | None]:
        a, b, c = (*self.parts, None, None, None)[:3]
        return a, b, c


@dataclass(frozen=True)
class Element:
    op: str  # "" "=" "<" "<=" ">" ">=" "^" "~" "~>" or "-" for a hyphen range
    low: Partial
    high: Partial | None = None
    space: bool = False

    def render(self) -> str:
        if self.op == "-":
            assert self.high is not None
            return f"{self.low.render()} - {self.high.render()}"
        return self.op + (" " if self.space and self.op else "") + self.low.render()


@st.composite
def partials(draw: st.DrawFn, *, wildcards: bool = True) -> Partial:
    count = draw(st.sampled_from([3, 3, 3, 2, 1]))
    numbers = st.integers(0, 2)
    mostly_numbers = st.integers(0, 9).map(lambda i: None if i >= 8 else i % 3)  # 20% wildcards
    parts: list[int | None] = []
    for _ in range(count):
        if parts and parts[-1] is None:
            parts.append(None)
        else:
            parts.append(draw(mostly_numbers if wildcards else numbers))
    prerelease = None
    if count == 3 and parts[2] is not None:
        prerelease = draw(st.one_of(st.none(), st.sampled_from(PRERELEASES)))
    return Partial(tuple(parts), prerelease, draw(st.sampled_from("xX*")), draw(st.booleans()))


@st.composite
def elements(draw: st.DrawFn) -> Element:
    op = draw(st.sampled_from(["", "=", "<", "<=", ">", ">=", "^", "~", "~>", "-"]))
    if op == "-":
        return Element(op, draw(partials()), draw(partials()))
    return Element(op, draw(partials(wildcards=op != "~>")), space=draw(st.booleans()))


constraint_sets = st.lists(st.lists(elements(), min_size=1, max_size=3), min_size=1, max_size=3)


@st.composite
def rendered(draw: st.DrawFn) -> tuple[str, list[list[Element]]]:
    sets = draw(constraint_sets)
    texts = []
    for elements_ in sets:
        separators = [draw(st.sampled_from([" ", "  ", ", ", ",", " ,"])) for _ in elements_]
        text = elements_[0].render()
        for separator, element in zip(separators[1:], elements_[1:], strict=True):
            text += separator + element.render()
        texts.append(text)
    return draw(st.sampled_from([" || ", "||"])).join(texts), sets


# --- the reference interpretation ---------------------------------------------------------


def _v(major: int, minor: int, patch: int, pre: str | None = None) -> str:
    return f"{major}.{minor}.{patch}" + (f"-{pre}" if pre else "")


def reference_comparators(element: Element) -> list[tuple[str, str]]:
    M, m, p = element.low.padded()
    pr = element.low.prerelease
    op = element.op
    if op == "-":
        assert element.high is not None
        out = []
        if M is not None:
            out.append((">=", _v(M, m or 0, p or 0, pr)))
        tM, tm, tp = element.high.padded()
        if tM is None:
            return out
        if tm is None:
            out.append(("<", _v(tM + 1, 0, 0, "0")))
        elif tp is None:
            out.append(("<", _v(tM, tm + 1, 0, "0")))
        else:
            out.append(("<=", _v(tM, tm, tp, element.high.prerelease)))
        return out
    if op == "~>":
        assert M is not None
        written = len(element.low.parts)
        if written == 1:
            return [(">=", _v(M, 0, 0))]
        assert m is not None
        if written == 2:
            return [(">=", _v(M, m, 0)), ("<", _v(M + 1, 0, 0, "0"))]
        assert p is not None
        return [(">=", _v(M, m, p, pr)), ("<", _v(M, m + 1, 0, "0"))]
    if op == "^":
        if M is None:
            return []
        if m is None:
            return [(">=", _v(M, 0, 0)), ("<", _v(M + 1, 0, 0, "0"))]
        if p is None:
            return [(">=", _v(M, m, 0)), ("<", _v(0, m + 1, 0, "0") if M == 0 else _v(M + 1, 0, 0, "0"))]
        if M == 0 and m == 0:
            return [(">=", _v(M, m, p, pr)), ("<", _v(0, 0, p + 1, "0"))]
        if M == 0:
            return [(">=", _v(M, m, p, pr)), ("<", _v(0, m + 1, 0, "0"))]
        return [(">=", _v(M, m, p, pr)), ("<", _v(M + 1, 0, 0, "0"))]
    if op == "~":
        if M is None:
            return []
        if m is None:
            return [(">=", _v(M, 0, 0)), ("<", _v(M + 1, 0, 0, "0"))]
        if p is None:
            return [(">=", _v(M, m, 0)), ("<", _v(M, m + 1, 0, "0"))]
        return [(">=", _v(M, m, p, pr)), ("<", _v(M, m + 1, 0, "0"))]
    # x-ranges and plain comparators (node-semver's replaceXRange)
    if M is not None and m is not None and p is not None:
        return [(op or "=", _v(M, m, p, pr))]
    gtlt = "" if op == "=" else op
    if M is None:
        return [("<", "0.0.0-0")] if gtlt in (">", "<") else []
    if gtlt:
        m2 = 0 if m is None else m
        if gtlt == ">":
            return [(">=", _v(M + 1, 0, 0) if m is None else _v(M, m2 + 1, 0))]
        if gtlt == "<=":
            return [("<", _v(M + 1, 0, 0, "0") if m is None else _v(M, m2 + 1, 0, "0"))]
        if gtlt == "<":
            return [("<", _v(M, m2, 0, "0"))]
        return [(">=", _v(M, m2, 0))]
    if m is None:
        return [(">=", _v(M, 0, 0)), ("<", _v(M + 1, 0, 0, "0"))]
    return [(">=", _v(M, m, 0)), ("<", _v(M, m + 1, 0, "0"))]


@cache
def _parsed(version: str) -> semver.Version:
    return semver.Version.parse(version)


_TESTS = {
    "=": lambda c: c == 0,
    "<": lambda c: c < 0,
    "<=": lambda c: c <= 0,
    ">": lambda c: c > 0,
    ">=": lambda c: c >= 0,
}


def reference_allows(sets: list[list[tuple[str, str]]], version: semver.Version) -> bool:
    for comparators in sets:
        parsed = [(op, _parsed(text)) for op, text in comparators]
        if not all(_TESTS[op](version.compare(bound)) for op, bound in parsed):
            continue
        if not version.prerelease:
            return True
        same_tuple = (version.major, version.minor, version.patch)
        if any(bound.prerelease and (bound.major, bound.minor, bound.patch) == same_tuple for _, bound in parsed):
            return True
    return False


def reference_sets(sets: list[list[Element]]) -> list[list[tuple[str, str]]]:
    return [[c for element in elements_ for c in reference_comparators(element)] for elements_ in sets]


# --- properties ---------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(rendered())
def test_allows_agrees_with_the_reference(case: tuple[str, list[list[Element]]]) -> None:
    text, sets = case
    constraint = Constraint.parse(text)
    reference = reference_sets(sets)
    for version, parsed in PARSED_GRID:
        assert constraint.allows(version) == reference_allows(reference, parsed), (text, version)


@settings(max_examples=300, deadline=None)
@given(elements())
def test_single_elements_agree_with_the_reference(element: Element) -> None:
    constraint = Constraint.parse(element.render())
    reference = reference_sets([[element]])
    for version, parsed in PARSED_GRID:
        assert constraint.allows(version) == reference_allows(reference, parsed), (element.render(), version)


@settings(max_examples=150, deadline=None)
@given(rendered())
def test_canonical_round_trips(case: tuple[str, list[list[Element]]]) -> None:
    text, _ = case
    constraint = Constraint.parse(text)
    again = Constraint.parse(constraint.canonical())
    assert again == constraint
    assert again.canonical() == constraint.canonical()
    for version in GRID:
        assert again.allows(version) == constraint.allows(version), (text, constraint.canonical(), version)


@settings(max_examples=100, deadline=None)
@given(rendered(), st.lists(st.sampled_from(GRID), max_size=12))
def test_select_is_the_highest_allowed(case: tuple[str, list[list[Element]]], versions: list[str]) -> None:
    constraint = Constraint.parse(case[0])
    allowed = [v for v in versions if constraint.allows(v)]
    expected = max(allowed, key=semver.Version.parse) if allowed else None
    assert constraint.select(versions) == expected


_GRAMMAR_ALPHABET = "0123456789.xX*^~<>=|-, v+abr\t!"


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=40), st.text(alphabet=_GRAMMAR_ALPHABET, max_size=30)))
def test_arbitrary_text_parses_or_raises_invalid_constraint(text: str) -> None:
    outcome = _parse_or_error(text)
    if isinstance(outcome, Constraint):
        assert Constraint.parse(outcome.canonical()) == outcome
        return
    assert outcome.token
    assert outcome.position is not None
    assert 0 <= outcome.position <= len(text)
    assert text[outcome.position :].startswith(outcome.token) or len(text) > 1024


def _parse_or_error(text: str) -> Constraint | InvalidConstraint:
    try:
        return Constraint.parse(text)
    except InvalidConstraint as error:
        return error
