"""The values the git layer takes and returns; re-exported by ``nestor_catalog_server.sync.git``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from dulwich.refs import Ref, check_ref_format

from nestor_catalog_core import ConfigError
from nestor_catalog_server.sync.git._globs import DEFAULT_INCLUDE, PathFilter

__all__ = [
    "CommitInfo",
    "FetchResult",
    "GitAuth",
    "RemoteSpec",
    "SkippedEntry",
    "TreeDiff",
    "normalize_branch",
    "normalize_source_path",
]


@dataclass(frozen=True, slots=True, repr=False)
class GitAuth:
    """Credentials for one remote.

    ``token`` is the secret itself (the caller reads it from the configured environment
    variable); it is sent as the Basic-auth password of https/http remotes with ``username``
    (default ``x-access-token``; GitLab wants ``oauth2``). ``ssh_key_path`` and
    ``known_hosts_path`` are used for ssh remotes, always with strict host-key checking.
    The token never appears in ``repr``/``str`` or in error messages.
    """

    token: str | None = None
    username: str | None = None
    ssh_key_path: Path | None = None
    known_hosts_path: Path | None = None

    def __repr__(self) -> str:
        token = None if self.token is None else "***"
        return (
            f"GitAuth(token={token!r}, username={self.username!r}, ssh_key_path={self.ssh_key_path!r}, "
            f"known_hosts_path={self.known_hosts_path!r})"
        )

    __str__ = __repr__


def normalize_source_path(path: str) -> str:
    """``resources/``, ``/resources``, ``./resources`` -> ``resources``; ``""``, ``/``, ``.`` -> ``""``.

    The folder must stay inside the repository: ``..`` segments are a ``ConfigError``.
    """
    parts = [part for part in path.strip().replace("\\", "/").split("/") if part not in ("", ".")]
    if ".." in parts:
        raise ConfigError(f"git source path {path!r} must stay inside the repository", details={"path": path})
    return "/".join(parts)


def normalize_branch(branch: str) -> str:
    """A branch name without ``refs/heads/``, checked with git's ref-name rules."""
    name = branch.strip().removeprefix("refs/heads/")
    if not name or not check_ref_format(Ref(b"refs/heads/" + name.encode("utf-8"))):
        raise ConfigError(f"invalid git branch name {branch!r}", details={"branch": branch})
    return name


@dataclass(frozen=True, slots=True)
class RemoteSpec:
    """One git source: where it is, which branch, and which files under which folder.

    ``path`` is the folder inside the repository holding the definitions (normalized, ``""``
    for the root). ``include``/``exclude`` are globs matched against the path *relative to
    that folder* (see ``_globs``: ``**`` spans folders; exclude wins); an empty
    ``include`` means ``**/*.yaml``, ``**/*.yml``, ``**/*.json``.
    """

    name: str
    url: str
    branch: str = "main"
    path: str = ""
    include: tuple[str, ...] = DEFAULT_INCLUDE
    exclude: tuple[str, ...] = ()
    auth: GitAuth = field(default_factory=GitAuth)

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ConfigError("a git source needs a name")
        if not self.url.strip():
            raise ConfigError(f"git source {self.name!r} needs a url", details={"repository": self.name})
        object.__setattr__(self, "branch", normalize_branch(self.branch))
        object.__setattr__(self, "path", normalize_source_path(self.path))
        object.__setattr__(self, "include", tuple(self.include) or DEFAULT_INCLUDE)
        object.__setattr__(self, "exclude", tuple(self.exclude))
        self.path_filter()

    @property
    def ref(self) -> str:
        """The full ref name of the branch, ``refs/heads/<branch>``."""
        return f"refs/heads/{self.branch}"

    def path_filter(self) -> PathFilter:
        """The compiled include/exclude globs (a ``ConfigError`` if a pattern is invalid)."""
        return PathFilter(self.include, self.exclude)


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What a fetch found: the branch head on the remote (None when the branch does not exist
    there, e.g. it was deleted), whether it differs from what the mirror had, and what it had."""

    head: str | None
    changed: bool
    previous: str | None = None


@dataclass(frozen=True, slots=True)
class CommitInfo:
    """Provenance of a commit; ``committed_at`` is the committer time in UTC."""

    sha: str
    tree: str
    author_name: str
    author_email: str
    committed_at: datetime
    message: str
    parents: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        """The first line of the message."""
        return self.message.split("\n", 1)[0]


@dataclass(frozen=True, slots=True)
class SkippedEntry:
    """A tree entry the sync does not load: ``kind`` is ``symlink`` (never followed),
    ``submodule`` (never fetched) or ``invalid-path`` (a name that is not UTF-8)."""

    path: str
    kind: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class TreeDiff:
    """How a commit's files differ from an older state (paths relative to the repository root).

    ``added`` and ``modified`` are the files to load; ``deleted`` the files whose versions are
    withdrawn; ``renamed`` holds ``(old, new)`` pairs of files that moved with identical
    content (a deleted and an added path with the same blob sha), which must not republish.
    ``blobs`` maps every added, modified and renamed-to path to its new blob sha, so a caller
    can read the files and keep its stored snapshot current with ``apply``. ``skipped`` lists
    symlinks and submodules the diff saw (every one in the commit for ``GitMirror.diff``, the
    added or changed ones for ``GitMirror.diff_commits``). All lists are sorted.
    """

    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[SkippedEntry] = field(default_factory=list)
    blobs: dict[str, str] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        """True when no file was added, modified, deleted or renamed."""
        return not (self.added or self.modified or self.deleted or self.renamed)

    def apply(self, old_files: Mapping[str, str]) -> dict[str, str]:
        """The snapshot (path -> blob sha) after this diff, given the snapshot it was made against."""
        files = dict(old_files)
        for path in self.deleted:
            files.pop(path, None)
        for old, _new in self.renamed:
            files.pop(old, None)
        for path in (*self.added, *self.modified, *(new for _old, new in self.renamed)):
            files[path] = self.blobs[path]
        return files
