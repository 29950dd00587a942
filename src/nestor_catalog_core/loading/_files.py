"""Files and directory trees: what to read, and reading it safely.

A directory is walked recursively in sorted order over ``*.yaml``, ``*.yml`` and ``*.json``,
skipping hidden files and directories (``.git``, ``.github``). The directory itself is the
root unless ``LoadOptions.root`` says otherwise: a symlink whose target is outside the root
is refused with ``SYMLINK_OUTSIDE_ROOT`` (never read), a symlinked directory inside it is
followed once. Files named explicitly are read whatever their suffix.

A ``.nestorignore`` file in a walked directory skips entries below it with ``.gitignore``
semantics (``_ignore``: anchoring, ``**``, ``!`` negation, directory-only patterns, deeper
files overriding shallower ones). Paths given explicitly are always read, so
``validate examples/`` skips what ``examples/.nestorignore`` lists while
``validate examples/invalid/`` reads it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

from nestor_catalog_core.loading._bytes import DEFAULT_OPTIONS, load_bytes
from nestor_catalog_core.loading._documents import LoadOptions, LoadResult, load_finding
from nestor_catalog_core.loading._ignore import IGNORE_FILE, IgnoreRules, is_ignored

__all__ = [
    "DEFINITION_GLOBS",
    "DEFINITION_SUFFIXES",
    "IGNORE_FILE",
    "discover",
    "ignored_below",
    "iter_load",
    "load_file",
]

_SUFFIXES: Final = (".yaml", ".yml", ".json")
#: The file endings read as definitions (compared lower-cased).
DEFINITION_SUFFIXES: Final = frozenset(_SUFFIXES)
#: The same as globs below a directory: what a sync source includes when it names nothing.
DEFINITION_GLOBS: Final = tuple(f"**/*{suffix}" for suffix in _SUFFIXES)


@dataclass(frozen=True, slots=True)
class _Entry:
    """A file the walk found: where to read it, how findings name it, what bounds it."""

    path: Path
    display: str
    root: Path | None  # the resolved root to check against; None when the walk already proves containment
    error: str | None = None


def load_file(path: Path, *, options: LoadOptions = DEFAULT_OPTIONS, display: str | None = None) -> LoadResult:
    """Load one file; ``display`` is the name findings carry (default: ``str(path)``)."""
    root = _resolved(options.root) if options.root is not None else None
    return _load_entry(_Entry(path, display if display is not None else str(path), root), options)


def discover(paths: Iterable[Path], *, options: LoadOptions = DEFAULT_OPTIONS) -> list[Path]:
    """The files ``iter_load`` would read, in the order it reads them."""
    return [entry.path for entry in _entries(paths, options)]


def iter_load(paths: Iterable[Path], *, options: LoadOptions = DEFAULT_OPTIONS) -> Iterator[LoadResult]:
    """Load files and directory trees, one ``LoadResult`` per file, lazily."""
    for entry in _entries(paths, options):
        yield _load_entry(entry, options)


def _entries(paths: Iterable[Path], options: LoadOptions) -> Iterator[_Entry]:
    explicit_root = _resolved(options.root) if options.root is not None else None
    seen: set[str] = set()
    for path in paths:
        if path.is_dir():
            root = explicit_root if explicit_root is not None else _resolved(path)
            needs_check = explicit_root is not None and not _inside(_resolved(path), explicit_root)
            entries: Iterable[_Entry] = (
                [_Entry(path, str(path), explicit_root)] if needs_check else _walk(path, root, {_resolved(path)})
            )
        else:
            entries = [_Entry(path, str(path), explicit_root)]
        for entry in entries:
            if entry.display not in seen:
                seen.add(entry.display)
                yield entry


def ignored_below(path: Path, root: Path) -> bool:
    """Whether a walk of ``root`` would skip ``path`` because of the ``.nestorignore`` files on
    the way down (``validate --force-exclude``: files named explicitly, as pre-commit passes
    them, honour the ignore files as a folder walk does). False for paths outside ``root``."""
    target, base = Path(os.path.abspath(path)), Path(os.path.abspath(root))
    if not target.is_relative_to(base):
        return False
    parts = target.relative_to(base).parts
    scopes: tuple[IgnoreRules, ...] = ()
    current = base
    for depth, part in enumerate(parts):
        rules = _read_ignore(current)
        if rules is not None:
            scopes = (*scopes, rules)
        current = current / part
        if scopes and is_ignored(scopes, current, is_dir=depth < len(parts) - 1 or current.is_dir()):
            return True
    return False


def _read_ignore(directory: Path) -> IgnoreRules | None:
    try:
        text = (directory / IGNORE_FILE).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return IgnoreRules.parse(directory, text)


def _walk(directory: Path, root: Path, visited: set[Path], scopes: tuple[IgnoreRules, ...] = ()) -> Iterator[_Entry]:
    try:
        with os.scandir(directory) as scan:
            children = sorted(scan, key=lambda entry: entry.name)
    except OSError as exc:
        yield _Entry(directory, str(directory), None, error=f"cannot list directory: {exc.strerror or exc}")
        return
    if any(child.name == IGNORE_FILE for child in children):
        ignore = _read_ignore(directory)
        if ignore is not None:
            scopes = (*scopes, ignore)
    for child in children:
        if child.name.startswith("."):
            continue
        path = Path(child.path)
        if scopes and is_ignored(scopes, path, is_dir=child.is_dir()):
            continue
        if child.is_symlink():
            yield from _walk_symlink(path, root, visited, scopes)
        elif child.is_dir(follow_symlinks=False):
            yield from _walk(path, root, visited, scopes)
        elif path.suffix.lower() in DEFINITION_SUFFIXES:
            yield _Entry(path, str(path), None)


def _walk_symlink(path: Path, root: Path, visited: set[Path], scopes: tuple[IgnoreRules, ...]) -> Iterator[_Entry]:
    target = _resolved(path)
    if not _inside(target, root):
        yield _Entry(path, str(path), root)
    elif target.is_dir():
        if target not in visited:
            visited.add(target)
            yield from _walk(path, root, visited, scopes)
    elif path.suffix.lower() in DEFINITION_SUFFIXES:
        yield _Entry(path, str(path), root)


def _load_entry(entry: _Entry, options: LoadOptions) -> LoadResult:
    if entry.error is not None:
        return LoadResult(entry.display, findings=[load_finding("FILE_UNREADABLE", entry.error, entry.display)])
    if entry.root is not None and not _inside(_resolved(entry.path), entry.root):
        message = f"{entry.display} resolves to {_resolved(entry.path)}, outside {entry.root}; it was not read"
        return LoadResult(entry.display, findings=[load_finding("SYMLINK_OUTSIDE_ROOT", message, entry.display)])
    try:
        data = _read(entry.path, options)
    except _Unreadable as exc:
        return LoadResult(entry.display, findings=[load_finding(exc.rule, exc.message, entry.display)])
    return load_bytes(data, entry.display, options=options, suffix=entry.path.suffix)


class _Unreadable(Exception):
    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


def _read(path: Path, options: LoadOptions) -> bytes:
    """The file's bytes; never blocks on a FIFO or device and never reads past the size limit."""
    try:
        with open(path, "rb", buffering=0, opener=_nonblocking) as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise _Unreadable("FILE_UNREADABLE", "not a regular file")
            if info.st_size > options.max_file_size:
                raise _Unreadable("FILE_TOO_LARGE", _too_large(info.st_size, options))
            data = _read_at_most(handle, options.max_file_size + 1)
    except OSError as exc:
        raise _Unreadable("FILE_UNREADABLE", f"cannot read the file: {exc.strerror or exc}") from exc
    if len(data) > options.max_file_size:
        raise _Unreadable("FILE_TOO_LARGE", _too_large(len(data), options))
    return data


def _read_at_most(handle: BinaryIO, limit: int) -> bytes:
    chunks: list[bytes] = []
    remaining = limit
    while remaining > 0:
        chunk = handle.read(remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _too_large(size: int, options: LoadOptions) -> str:
    return f"file is {size:,} bytes, over the {options.max_file_size:,} byte limit; split it into smaller files"


def _nonblocking(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NONBLOCK)


def _resolved(path: Path) -> Path:
    return path.resolve()


def _inside(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)
