"""Applying a source's file changes to the Catalog: the part of a sync git and local sources share.

Given what changed (a ``TreeDiff``: added, modified, deleted and renamed paths with their new
blob ids) and the state stored by the previous sync, ``ChangeApplier.apply`` loads the added
and modified files, publishes their documents, withdraws the versions that left the source and
returns the new per-file state. The rules:

- **Per-file isolation.** A file that fails to load, or any of whose documents is refused
  (validation, compatibility, immutability, ownership), is *rejected*: its findings are kept
  until the file is fixed or deleted, its blob id is stored so it is not parsed again until it
  changes, and the versions it held before keep serving. Other files are applied normally.
  Load failures are recorded as rejections here (audit + ``validation.failed``); the Catalog
  records the others itself.
- **What a file holds.** Every version a file published stays held by it, including versions
  superseded by an in-place edit (``1.0.0`` -> ``1.1.0`` keeps ``1.0.0`` published: consumers
  pinned to it keep working and git history still has it). When a file that loaded cleanly no
  longer defines a *name* it held, those versions are released.
- **Withdrawal.** Versions released by a deleted file, or by a clean file that dropped their
  name, are withdrawn unless another file of the source holds them after the sync (a move
  with edits, a copy). Renamed files (same content, new path) move their state and publish
  nothing.
- **Order.** Files are loaded (read, parsed) in chunks in a worker thread, then the chunk's
  documents publish on the event loop, by name and SemVer precedence, so a repository's
  history is checked for compatibility version after version. (Loading the next chunk in a
  thread while publishing gains nothing: both hold the GIL, and the thread hand-offs cost
  more.) A large change (``PARALLEL_MIN_FILES`` files or more) with a ``PortableLoader`` is
  loaded in worker processes instead (``_loaders.LoadPool``), a few chunks ahead of the
  publishing, which then runs beside the parsing on another core; the first chunk loads
  here while the workers start. A chunk the pool fails to load is loaded here again, so a
  loader's error surfaces as it would without the pool.
- **Failures of the sync itself** (storage errors, a read-only catalog) propagate: the caller
  saves no state, and the next attempt redoes the work (publishing is idempotent).
- **The withdraw guard** (``ChangeApplier.hold``, run by the sources before ``apply``): a change
  that would withdraw more than ``withdraw_guard.max_share`` of the source's live versions, or
  that leaves no valid definition in the source while it withdraws some, is *held*: nothing
  is published, withdrawn or saved. The withdrawals are counted from the files the change
  deletes (versions no remaining file holds); a confirmation for that commit lets it through.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from nestor_catalog_core import (
    Catalog,
    CatalogError,
    Finding,
    ImmutableVersionError,
    IncompatibleChange,
    LoadedDocument,
    LoadResult,
    NotFoundError,
    OwnershipConflict,
    PublishResult,
    Severity,
    Source,
    ValidationFailed,
)
from nestor_catalog_core import _collector as collector
from nestor_catalog_core.versions import version_key
from nestor_catalog_server.config.models import WithdrawGuardConfig
from nestor_catalog_server.observability.otel import Tracing
from nestor_catalog_server.sync._loaders import PARALLEL_MIN_FILES, LoadPool, PortableLoader, default_load_processes
from nestor_catalog_server.sync.git import TreeDiff
from nestor_catalog_server.sync.status import SyncCounts

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "AppliedChanges",
    "ChangeApplier",
    "FileLoader",
    "FileRecord",
    "Provenance",
    "decode_files",
    "encode_files",
    "version_ref",
]

log = logging.getLogger("nestor_catalog.sync")

#: Files loaded per worker-thread hop; bounds the loaded documents held in memory at once.
DEFAULT_CHUNK_SIZE: Final = 256
#: Chunks a load pool works on ahead of the publishing (bounds what waits in memory).
_POOL_WINDOW: Final = 3

#: Loads one file (path, blob id) -> ``LoadResult``; blocking, called from a worker thread.
FileLoader = Callable[[str, str], LoadResult]
#: The provenance to publish a file's documents with (and to withdraw its versions with).
Provenance = Callable[[str], Source]

Findings = dict[str, list[dict[str, Any]]]


def version_ref(name: str, version: str) -> str:
    """``name@version``: how the sync state lists the versions a file holds."""
    return f"{name}@{version}"


def _ref_name(ref: str) -> str:
    return ref.partition("@")[0]


def _ref_key(ref: str) -> tuple[str, str]:
    name, _, version = ref.partition("@")
    return name, version


@dataclass(frozen=True, slots=True)
class FileRecord:
    """One file of a source's stored state: its blob id and the versions it holds."""

    blob: str
    versions: tuple[str, ...] = ()

    def encode(self) -> list[str]:
        return [self.blob, *self.versions]

    @classmethod
    def decode(cls, value: Sequence[str]) -> FileRecord:
        return cls(str(value[0]) if value else "", tuple(str(item) for item in value[1:]))


def decode_files(files: Mapping[str, Sequence[str]]) -> dict[str, FileRecord]:
    """``SyncState.files`` (path -> ``[blob, "name@version", ...]``) as records."""
    return {path: FileRecord.decode(value) for path, value in files.items()}


def encode_files(records: Mapping[str, FileRecord]) -> dict[str, list[str]]:
    return {path: record.encode() for path, record in sorted(records.items())}


@dataclass(slots=True)
class AppliedChanges:
    """The outcome of ``ChangeApplier.apply``: the new state and what it took to get there.

    ``findings`` are the findings still standing for every rejected file (the new state);
    ``rejected`` only those of files rejected by this call.
    """

    files: dict[str, FileRecord]
    findings: Findings
    counts: SyncCounts
    rejected: Findings = field(default_factory=dict)


@dataclass(slots=True)
class _FileOutcome:
    """What publishing one loaded file did, gathered across its documents."""

    path: str
    blob: str
    previous: FileRecord | None
    names: set[str] = field(default_factory=set)
    published: list[str] = field(default_factory=list)
    errors: list[Finding] = field(default_factory=list)
    failed: bool = False


class ChangeApplier:
    """Publishes and withdraws what one source's changes call for (see the module docstring).

    ``on_rejected`` is called with the error findings of every rejected file (the server
    feeds ``catalog_validation_errors`` with it).
    """

    def __init__(
        self,
        catalog: Catalog,
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        on_rejected: Callable[[Sequence[Finding]], None] | None = None,
        tracing: Tracing | None = None,
        guard: WithdrawGuardConfig | None = None,
        load_processes: int | None = None,
        parallel_min_files: int = PARALLEL_MIN_FILES,
    ) -> None:
        self._catalog = catalog
        self._guard = guard or WithdrawGuardConfig()
        self._chunk_size = max(1, chunk_size)
        #: Worker processes for large changes (None: ``default_load_processes()``; 0: never).
        self._load_processes = default_load_processes() if load_processes is None else max(0, load_processes)
        self._parallel_min_files = parallel_min_files
        self._on_rejected = on_rejected
        #: The sync's tracing (``sync.load``/``sync.publish`` spans here, ``git.fetch``/``sync.diff``
        #: in the sources that share this applier).
        self.tracing = tracing or Tracing()

    async def apply(
        self,
        diff: TreeDiff,
        files: Mapping[str, FileRecord],
        findings: Mapping[str, list[dict[str, Any]]],
        *,
        load: FileLoader,
        provenance: Provenance,
    ) -> AppliedChanges:
        """Apply ``diff`` to the state ``files``/``findings`` of the previous sync."""
        counts = SyncCounts(
            added=len(diff.added), modified=len(diff.modified), deleted=len(diff.deleted), renamed=len(diff.renamed)
        )
        records = dict(files)
        standing: Findings = {path: list(items) for path, items in findings.items()}
        released: list[tuple[str, str]] = []  # (version ref, path it left)
        self._move_renamed(diff, records, standing)
        for path in diff.deleted:
            gone = records.pop(path, None)
            standing.pop(path, None)
            if gone is not None:
                released.extend((ref, path) for ref in gone.versions)
        rejected: Findings = {}
        with collector.paused():  # a bulk load: see nestor_catalog_core._collector
            outcomes = await self._load_and_publish(diff, records, load, provenance, counts)
        for outcome in outcomes:
            records[outcome.path], dropped = self._settle(outcome)
            released.extend((ref, outcome.path) for ref in dropped)
            standing.pop(outcome.path, None)
            if outcome.failed:
                counts.rejected += 1
                rejected[outcome.path] = standing[outcome.path] = [f.to_dict() for f in outcome.errors]
        counts.withdrawn = await self._withdraw_released(released, records, provenance)
        return AppliedChanges(records, dict(sorted(standing.items())), counts, rejected)

    # -- the withdraw guard --------------------------------------------------------------------

    async def hold(
        self, diff: TreeDiff, files: Mapping[str, FileRecord], findings: Mapping[str, Any], *, load: FileLoader
    ) -> dict[str, Any] | None:
        """Why ``diff`` must be held (``{withdrawals, live, share, max_share, reason, message}``),
        or None when it may be applied. See the module docstring."""
        guard = self._guard
        if not guard.enabled or not (diff.deleted or diff.modified):
            return None
        remaining = {path: record for path, record in files.items() if path not in set(diff.deleted)}
        for old, new in diff.renamed:
            if old in remaining:
                remaining[new] = remaining.pop(old)
        kept = {ref for record in remaining.values() for ref in record.versions}
        gone = {ref for path in diff.deleted for ref in (files[path].versions if path in files else ())} - kept
        live = {ref for record in files.values() for ref in record.versions if self._is_live(ref)}
        withdrawals = len(gone & live)
        if not live or not withdrawals:
            return None
        if withdrawals / len(live) > guard.max_share or not self._untouched_valid(diff, remaining, findings):
            # Worth a closer look: versions the added and modified files define again stay.
            defined, any_valid = await self._defined(diff, load)
            withdrawals = len((gone & live) - defined)
            any_valid = any_valid or self._untouched_valid(diff, remaining, findings)
        else:
            any_valid = True
        if not withdrawals:
            return None
        share = withdrawals / len(live)
        numbers = {
            "withdrawals": withdrawals,
            "live": len(live),
            "share": round(share, 4),
            "max_share": guard.max_share,
        }
        if share > guard.max_share:
            message = (
                f"the change would withdraw {withdrawals} of {len(live)} live versions ({share:.0%}), "
                f"more than withdraw_guard.max_share ({guard.max_share:.0%})"
            )
            return {**numbers, "reason": "share", "message": message}
        if not any_valid:
            message = f"the change leaves no valid definition in the source and would withdraw {withdrawals} versions"
            return {**numbers, "reason": "no_definitions", "message": message}
        return None

    def _is_live(self, ref: str) -> bool:
        name, version = _ref_key(ref)
        try:
            return not self._catalog.entry(name, version).withdrawn
        except NotFoundError:
            return False

    @staticmethod
    def _untouched_valid(diff: TreeDiff, remaining: Mapping[str, FileRecord], findings: Mapping[str, Any]) -> bool:
        """An untouched file of the new tree still holds versions and is not rejected."""
        touched = set(diff.modified) | set(diff.added)
        return any(
            record.versions and path not in findings for path, record in remaining.items() if path not in touched
        )

    @staticmethod
    async def _defined(diff: TreeDiff, load: FileLoader) -> tuple[set[str], bool]:
        """The versions (``name@version``) the added and modified files define, counting files
        that load cleanly only, and whether there is any such file."""
        paths = [*diff.added, *diff.modified]

        def work() -> tuple[set[str], bool]:
            defined: set[str] = set()
            valid = False
            for path in paths:
                result = load(path, diff.blobs[path])
                if not result.documents or any(f.is_error for f in result.findings):
                    continue
                valid = True
                for document in result.documents:
                    meta = _metadata(document)
                    name, version = meta.get("name"), meta.get("version")
                    if isinstance(name, str) and isinstance(version, str):
                        defined.add(version_ref(name, version))
            return defined, valid

        return await asyncio.to_thread(work)

    # -- renames -----------------------------------------------------------------------------

    @staticmethod
    def _move_renamed(diff: TreeDiff, records: dict[str, FileRecord], standing: Findings) -> None:
        moved = [(old, new, records.pop(old, None), standing.pop(old, None)) for old, new in diff.renamed]
        for _old, new, record, items in moved:
            records[new] = FileRecord(diff.blobs[new], record.versions if record is not None else ())
            if items is not None:
                standing[new] = [{**item, "file": new} for item in items]

    # -- loading and publishing --------------------------------------------------------------

    async def _load_and_publish(
        self,
        diff: TreeDiff,
        records: Mapping[str, FileRecord],
        load: FileLoader,
        provenance: Provenance,
        counts: SyncCounts,
    ) -> list[_FileOutcome]:
        paths = [*diff.added, *diff.modified]
        chunks = [paths[i : i + self._chunk_size] for i in range(0, len(paths), self._chunk_size)]
        outcomes: list[_FileOutcome] = []
        pool = self._pool_for(load, len(paths))
        ahead: deque[tuple[list[str], asyncio.Future[list[LoadResult]]]] = deque()
        pending = iter(chunks[1:]) if pool is not None else iter(())
        try:
            for index, chunk in enumerate(chunks):
                if pool is not None:
                    await self._fill(pool, ahead, pending, diff)
                with self.tracing.span("sync.load", attributes={"nestor.files": len(chunk)}):
                    if pool is not None and index > 0:
                        loaded = await self._from_pool(ahead.popleft(), diff, load)
                    else:
                        loaded = await self._load_chunk(chunk, diff, load)
                counts.loaded += len(loaded)
                with self.tracing.span("sync.publish", attributes={"nestor.files": len(loaded)}):
                    outcomes.extend(await self._publish_chunk(loaded, records, provenance, counts))
        finally:
            if pool is not None:
                await pool.close()
        return outcomes

    def _pool_for(self, load: FileLoader, files: int) -> LoadPool | None:
        if files < self._parallel_min_files:
            return None
        if not isinstance(load, PortableLoader) or not self._load_processes:
            log.debug("loading %d files in the server's process (no load workers: one core or a local loader)", files)
            return None
        log.debug("loading %d files in %d worker process(es)", files, self._load_processes)
        return LoadPool(load, self._load_processes)

    @staticmethod
    async def _fill(
        pool: LoadPool,
        ahead: deque[tuple[list[str], asyncio.Future[list[LoadResult]]]],
        pending: Iterator[list[str]],
        diff: TreeDiff,
    ) -> None:
        while len(ahead) < _POOL_WINDOW and (chunk := next(pending, None)) is not None:
            ahead.append((chunk, await pool.submit([(path, diff.blobs[path]) for path in chunk])))

    async def _from_pool(
        self, submitted: tuple[list[str], asyncio.Future[list[LoadResult]]], diff: TreeDiff, load: FileLoader
    ) -> list[tuple[str, str, LoadResult]]:
        chunk, future = submitted
        try:
            results = await future
        except RuntimeError as exc:  # loaded again here: a loader's error surfaces as without the pool
            log.debug("%s; loading %d files in the server's process", exc, len(chunk))
            return await self._load_chunk(chunk, diff, load)
        return [(path, diff.blobs[path], result) for path, result in zip(chunk, results, strict=True)]

    @staticmethod
    async def _load_chunk(paths: list[str], diff: TreeDiff, load: FileLoader) -> list[tuple[str, str, LoadResult]]:
        def work() -> list[tuple[str, str, LoadResult]]:
            return [(path, diff.blobs[path], load(path, diff.blobs[path])) for path in paths]

        return await asyncio.to_thread(work)

    async def _publish_chunk(
        self,
        loaded: list[tuple[str, str, LoadResult]],
        records: Mapping[str, FileRecord],
        provenance: Provenance,
        counts: SyncCounts,
    ) -> list[_FileOutcome]:
        outcomes: dict[str, _FileOutcome] = {}
        documents: list[tuple[_FileOutcome, LoadedDocument]] = []
        for path, blob, result in loaded:
            outcome = outcomes[path] = _FileOutcome(path, blob, records.get(path))
            errors = [f for f in result.findings if f.is_error]
            if errors:
                await self._reject_load(outcome, result, provenance(path))
                continue
            for document in result.documents:
                outcome.names.update(_names_of(document))
                documents.append((outcome, document))
        documents.sort(key=lambda item: _publish_order(item[1]))
        results = await self._catalog.publish_documents(
            [(document, provenance(outcome.path)) for outcome, document in documents]
        )
        for (outcome, document), published in zip(documents, results, strict=True):
            self._record_result(outcome, document, published, counts)
        for outcome in outcomes.values():
            if outcome.failed and self._on_rejected is not None:
                self._on_rejected(outcome.errors)
        return list(outcomes.values())

    async def _reject_load(self, outcome: _FileOutcome, result: LoadResult, source: Source) -> None:
        outcome.failed = True
        outcome.errors = [f for f in result.findings if f.is_error]
        await self._catalog.record_rejection(
            code=ValidationFailed.code,
            message=f"{outcome.path}: {len(outcome.errors)} load error(s); the file was not published",
            name=None,
            version=None,
            source=source,
            findings=[f for f in result.findings if f.severity is not Severity.INFO],
            file=outcome.path,
        )

    def _record_result(
        self,
        outcome: _FileOutcome,
        document: LoadedDocument,
        result: PublishResult | CatalogError,
        counts: SyncCounts,
    ) -> None:
        """Count a published document, or turn its refusal into findings on its file."""
        if isinstance(result, PublishResult):
            name, version = result.resource.definition.key
            outcome.published.append(version_ref(name, version))
            if result.outcome == "unchanged":
                counts.unchanged += 1
            else:
                counts.published += 1
            return
        if isinstance(result, ValidationFailed):
            outcome.errors.extend(result.findings or [_conflict_finding(result, document, ("metadata",))])
        elif isinstance(result, IncompatibleChange):
            outcome.errors.extend(self._compat_findings(result, document))
        elif isinstance(result, ImmutableVersionError):
            outcome.errors.append(_conflict_finding(result, document, ("metadata", "version")))
        elif isinstance(result, OwnershipConflict):
            outcome.errors.append(_conflict_finding(result, document, ("metadata", "name")))
        else:
            raise result  # storage failures abort the sync; the next attempt redoes it
        outcome.failed = True

    @staticmethod
    def _compat_findings(exc: IncompatibleChange, document: LoadedDocument) -> list[Finding]:
        """The compatibility findings the Catalog raised with, positioned in the file."""
        errors = [replace(f, file=document.file) for f in exc.findings if f.is_error]
        return errors or [_conflict_finding(exc, document, ("metadata", "version"))]

    # -- state and withdrawal ----------------------------------------------------------------

    @staticmethod
    def _settle(outcome: _FileOutcome) -> tuple[FileRecord, list[str]]:
        """The file's new record, and the versions it no longer holds."""
        previous = outcome.previous.versions if outcome.previous is not None else ()
        if outcome.failed:
            return FileRecord(outcome.blob, _unique([*previous, *outcome.published])), []
        kept = [ref for ref in previous if _ref_name(ref) in outcome.names]
        dropped = [ref for ref in previous if _ref_name(ref) not in outcome.names]
        return FileRecord(outcome.blob, _unique([*kept, *outcome.published])), dropped

    async def _withdraw_released(
        self, released: list[tuple[str, str]], records: Mapping[str, FileRecord], provenance: Provenance
    ) -> int:
        if not released:
            return 0
        held = {ref for record in records.values() for ref in record.versions}
        withdrawn = 0
        seen: set[str] = set()
        for ref, path in released:
            if ref in held or ref in seen:
                continue
            seen.add(ref)
            if await self._withdraw(ref, path, provenance(path)):
                withdrawn += 1
        return withdrawn

    async def _withdraw(self, ref: str, path: str, source: Source) -> bool:
        name, version = _ref_key(ref)
        try:
            entry = self._catalog.entry(name, version)
        except NotFoundError:
            log.warning("sync state lists %s, which the catalog does not have; nothing to withdraw", ref)
            return False
        if entry.withdrawn:
            return False
        try:
            await self._catalog.withdraw(
                name, version, source=source, reason=f"{path} no longer defines it in source {source.repository}"
            )
        except NotFoundError:
            return False
        return True


def _unique(refs: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(refs))


def _metadata(document: LoadedDocument) -> dict[str, Any]:
    data = document.data
    meta = data.get("metadata") if isinstance(data, dict) else None
    return meta if isinstance(meta, dict) else {}


def _names_of(document: LoadedDocument) -> set[str]:
    name = _metadata(document).get("name")
    return {name} if isinstance(name, str) else set()


def _publish_order(document: LoadedDocument) -> tuple[int, str, Any, str]:
    """Documents by name, then SemVer precedence; those without a usable name/version last."""
    meta = _metadata(document)
    name, version = meta.get("name"), meta.get("version")
    if not isinstance(name, str) or not isinstance(version, str):
        return (1, "", (), document.file)
    try:
        return (0, name, version_key(version), document.file)
    except CatalogError:
        return (1, name, (), document.file)


def _conflict_finding(exc: CatalogError, document: LoadedDocument, path: tuple[str, ...]) -> Finding:
    line, column = document.position(path)
    return Finding(
        rule=exc.code,
        severity=Severity.ERROR,
        field=".".join(path),
        message=exc.message,
        file=document.file,
        line=line,
        column=column,
    )
