"""User-supplied regular expressions, on a linear-time engine (RE2).

A definition's ``validation.pattern`` is written by whoever publishes it and matched against
whatever a consumer posts, so Python's backtracking ``re`` would let anyone with read access
stall a worker with ``^(a+)+$`` and a long run of ``a``. Every such pattern is compiled and
matched here, by RE2 (``google-re2``): matching time grows with the input, never
exponentially. RE2 has no backreferences, lookaround or possessive quantifiers; a pattern
using them gets a ``PATTERN_INVALID`` finding saying so and what to write instead. The
catalog's own fixed patterns (names, versions) stay on ``re``: they are ours and linear.

Matching follows JSON Schema's ``pattern``: searched, not anchored.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final, Protocol

import re2

__all__ = ["PatternError", "RegexPattern", "compile_pattern", "compiled_pattern", "pattern_error"]

#: RE2's own bound on the memory of one compiled program (its default is 8 MiB).
_MAX_PROGRAM_MEMORY: Final = 8 << 20


class RegexPattern(Protocol):
    """What the validators need of a compiled pattern."""

    def search(self, text: str) -> object | None: ...


class PatternError(ValueError):
    """A pattern RE2 cannot compile; ``str()`` says why and what to write instead."""


def _options() -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # RE2 would print every refused pattern to stderr
    options.never_capture = True  # only "does it match" is ever asked
    options.max_mem = _MAX_PROGRAM_MEMORY
    return options


_OPTIONS: Final = _options()

# RE2's message (matched at its start) -> what the user should do about it.
_HINTS: Final[tuple[tuple[str, str], ...]] = (
    (
        r"invalid escape sequence: \\[1-9k]",
        "backreferences (\\1, \\k<name>) are not supported: patterns run on a linear-time engine (RE2); "
        "repeat the group instead, or check that part with enum or min_length/max_length",
    ),
    (
        r"invalid perl operator: \(\?=",
        "lookahead (?=...) is not supported (RE2, linear time); match the text itself, e.g. write "
        "'^[a-z][a-z0-9]*$' rather than '^(?=[a-z])[a-z0-9]*$'",
    ),
    (
        r"invalid perl operator: \(\?!",
        "negative lookahead (?!...) is not supported (RE2, linear time); use enum or a character class",
    ),
    (
        r"invalid perl operator: \(\?<",
        "lookbehind (?<=...)/(?<!...) is not supported (RE2, linear time); match the text itself",
    ),
    (
        r"invalid perl operator: \(\?>",
        "atomic groups (?>...) are not needed nor supported: RE2 never backtracks; use (?:...)",
    ),
    (
        r"bad repetition operator: \+\+",
        "possessive quantifiers (a++, a*+) are not needed nor supported: RE2 never backtracks; write a+",
    ),
    (
        r"bad repetition operator: \*\+",
        "possessive quantifiers (a++, a*+) are not needed nor supported: RE2 never backtracks; write a*",
    ),
    (
        r"bad repetition operator: \?\+",
        "possessive quantifiers are not needed nor supported: RE2 never backtracks; write a?",
    ),
    (
        "invalid repetition size",
        "a counted repetition may be at most {1000}; use + or * and bound the length with max_length",
    ),
    ("pattern too large", "the pattern compiles to a program larger than 8 MiB; simplify it or use enum"),
)


def pattern_error(pattern: str) -> str | None:
    """Why ``pattern`` cannot be used (a sentence for a finding), or ``None`` when it can."""
    try:
        compile_pattern(pattern)
    except PatternError as exc:
        return str(exc)
    return None


def compile_pattern(pattern: str) -> RegexPattern:
    """``pattern`` compiled by RE2; raises ``PatternError`` with the reason and a fix."""
    compiled = compiled_pattern(pattern)
    if compiled is None:
        raise PatternError(_explain(pattern))
    return compiled


class _SearchSet:
    """A one-pattern RE2 ``Set``: answers "is there a match" without the match object, whose
    byte-to-character offset decoding costs ``re2.compile(...).search`` 3-4x more on long text."""

    __slots__ = ("_set",)

    def __init__(self, pattern: str) -> None:
        self._set = re2.Set.SearchSet(_OPTIONS)
        self._set.Add(pattern)
        self._set.Compile()

    def search(self, text: str) -> object | None:
        return self._set.Match(text)


@lru_cache(maxsize=4096)
def compiled_pattern(pattern: str) -> RegexPattern | None:
    """The compiled pattern, or ``None`` when RE2 refuses it (``pattern_error`` says why)."""
    try:
        re2.compile(pattern, _OPTIONS)  # the checks and messages of the full compiler
        return _SearchSet(pattern)
    except (re2.error, TypeError, ValueError):
        return None


def _explain(pattern: str) -> str:
    try:
        re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        raw = exc.args[0] if exc.args else exc
        reason = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    except (TypeError, ValueError) as exc:
        reason = str(exc)
    else:  # pragma: no cover - only called for patterns that failed
        reason = "unknown error"
    for reason_pattern, hint in _HINTS:
        if re.match(reason_pattern, reason):
            return f"pattern {_short(pattern)} cannot be used: {hint} ({reason})"
    return f"pattern {_short(pattern)} is not a valid regular expression: {reason}"


def _short(pattern: str) -> str:
    text = repr(pattern)
    return text if len(text) <= 80 else text[:77] + "..."
