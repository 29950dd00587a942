"""``.nestorignore``: ``.gitignore`` semantics (through ``pathspec``), for every tree walk.

Each ``.nestorignore`` applies to the directory holding it and everything below, with git's
rules: a pattern without a ``/`` (other than a trailing one) matches a name at any depth
(``*.draft.yaml``, ``fixtures``); one with a ``/`` in the middle or at the start is anchored
at that directory (``fixtures/*.yaml`` matches ``fixtures/a.yaml``, not
``fixtures/sub/a.yaml``; ``/top.yaml`` only the top one); ``**`` crosses directories
(``fixtures/**/*.yaml``); a trailing ``/`` matches directories only; ``!pattern`` re-includes
what an earlier pattern excluded; the last matching pattern wins; a deeper ``.nestorignore``
overrides a shallower one; ``#`` starts a comment and ``\\#``/``\\!`` escape. As in git, a
file inside an ignored directory cannot be re-included (the walk never enters it).

Sources' ``include``/``exclude`` lists use the same dialect (``compile_globs``).

The same rules serve the working-tree walk (``validate``, ``check-compat``, a local source and
its watcher), ``check-compat --against`` (the tree at a git ref) and git sync.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING

from nestor_catalog_core._exceptions import ConfigError

if TYPE_CHECKING:
    # Imported where patterns are compiled: a tree without .nestorignore never needs it.
    from pathspec import GitIgnoreSpec

__all__ = ["IGNORE_FILE", "IgnoreRules", "compile_globs", "is_ignored"]

IGNORE_FILE = ".nestorignore"


def _check(pattern: str) -> None:
    text = pattern.strip()
    if not text or text == "!":
        raise ConfigError(f"invalid glob pattern {pattern!r}: it is empty", details={"pattern": pattern})
    if text.startswith("#"):
        raise ConfigError(
            f"invalid glob pattern {pattern!r}: a pattern starting with # is a comment; write \\# for a literal #",
            details={"pattern": pattern},
        )
    if "//" in text.rstrip("/"):
        raise ConfigError(f"invalid glob pattern {pattern!r}: empty path segment", details={"pattern": pattern})


def compile_globs(patterns: Sequence[str]) -> GitIgnoreSpec | None:
    """The compiled list (None when empty); raises ``ConfigError`` for an invalid pattern."""
    if not patterns:
        return None
    for pattern in patterns:
        _check(pattern)
    from pathspec import GitIgnoreSpec

    try:
        return GitIgnoreSpec.from_lines([pattern.strip() for pattern in patterns])
    except ValueError as exc:
        raise ConfigError(f"invalid glob pattern: {exc}", details={"patterns": list(patterns)}) from exc


@dataclass(frozen=True, slots=True, eq=False)
class IgnoreRules:
    """The patterns of one ``.nestorignore`` file, relative to ``base`` (its directory)."""

    base: PurePath
    spec: GitIgnoreSpec
    patterns: tuple[str, ...]

    @classmethod
    def parse(cls, base: PurePath, text: str) -> IgnoreRules | None:
        """The rules of ``text``, or None when it holds no pattern."""
        lines = text.splitlines()
        patterns = tuple(line for line in lines if line.strip() and not line.lstrip().startswith("#"))
        if not patterns:
            return None
        from pathspec import GitIgnoreSpec

        return cls(base, GitIgnoreSpec.from_lines(lines), patterns)

    def decision(self, path: PurePath, *, is_dir: bool) -> bool | None:
        """True when the last matching pattern ignores ``path``, False when it re-includes it
        (``!``), None when no pattern matches."""
        relative = path.relative_to(self.base).as_posix()
        result = self.spec.check_file(relative + "/" if is_dir else relative)
        return result.include

    def matches(self, path: PurePath, *, is_dir: bool) -> bool:
        """Whether these rules alone ignore ``path``."""
        return self.decision(path, is_dir=is_dir) is True


def is_ignored(scopes: Sequence[IgnoreRules], path: PurePath, *, is_dir: bool) -> bool:
    """Whether ``path`` is ignored by the ``.nestorignore`` files above it, ``scopes`` ordered
    from the shallowest to the deepest: the deepest file with a matching pattern decides."""
    for scope in reversed(scopes):
        decision = scope.decision(path, is_dir=is_dir)
        if decision is not None:
            return decision
    return False
