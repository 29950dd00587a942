"""Sources the sync manager schedules: ``SyncSource`` (the shared pipeline) and ``GitSource``.

One sync of a source is: read its stored ``SyncState`` -> find what changed -> apply the
changes to the Catalog (``_apply.ChangeApplier``) -> save the new state -> emit
``sync.completed``. A sync that fails (fetch error, storage down) raises ``CatalogError`` and
saves nothing; the manager turns that into a failed report and a ``sync.failed`` event.

The state of a source (``SyncState``): ``last_commit`` (git), ``files`` (path ->
``[blob id, "name@version", ...]``) and in ``data`` the ``scope`` it was synced with (folder
and globs) and the ``findings`` of the files currently rejected, so a restart resumes
incrementally and still reports them.

Git specifics: the fetch runs in a worker thread bounded by the repository's ``timeout``.
When the branch head equals the last synced commit (and the scope is unchanged) the sync
stops there, without walking any tree. Otherwise it diffs the last synced commit against the
head when the mirror has it (cost follows the change), or the stored file list against the
head's tree (first sync, fresh mirror, force-push, changed ``path``/globs). A branch that
vanished from the remote is an error (reason ``branch_missing``): nothing is withdrawn, so an
accidental branch deletion never empties the catalog; the sync resumes when it returns.
Each changed file is attributed to the newest commit of the fetched range that touched it
(walking at most ``ATTRIBUTION_DEPTH`` first-parent commits; beyond that, the head commit).
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, Final

from nestor_catalog_core import (
    Catalog,
    ConflictError,
    Event,
    EventType,
    LoadOptions,
    LoadResult,
    Source,
    SourceKind,
    SyncError,
    SyncState,
)
from nestor_catalog_core.models import utcnow
from nestor_catalog_server.config import RepositoryConfig
from nestor_catalog_server.sync._change_applier import (
    AppliedChanges,
    ChangeApplier,
    FileRecord,
    decode_files,
    encode_files,
)
from nestor_catalog_server.sync._loaders import GitBlobLoader
from nestor_catalog_server.sync.git import (
    CommitInfo,
    FetchResult,
    GitAuth,
    GitMirror,
    RemoteSpec,
    TreeDiff,
    redact_url,
)
from nestor_catalog_server.sync.status import SourceStatus, SyncOutcome, SyncReport

__all__ = ["ATTRIBUTION_DEPTH", "GitSource", "StoredState", "SyncSource", "remote_spec"]

log = logging.getLogger("nestor_catalog.sync")

#: How many new commits a sync walks to attribute each changed file to the commit that changed it.
ATTRIBUTION_DEPTH: Final = 32

Findings = dict[str, list[dict[str, Any]]]


class SyncSource(ABC):
    """One configured source (a git repository or a local directory) and its sync pipeline.

    ``sync`` runs one attempt and returns its report, or raises ``CatalogError`` when the
    attempt failed. It is not re-entrant: the manager runs at most one per source at a time.
    After each successful attempt ``files``, ``findings`` and ``last_commit`` describe the
    stored state.

    The state is read from storage once and then kept in memory, as this process saved it, so
    a sync costs what changed, not a decode of every file's entry; a failed attempt drops the
    copy and the next one reads storage again. (Exactly one process syncs a source, the lease
    holder; even a second writer would only cause idempotent repeats, never a wrong state.)
    """

    kind: ClassVar[SourceKind]

    def __init__(self, name: str, catalog: Catalog, applier: ChangeApplier) -> None:
        self.name = name
        self._catalog = catalog
        self._applier = applier
        self._stored: StoredState | None = None
        self.files = 0
        self.findings: Findings = {}
        self.last_commit: str | None = None
        #: Storage held a synced state of this source when this process first read it: the
        #: catalog it loaded at start already serves the source as of its last good sync.
        self.stored_before = False
        #: The stage the running attempt is in (``state``, ``fetch``, ``load``, ``storage``), so
        #: a failure says where it happened.
        self.stage = "state"
        #: Whether the last fetch (or scan) reached the source; None before the first one.
        self.reachable: bool | None = None
        self.last_fetch: datetime | None = None
        #: What the withdraw guard holds: set by a held attempt, cleared by one that applies.
        self.held: dict[str, Any] | None = None
        #: A confirmation to let a held sync through: the commit it is for (``""``: any).
        self._confirmed: str | None = None

    @property
    @abstractmethod
    def poll_interval(self) -> float | None:
        """Seconds between scheduled syncs; None when only triggers start one."""

    @abstractmethod
    def describe(self) -> SourceStatus:
        """A fresh status naming the source (url, branch or path), before any sync."""

    async def sync(self, *, reason: str = "manual") -> SyncReport:
        """Run one sync attempt (see the module docstring)."""
        self.stage = "state"
        try:
            return await self._sync(reason)
        except BaseException:
            self._stored = None
            raise

    def confirm_withdrawals(self) -> dict[str, Any]:
        """Let the held sync through (its commit only: a source that moved on is checked
        again); returns what was held. Raises ``ConflictError`` when nothing is held."""
        held = self.held
        if held is None:
            raise ConflictError(
                f"no sync of {self.name!r} is held: there are no withdrawals to confirm",
                details={"repository": self.name},
            )
        self._confirmed = str(held.get("commit") or "")
        return dict(held)

    async def _guard(
        self, diff: TreeDiff, state: StoredState, *, commit: str | None, load: Callable[[str, str], LoadResult]
    ) -> dict[str, Any] | None:
        """What the withdraw guard holds of ``diff`` (None: apply it); a confirmation for this
        commit lets it through once."""
        confirmed, self._confirmed = self._confirmed, None
        if confirmed is not None and confirmed in ("", commit or ""):
            log.warning(
                "%s: applying withdrawals confirmed through the API", self.name, extra={"repository": self.name}
            )
            return None
        held = await self._applier.hold(diff, state.files, state.findings, load=load)
        if held is not None:
            held = {**held, "commit": commit, "previous_commit": state.last_commit}
        return held

    def _fetched(self, reachable: bool) -> None:
        self.reachable = reachable
        if reachable:
            self.last_fetch = utcnow()

    @abstractmethod
    async def _sync(self, reason: str) -> SyncReport: ...

    async def watch(self, notify: Callable[[], None]) -> None:
        """Call ``notify`` whenever the source changes, until cancelled; sources that are only
        polled return at once."""
        return

    @property
    def watches(self) -> bool:
        return False

    def close(self) -> None:
        """Release what the source holds open (mirror pack files)."""
        return

    # -- the shared pipeline -----------------------------------------------------------------

    async def _load_state(self) -> StoredState:
        """The state the last sync saved (from memory after the first read)."""
        if self._stored is None:
            found = await self._catalog.store.get_sync_state(self.name)
            self.stored_before = self.stored_before or found is not None
            self._remember(StoredState.of(found or SyncState(source=self.name)))
        assert self._stored is not None
        return self._stored

    def _remember(self, stored: StoredState) -> None:
        self._stored = stored
        self.last_commit = stored.last_commit
        self.files = len(stored.files)
        self.findings = stored.findings

    async def _save(
        self, previous: StoredState, applied: AppliedChanges, *, commit: str | None, scope: dict[str, Any]
    ) -> None:
        stored = StoredState(commit, applied.files, applied.findings, scope, previous.extra)
        self.stage = "storage"
        await self._catalog.store.put_sync_state(stored.to_state(self.name, self.kind))
        self._remember(stored)
        self.held = None

    async def _emit_completed(self, report: SyncReport) -> None:
        data: dict[str, Any] = {
            "repository": self.name,
            "kind": self.kind.value,
            "commit": report.commit,
            "previous_commit": report.previous_commit,
            "counts": report.counts.to_dict(),
            "duration_ms": round(report.duration_ms, 3),
            "rejected_files": sorted(report.findings),
            "reason": report.reason,
        }
        await self._catalog.record_event(Event(type=EventType.SYNC_COMPLETED, time=utcnow(), data=data))

    def _report(
        self,
        outcome: SyncOutcome,
        *,
        reason: str,
        started_at: datetime,
        started: float,
        commit: str | None = None,
        previous_commit: str | None = None,
        applied: AppliedChanges | None = None,
        skipped: list[dict[str, Any]] | None = None,
        held: dict[str, Any] | None = None,
    ) -> SyncReport:
        report = SyncReport(
            source=self.name,
            kind=self.kind,
            outcome=outcome,
            started_at=started_at,
            duration_ms=(time.perf_counter() - started) * 1000,
            reason=reason,
            commit=commit,
            previous_commit=previous_commit,
            skipped=skipped or [],
            held=held,
        )
        if applied is not None:
            report.counts = applied.counts
            report.findings = applied.rejected
        return report


@dataclass(frozen=True, slots=True)
class StoredState:
    """A source's ``SyncState``, decoded: the last synced commit, each file's record, the
    findings of the files currently rejected, the scope (folder, globs) they were synced with,
    and any other ``data`` keys, kept as they were."""

    last_commit: str | None = None
    files: dict[str, FileRecord] = field(default_factory=dict)
    findings: Findings = field(default_factory=dict)
    scope: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, state: SyncState) -> StoredState:
        data = dict(state.data)
        findings = data.pop("findings", None)
        scope = data.pop("scope", None)
        data.pop("kind", None)
        standing: Findings = {}
        if isinstance(findings, dict):
            standing = {str(path): list(items) for path, items in findings.items() if isinstance(items, list)}
        return cls(state.last_commit, decode_files(state.files), standing, scope, data)

    def to_state(self, source: str, kind: SourceKind) -> SyncState:
        data = {**self.extra, "kind": kind.value, "scope": self.scope, "findings": self.findings}
        return SyncState(
            source=source, last_commit=self.last_commit, updated_at=utcnow(), files=encode_files(self.files), data=data
        )


def remote_spec(repository: RepositoryConfig) -> RemoteSpec:
    """The git layer's ``RemoteSpec`` for a configured repository (its token already resolved)."""
    auth = repository.auth
    return RemoteSpec(
        name=repository.name,
        url=repository.url,
        branch=repository.branch,
        path=repository.path,
        include=tuple(repository.include),
        exclude=tuple(repository.exclude),
        auth=GitAuth(
            token=auth.token.get_secret_value() if auth.token is not None else None,
            username=auth.username,
            ssh_key_path=auth.ssh_key_path,
            known_hosts_path=auth.known_hosts_path,
        ),
    )


class GitSource(SyncSource):
    """A git repository's branch, mirrored under ``mirror_dir`` (see the module docstring)."""

    kind = SourceKind.GIT

    def __init__(
        self,
        repository: RepositoryConfig,
        catalog: Catalog,
        applier: ChangeApplier,
        *,
        mirror_dir: Path,
        load_options: LoadOptions,
    ) -> None:
        super().__init__(repository.name, catalog, applier)
        self.config = repository
        self.spec = remote_spec(repository)
        self._timeout = repository.timeout.total_seconds()
        self._mirror = GitMirror(self.spec, mirror_dir, timeout=self._timeout)
        self._load_options = load_options
        #: Reads through this source's mirror; a copy sent to a load worker opens it itself.
        self._load = GitBlobLoader(self.spec, mirror_dir, load_options, mirror=self._mirror)
        self._scope: dict[str, Any] = {
            "path": self.spec.path,
            "include": list(self.spec.include),
            "exclude": list(self.spec.exclude),
        }

    @property
    def mirror(self) -> GitMirror:
        return self._mirror

    @property
    def poll_interval(self) -> float | None:
        seconds = self.config.poll_interval.total_seconds()
        return seconds if seconds > 0 else None

    def describe(self) -> SourceStatus:
        return SourceStatus(
            name=self.name, kind=self.kind, url=redact_url(self.spec.url), path=self.spec.path, branch=self.spec.branch
        )

    def close(self) -> None:
        self._mirror.close()

    async def _sync(self, reason: str) -> SyncReport:
        started_at, started = utcnow(), time.perf_counter()
        state = await self._load_state()
        tracing = self._applier.tracing
        self.stage = "fetch"
        with tracing.span("git.fetch", attributes={"nestor.branch": self.spec.branch}):
            try:
                head = await self._fetch_head()
            except BaseException:
                self._fetched(False)
                raise
        self._fetched(True)
        scope_unchanged = state.scope == self._scope
        if head == state.last_commit and scope_unchanged:
            self.held = None
            return self._report(
                "unchanged", reason=reason, started_at=started_at, started=started, commit=head, previous_commit=head
            )
        last = state.last_commit if scope_unchanged else None
        with tracing.span("sync.diff", attributes={"nestor.commit": head}):
            diff = await asyncio.to_thread(self._diff, last, state.files, head)
            attribution = await asyncio.to_thread(self._attribute, last, head, diff)
        self.stage = "load"
        held = await self._guard(diff, state, commit=head, load=self._load)
        if held is not None:
            self.held = held
            return self._report(
                "held",
                reason=reason,
                started_at=started_at,
                started=started,
                commit=state.last_commit,
                previous_commit=state.last_commit,
                held=held,
            )
        applied = await self._applier.apply(
            diff, state.files, state.findings, load=self._load, provenance=attribution.source_of
        )
        await self._save(state, applied, commit=head, scope=self._scope)
        skipped = [entry.to_dict() for entry in diff.skipped]
        outcome: SyncOutcome = "unchanged" if diff.is_empty else "synced"
        report = self._report(
            outcome,
            reason=reason,
            started_at=started_at,
            started=started,
            commit=head,
            previous_commit=state.last_commit,
            applied=applied,
            skipped=skipped,
        )
        if not diff.is_empty:
            await self._emit_completed(report)
        return report

    async def _fetch_head(self) -> str:
        result = await self._fetch()
        if result.head is None:
            raise SyncError(
                f"git repository {self.name!r}: branch {self.spec.branch!r} does not exist on the remote; "
                "nothing was withdrawn, the catalog keeps what was synced until the branch returns",
                details={"repository": self.name, "branch": self.spec.branch, "reason": "branch_missing"},
            )
        return result.head

    async def _fetch(self) -> FetchResult:
        try:
            async with asyncio.timeout(self._timeout):
                return await asyncio.to_thread(self._mirror.fetch)
        except TimeoutError:
            raise SyncError(
                f"git repository {self.name!r}: fetching {self.spec.branch!r} took longer than {self._timeout:g}s",
                details={"repository": self.name, "branch": self.spec.branch, "reason": "timeout"},
            ) from None

    def _diff(self, last: str | None, files: Mapping[str, FileRecord], head: str) -> TreeDiff:
        if last is not None and self._mirror.has_commit(last):
            return self._mirror.diff_commits(last, head)
        return self._mirror.diff({path: record.blob for path, record in files.items()}, head)

    def _attribute(self, last: str | None, head: str, diff: TreeDiff) -> _Attribution:
        attribution = _Attribution(self.name, self._mirror.commit_info(head))
        wanted = {*diff.added, *diff.modified, *diff.deleted}
        if last is None or not wanted:
            return attribution
        sha = head
        for _ in range(ATTRIBUTION_DEPTH):
            if sha == last or not wanted:
                break
            info = attribution.info(sha, self._mirror)
            if not info.parents or not self._mirror.has_commit(info.parents[0]):
                break
            step = self._mirror.diff_commits(info.parents[0], sha)
            touched = {*step.added, *step.modified, *step.deleted, *(p for pair in step.renamed for p in pair)}
            for path in touched & wanted:
                attribution.by_path[path] = info
            wanted -= touched
            sha = info.parents[0]
        return attribution


class _Attribution:
    """Which commit each changed path is published (or withdrawn) with."""

    def __init__(self, repository: str, head: CommitInfo) -> None:
        self.repository = repository
        self.head = head
        self.by_path: dict[str, CommitInfo] = {}
        self._infos: dict[str, CommitInfo] = {head.sha: head}

    def info(self, sha: str, mirror: GitMirror) -> CommitInfo:
        info = self._infos.get(sha)
        if info is None:
            info = self._infos[sha] = mirror.commit_info(sha)
        return info

    def source_of(self, path: str) -> Source:
        commit = self.by_path.get(path, self.head)
        return Source(
            kind=SourceKind.GIT,
            repository=self.repository,
            path=path,
            commit=commit.sha,
            author_email=commit.author_email or None,
            committed_at=commit.committed_at,
        )
