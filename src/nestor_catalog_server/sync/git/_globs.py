"""Include/exclude globs of a git source, compiled once into one regular expression each.

A pattern is matched against the *whole* path of a file relative to the source's ``path``
folder (POSIX separators, case-sensitive, as git itself is):

- ``*`` matches any run of characters except ``/``; ``?`` one character except ``/``;
  ``[abc]``, ``[a-z]`` and ``[!abc]`` are character classes;
- ``**`` as a whole segment matches zero or more folders: ``**/*.yaml`` matches ``a.yaml``
  and ``aws/s3/bucket.yaml``; ``drafts/**`` matches everything under ``drafts/``;
  ``aws/**/v1/*.yaml`` matches ``aws/v1/x.yaml`` and ``aws/s3/v1/x.yaml``;
- a leading ``/`` is ignored (every pattern is anchored at the ``path`` folder), so
  ``*.yaml`` matches only files directly in it; a trailing ``/`` means everything under
  that folder (``drafts/`` is ``drafts/**``).

A file is selected when it matches at least one include pattern and no exclude pattern.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from nestor_catalog_core import ConfigError
from nestor_catalog_core.loading import DEFINITION_GLOBS

__all__ = ["DEFAULT_INCLUDE", "PathFilter", "glob_to_regex"]

DEFAULT_INCLUDE: tuple[str, ...] = DEFINITION_GLOBS

_ANY_FOLDERS = "(?:[^/]*/)*"
_CLASS_ESCAPES = frozenset("\\[]&~|^")


def _translate_class(body: str) -> str:
    negate = body[:1] in ("!", "^")
    if negate:
        body = body[1:]
    escaped = "".join("\\" + char if char in _CLASS_ESCAPES else char for char in body)
    return f"[{'^' if negate else ''}{escaped}]"


def _class_end(segment: str, start: int) -> int:
    """Index of the ``]`` closing the class opened at ``start``, or -1 when it is unclosed."""
    index = start + 1
    if index < len(segment) and segment[index] in "!^":
        index += 1
    if index < len(segment) and segment[index] == "]":
        index += 1
    return segment.find("]", index)


def _translate_segment(segment: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(segment):
        char = segment[index]
        if char == "*":
            while index + 1 < len(segment) and segment[index + 1] == "*":
                index += 1
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and (end := _class_end(segment, index)) != -1:
            out.append(_translate_class(segment[index + 1 : end]))
            index = end
        else:
            out.append(re.escape(char))
        index += 1
    return "".join(out)


def glob_to_regex(pattern: str) -> str:
    """The regular expression (for ``re.fullmatch``) of one glob; see the module docstring."""
    text = pattern.strip()
    if text.endswith("/"):
        text += "**"
    segments = text.lstrip("/").split("/")
    if any(not segment for segment in segments):
        raise ConfigError(f"invalid glob pattern {pattern!r}: empty path segment", details={"pattern": pattern})
    pieces: list[str] = []
    last = len(segments) - 1
    for position, segment in enumerate(segments):
        if segment == "**":
            pieces.append(".*" if position == last else _ANY_FOLDERS)
        elif position == last:
            pieces.append(_translate_segment(segment))
        else:
            pieces.append(_translate_segment(segment) + "/")
    return "".join(pieces)


def _compile(patterns: Sequence[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{glob_to_regex(pattern)})" for pattern in patterns))


class PathFilter:
    """Selects the files of a source: ``selects(rel)`` for files, ``excluded(rel)`` for any path."""

    __slots__ = ("_exclude", "_include")

    def __init__(self, include: Sequence[str] = DEFAULT_INCLUDE, exclude: Sequence[str] = ()) -> None:
        self._include = _compile(include or DEFAULT_INCLUDE)
        self._exclude = _compile(exclude)

    def selects(self, rel_path: str) -> bool:
        """Whether the file at ``rel_path`` (relative to the source folder) is part of the source."""
        if self._exclude is not None and self._exclude.fullmatch(rel_path):
            return False
        return self._include is not None and self._include.fullmatch(rel_path) is not None

    def excluded(self, rel_path: str) -> bool:
        """Whether ``rel_path`` matches an exclude pattern (used for entries that are not files)."""
        return self._exclude is not None and self._exclude.fullmatch(rel_path) is not None
