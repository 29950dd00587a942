"""Reading a source's files out of the mirror's trees, without a checkout.

``scan`` walks every tree under the source folder of one commit (only that folder's
subtrees are ever loaded). ``changed_files`` asks dulwich's tree diff for what differs
between two commits under that folder, which only descends into subtrees whose sha changed,
so its cost follows the size of the change, not of the repository. Both classify entries the
same way (``_classify``) and both end in ``compare``, which is why ``GitMirror.diff`` and
``GitMirror.diff_commits`` agree.
"""

from __future__ import annotations

import stat
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dulwich.diff_tree import tree_changes
from dulwich.object_store import BaseObjectStore
from dulwich.objects import S_ISGITLINK, ObjectID, Tree, TreeEntry

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


def scan(store: BaseObjectStore, root_tree: ObjectID, scope: Scope) -> Snapshot:
    """Every selected file under the source folder of ``root_tree``, and the skipped entries."""
    folder, skipped = locate(store, root_tree, scope)
    snapshot = Snapshot(skipped=skipped)
    if folder is None:
        return snapshot
    pending: list[tuple[ObjectID, str]] = [(folder, "")]
    while pending:
        sha, parent = pending.pop()
        for raw, mode, child in _tree(store, sha).iteritems():
            name = _decode(raw, scope, snapshot, parent)
            if name is None:
                continue
            if stat.S_ISDIR(mode):
                pending.append((child, f"{parent}{name}/"))
            else:
                _classify(parent + name, mode, child, scope, snapshot)
    snapshot.skipped.sort(key=lambda entry: entry.path)
    return snapshot


def _record(entry: TreeEntry | None, scope: Scope, snapshot: Snapshot) -> None:
    if entry is None:
        return
    name = _decode(entry.path, scope, snapshot, "")
    if name is not None:
        _classify(name, entry.mode, entry.sha, scope, snapshot)


def changed_files(
    store: BaseObjectStore, old_root: ObjectID, new_root: ObjectID, scope: Scope
) -> tuple[dict[str, str], Snapshot]:
    """The selected files that differ between two commits' source folders: their old side
    (path -> old blob sha) and their new side (a ``Snapshot`` of the changed entries only)."""
    old_folder, _ = locate(store, old_root, scope)
    new_folder, new_skipped = locate(store, new_root, scope)
    old_side = Snapshot()
    new_side = Snapshot(skipped=new_skipped)
    if old_folder != new_folder:
        for change in tree_changes(store, old_folder, new_folder):
            _record(change.old, scope, old_side)
            _record(change.new, scope, new_side)
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
