"""The git layer of sync: a bare mirror per repository, fetched with dulwich, and the tree
snapshots and diffs that tell the sync which definition files to load, withdraw or move.

It knows nothing about the catalog. A sync orchestrator uses it like this::

    mirror = GitMirror(spec, data_dir / "mirrors" / f"{spec.name}.git")
    result = mirror.fetch()                      # blocking: run it in a worker thread
    if result.head is not None and result.head != state.last_commit:
        if state.last_commit and mirror.has_commit(state.last_commit):
            diff = mirror.diff_commits(state.last_commit, result.head)   # O(change)
        else:
            diff = mirror.diff(stored_files, result.head)                # fresh mirror, force-push
        for path in diff.added + diff.modified:
            data = mirror.read_blob(diff.blobs[path], max_size=limit)
        stored_files = diff.apply(stored_files)

``diff_commits`` is only equivalent to ``diff`` when the stored snapshot was taken at the old
commit with the same ``path``/globs; after a configuration change use ``diff``.

Every method is synchronous and thread-safe. Fetches of one mirror never overlap, across
threads and processes (an ``flock`` on ``<mirror_dir>.lock``); reads run beside a fetch.
Failures are ``SyncError`` with ``details['reason']`` in ``auth_failed``, ``unreachable``,
``timeout``, ``not_found``, ``branch_missing``, ``busy``, ``server_error``, ``protocol``,
``failed``; a blob over ``max_size`` is ``PayloadTooLarge``.

Modules: ``_mirror`` (``GitMirror``), ``_transport`` (dulwich clients, SSH, credentials),
``_tree`` (snapshots and diffs of a tree), ``_globs`` (include/exclude path filters) and
``_types`` (what they exchange).
"""

from nestor_catalog_server.sync.git._globs import PathFilter
from nestor_catalog_server.sync.git._mirror import (
    CommitInfo,
    FetchResult,
    GitAuth,
    GitMirror,
    RemoteSpec,
    SkippedEntry,
    TreeDiff,
)
from nestor_catalog_server.sync.git._transport import redact_url
from nestor_catalog_server.sync.git._tree import Snapshot, compare

__all__ = [
    "CommitInfo",
    "FetchResult",
    "GitAuth",
    "GitMirror",
    "PathFilter",
    "RemoteSpec",
    "SkippedEntry",
    "Snapshot",
    "TreeDiff",
    "compare",
    "redact_url",
]
