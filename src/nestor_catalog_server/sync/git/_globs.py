"""Include/exclude globs of a source (git repository or local directory), in ``.gitignore``'s
dialect: the one ``.nestorignore`` uses, read by the same library (``pathspec``).

A pattern is matched against the path of a file relative to the source's folder (POSIX
separators, case-sensitive, as git itself is), with git's rules:

- ``*`` matches any run of characters except ``/``; ``?`` one character except ``/``;
  ``[abc]``, ``[a-z]`` and ``[!abc]`` are character classes;
- a pattern with no ``/`` except a trailing one matches a name at any depth: ``*.yaml``
  matches ``a.yaml`` and ``aws/s3/bucket.yaml``; ``drafts/`` matches every folder named
  ``drafts`` and everything under it;
- a ``/`` at the start or in the middle anchors the pattern at the source folder:
  ``/*.yaml`` is only the files directly in it, ``aws/*.yaml`` only ``aws/x.yaml``;
- ``**`` as a whole segment matches zero or more folders: ``aws/**/v1/*.yaml`` matches
  ``aws/v1/x.yaml`` and ``aws/s3/v1/x.yaml``; ``drafts/**`` everything under ``drafts/``;
- ``!pattern`` takes back what an earlier pattern of the same list matched; the last
  matching pattern of a list decides.

A file is selected when the include list matches it and the exclude list does not. An empty
pattern, an empty path segment (``a//b``) and a pattern that is only a comment (``#...``:
write ``\\#`` for a literal ``#``) are configuration errors, not patterns that match nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

from pathspec import GitIgnoreSpec

from nestor_catalog_core.loading import DEFINITION_GLOBS, compile_globs

__all__ = ["DEFAULT_INCLUDE", "PathFilter", "compile_globs"]

DEFAULT_INCLUDE: tuple[str, ...] = DEFINITION_GLOBS


def _matches(spec: GitIgnoreSpec | None, rel_path: str) -> bool:
    return spec is not None and spec.check_file(rel_path).include is True


class PathFilter:
    """Selects the files of a source: ``selects(rel)`` for files, ``excluded(rel)`` for any path."""

    __slots__ = ("_exclude", "_include")

    def __init__(self, include: Sequence[str] = DEFAULT_INCLUDE, exclude: Sequence[str] = ()) -> None:
        self._include = compile_globs(include or DEFAULT_INCLUDE)
        self._exclude = compile_globs(exclude)

    def selects(self, rel_path: str) -> bool:
        """Whether the file at ``rel_path`` (relative to the source folder) is part of the source."""
        return _matches(self._include, rel_path) and not _matches(self._exclude, rel_path)

    def excluded(self, rel_path: str) -> bool:
        """Whether ``rel_path`` matches an exclude pattern (used for entries that are not files)."""
        return _matches(self._exclude, rel_path)
