"""Reading a source's files out of the mirror's trees, without a checkout.

``scan`` walks every tree under the source folder of one commit (only that folder's
subtrees are ever loaded). ``changed_files`` asks dulwich's tree diff for what differs
between two commits under that folder, which only descends into subtrees whose sha changed,
so its cost follows the size of the change, not of the repository. Both classify entries the
same way (``_classify``) and both end in ``compare``, which is why ``GitMirror.diff`` and
``GitMirror.diff_commits`` agree.

Both read the tree as ``nestor-catalog validate`` reads a checkout: hidden entries (``.github``,
``.nestorignore`` itself) are skipped and every ``.nestorignore`` under the source folder
applies with ``.gitignore`` semantics, so a tree that validates is the tree that syncs. When a
``.nestorignore`` changed between two commits, ``changed_files`` compares full scans instead
(what is ignored may have changed anywhere below it).
"""

from __future__ import annotations

import stat
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from dulwich.diff_tree import tree_changes
from dulwich.object_store import BaseObjectStore
from dulwich.objects import S_ISGITLINK, Blob, ObjectID, Tree, TreeEntry

from nestor_catalog_core.loading import IGNORE_FILE, IgnoreRules, is_ignored
from nestor_catalog_server.sync.git._globs import PathFilter
from nestor_catalog_server.sync.git._types import SkippedEntry, TreeDiff

__all__ = ["Scope", "Snapshot", "changed_files", "compare", "locate", "scan"]

_SYMLINK_REASON = "symlinks are never followed"
_SUBMODULE_REASON = "submodules are not fetched"
_INVALID_PATH_REASON = "the path is not valid UTF-8"


@dataclass(frozen=True, slots=True)
class Scope:
    """The part of a repository a source reads: a folder (``""`` = root) and the globs."""

    prefix: str
    filter: PathFilter

    def full_path(self, rel: str) -> str:
        return f"{self.prefix}/{rel}" if self.prefix else rel


@dataclass(slots=True)
class Snapshot:
    """A source's files at one commit (path -> blob sha) and the entries it skipped."""

    files: dict[str, str] = field(default_factory=dict)
    skipped: list[SkippedEntry] = field(default_factory=list)


def _tree(store: BaseObjectStore, sha: ObjectID) -> Tree:
    obj = store[sha]
    if not isinstance(obj, Tree):
        raise TypeError(f"object {sha.decode('ascii')} is not a tree")
    return obj


def locate(store: BaseObjectStore, root_tree: ObjectID, scope: Scope) -> tuple[ObjectID | None, list[SkippedEntry]]:
    """The tree sha of the source folder in ``root_tree`` (None if it is absent or not a folder)."""
    sha = root_tree
    walked: list[str] = []
    for name in scope.prefix.split("/") if scope.prefix else ():
        walked.append(name)
        try:
            mode, sha = _tree(store, sha)[name.encode("utf-8")]
        except KeyError:
            return None, []
        if stat.S_ISLNK(mode):
            return None, [
                SkippedEntry("/".join(walked), "symlink", f"the source folder is a symlink; {_SYMLINK_REASON}")
            ]
        if not stat.S_ISDIR(mode):
            return None, []
    return sha, []


def _classify(rel: str, mode: int, sha: ObjectID, scope: Scope, snapshot: Snapshot) -> None:
    """Record the leaf entry ``rel`` (relative to the source folder) in ``snapshot`` if it counts."""
    if stat.S_ISREG(mode):
        if scope.filter.selects(rel):
            snapshot.files[scope.full_path(rel)] = sha.decode("ascii")
    elif stat.S_ISLNK(mode):
        if scope.filter.selects(rel):
            snapshot.skipped.append(SkippedEntry(scope.full_path(rel), "symlink", _SYMLINK_REASON))
    elif S_ISGITLINK(mode) and not scope.filter.excluded(rel):
        snapshot.skipped.append(SkippedEntry(scope.full_path(rel), "submodule", _SUBMODULE_REASON))


def _decode(raw: bytes, scope: Scope, snapshot: Snapshot, parent: str) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        shown = parent + raw.decode("utf-8", errors="replace")
        snapshot.skipped.append(SkippedEntry(scope.full_path(shown), "invalid-path", _INVALID_PATH_REASON))
        return None


def _ignore_rules(store: BaseObjectStore, tree: Tree, directory: str) -> IgnoreRules | None:
    """The ``.nestorignore`` of one tree, its patterns relative to ``directory``."""
    try:
        mode, sha = tree[IGNORE_FILE.encode()]
    except KeyError:
        return None
    blob = store[sha] if stat.S_ISREG(mode) else None
    if not isinstance(blob, Blob):
        return None
    return IgnoreRules.parse(PurePosixPath(directory or "."), blob.as_raw_string().decode("utf-8", "replace"))


def _skipped_by_walk(scopes: tuple[IgnoreRules, ...], name: str, rel: str, *, is_dir: bool) -> bool:
    """Hidden entries and what ``.nestorignore`` files ignore, as the loader's walk skips them."""
    return name.startswith(".") or (bool(scopes) and is_ignored(scopes, PurePosixPath(rel), is_dir=is_dir))


def scan(store: BaseObjectStore, root_tree: ObjectID, scope: Scope) -> Snapshot:
    """Every selected file under the source folder of ``root_tree``, and the skipped entries."""
    folder, skipped = locate(store, root_tree, scope)
    snapshot = Snapshot(skipped=skipped)
    if folder is None:
        return snapshot
    pending: list[tuple[ObjectID, str, tuple[IgnoreRules, ...]]] = [(folder, "", ())]
    while pending:
        sha, parent, scopes = pending.pop()
        tree = _tree(store, sha)
        rules = _ignore_rules(store, tree, parent.rstrip("/"))
        if rules is not None:
            scopes = (*scopes, rules)
        for raw, mode, child in tree.iteritems():
            name = _decode(raw, scope, snapshot, parent)
            if name is None:
                continue
            is_dir = stat.S_ISDIR(mode)
            if _skipped_by_walk(scopes, name, parent + name, is_dir=is_dir):
                continue
            if is_dir:
                pending.append((child, f"{parent}{name}/", scopes))
            else:
                _classify(parent + name, mode, child, scope, snapshot)
    snapshot.skipped.sort(key=lambda entry: entry.path)
    return snapshot


class _Ignores:
    """Whether a path under one commit's source folder is skipped by the walk, reading the
    ``.nestorignore`` files on its way down once per directory."""

    def __init__(self, store: BaseObjectStore, folder: ObjectID | None) -> None:
        self._store = store
        self._folder = folder
        self._scopes: dict[str, tuple[tuple[IgnoreRules, ...], ObjectID | None]] = {}

    def _directory(self, directory: str) -> tuple[tuple[IgnoreRules, ...], ObjectID | None]:
        known = self._scopes.get(directory)
        if known is not None:
            return known
        if not directory:
            scopes: tuple[IgnoreRules, ...] = ()
            sha = self._folder
        else:
            parent, _, name = directory.rpartition("/")
            scopes, parent_sha = self._directory(parent)
            sha = None
            if parent_sha is not None:
                try:
                    mode, child = _tree(self._store, parent_sha)[name.encode("utf-8")]
                except KeyError:
                    pass
                else:
                    sha = child if stat.S_ISDIR(mode) else None
        if sha is not None:
            rules = _ignore_rules(self._store, _tree(self._store, sha), directory)
            if rules is not None:
                scopes = (*scopes, rules)
        self._scopes[directory] = (scopes, sha)
        return scopes, sha

    def skips(self, rel: str) -> bool:
        parts = rel.split("/")
        for depth in range(len(parts)):
            directory = "/".join(parts[:depth])
            scopes, _ = self._directory(directory)
            prefix = f"{directory}/" if directory else ""
            if _skipped_by_walk(scopes, parts[depth], prefix + parts[depth], is_dir=depth < len(parts) - 1):
                return True
        return False


def _touches_ignore_files(store: BaseObjectStore, old_folder: ObjectID | None, new_folder: ObjectID | None) -> bool:
    for change in tree_changes(store, old_folder, new_folder):
        for entry in (change.old, change.new):
            if entry is not None and entry.path is not None and entry.path.rsplit(b"/", 1)[-1] == IGNORE_FILE.encode():
                return True
    return False


def _record(entry: TreeEntry | None, scope: Scope, snapshot: Snapshot, ignores: _Ignores) -> None:
    if entry is None:
        return
    name = _decode(entry.path, scope, snapshot, "")
    if name is not None and not ignores.skips(name):
        _classify(name, entry.mode, entry.sha, scope, snapshot)


def changed_files(
    store: BaseObjectStore, old_root: ObjectID, new_root: ObjectID, scope: Scope
) -> tuple[dict[str, str], Snapshot]:
    """The selected files that differ between two commits' source folders: their old side
    (path -> old blob sha) and their new side (a ``Snapshot`` of the changed entries only).
    When a ``.nestorignore`` changed, both sides are full scans (``compare`` then finds the
    same differences)."""
    old_folder, _ = locate(store, old_root, scope)
    new_folder, new_skipped = locate(store, new_root, scope)
    if old_folder != new_folder and _touches_ignore_files(store, old_folder, new_folder):
        return scan(store, old_root, scope).files, scan(store, new_root, scope)
    old_side = Snapshot()
    new_side = Snapshot(skipped=new_skipped)
    if old_folder != new_folder:
        old_ignores, new_ignores = _Ignores(store, old_folder), _Ignores(store, new_folder)
        for change in tree_changes(store, old_folder, new_folder):
            _record(change.old, scope, old_side, old_ignores)
            _record(change.new, scope, new_side, new_ignores)
    new_side.skipped.sort(key=lambda entry: entry.path)
    return old_side.files, new_side


def _by_sha(paths: Iterable[str], files: Mapping[str, str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for path in sorted(paths):
        groups[files[path]].append(path)
    return groups


def compare(old: Mapping[str, str], new: Snapshot) -> TreeDiff:
    """The diff from ``old`` (path -> blob sha) to ``new``; a deleted and an added path with the
    same blob sha pair up as a rename (pairs taken in path order when several share a sha)."""
    new_files = new.files
    deleted = {path for path in old if path not in new_files}
    added = {path for path in new_files if path not in old}
    modified = sorted(path for path in new_files if path in old and old[path] != new_files[path])
    renamed: list[tuple[str, str]] = []
    added_by_sha = _by_sha(added, new_files)
    for sha, old_paths in _by_sha(deleted, old).items():
        for old_path, new_path in zip(old_paths, added_by_sha.get(sha, ()), strict=False):
            renamed.append((old_path, new_path))
            deleted.discard(old_path)
            added.discard(new_path)
    renamed.sort()
    blobs = {path: new_files[path] for path in (*added, *modified, *(new_path for _old, new_path in renamed))}
    return TreeDiff(
        added=sorted(added),
        modified=modified,
        deleted=sorted(deleted),
        renamed=renamed,
        skipped=list(new.skipped),
        blobs=blobs,
    )
