"""Local directories as a source (development): ``make run`` serves ``examples/`` this way.

A sync scans the directory the way ``nestor-catalog validate DIR`` reads it (``*.yaml``,
``*.yml``, ``*.json``; hidden entries and ``.nestorignore`` patterns skipped), narrowed by the
source's ``include``/``exclude`` globs (matched against the path relative to the directory,
as for git sources). Each file's content is hashed (sha256, cached by size, mtime and inode so
an unchanged file is not even read) and compared with the stored state: only added and modified
files are parsed, so a restart costs a directory walk; deleted files withdraw their versions;
a file moved with identical content moves its state and publishes nothing.

A symlink whose target is outside the directory is never read: it is rejected with the
loader's ``SYMLINK_OUTSIDE_ROOT`` finding. Versions record ``Source(kind=local,
repository=<name>, path=<relative path>)``.

``watch`` follows the directory with watchfiles and asks for a sync after each burst of
relevant changes: a burst ends when changes pause for ``WATCH_STEP_MS`` or, at the latest,
``debounce`` (from the configuration) after it began. The sync itself rescans, so a missed or
coalesced notification never leaves the catalog behind the files.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

from watchfiles import Change, DefaultFilter, awatch

from nestor_catalog_core import Catalog, LoadOptions, Source, SourceKind, SyncError, discover
from nestor_catalog_core.loading import DEFINITION_SUFFIXES, IGNORE_FILE
from nestor_catalog_core.models import utcnow
from nestor_catalog_server.config import DirectoryConfig
from nestor_catalog_server.sync._change_applier import ChangeApplier
from nestor_catalog_server.sync._loaders import DirectoryLoader
from nestor_catalog_server.sync.git import PathFilter, Snapshot, compare
from nestor_catalog_server.sync.source import SyncSource
from nestor_catalog_server.sync.status import SourceStatus, SyncOutcome, SyncReport

__all__ = ["WATCH_STEP_MS", "LocalSource"]

#: A burst of changes has settled when nothing changed for this long (ms).
WATCH_STEP_MS: Final = 50

_Fingerprint = tuple[int, int, int]


class LocalSource(SyncSource):
    """A directory on this machine, rescanned on every sync and watched for changes."""

    kind = SourceKind.LOCAL

    def __init__(
        self, directory: DirectoryConfig, catalog: Catalog, applier: ChangeApplier, *, load_options: LoadOptions
    ) -> None:
        super().__init__(directory.name, catalog, applier)
        self.config = directory
        self.root = Path(os.path.abspath(directory.path))
        self._filter = PathFilter(directory.include, directory.exclude)
        self._load_options = replace(load_options, root=self.root)
        self._load = DirectoryLoader(self.root, self._load_options)
        self._debounce_ms = max(1, int(directory.debounce.total_seconds() * 1000))
        self._digests: dict[str, tuple[_Fingerprint, str]] = {}
        self._scope: dict[str, Any] = {
            "path": str(self.root),
            "include": list(directory.include),
            "exclude": list(directory.exclude),
        }

    @property
    def poll_interval(self) -> float | None:
        return None

    @property
    def watches(self) -> bool:
        return True

    def describe(self) -> SourceStatus:
        return SourceStatus(name=self.name, kind=self.kind, path=str(self.root))

    async def _sync(self, reason: str) -> SyncReport:
        started_at, started = utcnow(), time.perf_counter()
        state = await self._load_state()
        self.stage = "fetch"
        with self._applier.tracing.span("sync.diff", attributes={"nestor.path": str(self.root)}):
            try:
                current = await asyncio.to_thread(self.scan)
            except BaseException:
                self._fetched(False)
                raise
            self._fetched(True)
            diff = compare({path: record.blob for path, record in state.files.items()}, Snapshot(files=current))
        if diff.is_empty and state.scope == self._scope:
            self.held = None
            return self._report("unchanged", reason=reason, started_at=started_at, started=started)
        self.stage = "load"
        held = await self._guard(diff, state, commit=None, load=self._load)
        if held is not None:
            self.held = held
            return self._report("held", reason=reason, started_at=started_at, started=started, held=held)
        applied = await self._applier.apply(
            diff, state.files, state.findings, load=self._load, provenance=self._source_of
        )
        await self._save(state, applied, commit=None, scope=self._scope)
        outcome: SyncOutcome = "unchanged" if diff.is_empty else "synced"
        report = self._report(outcome, reason=reason, started_at=started_at, started=started, applied=applied)
        if not diff.is_empty:
            await self._emit_completed(report)
        return report

    async def watch(self, notify: Callable[[], None]) -> None:
        """Call ``notify`` after each settled burst of changes under the directory, until cancelled."""
        async for _changes in awatch(
            self.root, watch_filter=self._relevant, debounce=self._debounce_ms, step=WATCH_STEP_MS
        ):
            notify()

    # -- scanning ----------------------------------------------------------------------------

    def scan(self) -> dict[str, str]:
        """Every file of the source: path relative to the directory -> content digest (blocking).

        A missing directory is a ``SyncError`` (reason ``not_found``), never an empty source: an
        unmounted volume must not withdraw everything."""
        if not self.root.is_dir():
            raise SyncError(
                f"local source {self.name!r}: {str(self.root)!r} is not a directory (any more); "
                "nothing was withdrawn, the catalog keeps what was synced until it returns",
                details={"repository": self.name, "path": str(self.root), "reason": "not_found"},
            )
        files: dict[str, str] = {}
        for path in discover([self.root], options=self._load_options):
            rel = path.relative_to(self.root).as_posix()
            if self._filter.selects(rel):
                files[rel] = self._digest(path, rel)
        self._digests = {rel: self._digests[rel] for rel in files if rel in self._digests}
        return files

    def _digest(self, path: Path, rel: str) -> str:
        """The sha256 of the file's content; for a file that cannot be read, a marker that changes
        with the reason (the load then reports it)."""
        target = path.resolve()
        if not target.is_relative_to(self.root.resolve()):
            return f"outside:{target}"
        try:
            info = os.stat(target)
        except OSError as exc:
            return f"unreadable:{exc.errno}"
        fingerprint = (info.st_size, info.st_mtime_ns, info.st_ino)
        cached = self._digests.get(rel)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        try:
            with open(target, "rb") as handle:
                digest = hashlib.file_digest(handle, "sha256").hexdigest()
        except OSError as exc:
            return f"unreadable:{exc.errno}"
        self._digests[rel] = (fingerprint, digest)
        return digest

    def _source_of(self, rel: str) -> Source:
        return Source(kind=SourceKind.LOCAL, repository=self.name, path=rel)

    @staticmethod
    def _relevant(change: Change, path: str) -> bool:
        if not _DEFAULT_FILTER(change, path):
            return False
        name = os.path.basename(path)
        suffix = os.path.splitext(name)[1].lower()
        return not suffix or suffix in DEFINITION_SUFFIXES or name == IGNORE_FILE


_DEFAULT_FILTER: Final = DefaultFilter()
