"""The in-process ``Catalog``: the publish pipeline and the read API.

Data flows one way: source -> load -> validate -> compatibility -> conditional write
(version + event + audit, atomically, in the store) -> event log -> read model -> readers.
The read model is only ever changed by applying events from the store's log, in sequence
order, whether they were written by this process, another replica or the CLI. That keeps
every replica's view identical and makes a restart a replay.

Reads are plain synchronous method calls on the in-memory read model (dict lookups); they
never touch storage. Writes are coroutines serialized per process.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal, NoReturn, Self

from nestor_catalog_core import _collector as collector
from nestor_catalog_core._exceptions import (
    CatalogError,
    ConcurrentWrite,
    ImmutableVersionError,
    InvalidRequest,
    OwnershipConflict,
    ReadOnly,
    ValidationFailed,
)
from nestor_catalog_core.catalog.read_model import CatalogEntry, ReadModel
from nestor_catalog_core.catalog.reader import CatalogReader
from nestor_catalog_core.loading import LoadedDocument, LoadOptions, LoadResult, load_bytes
from nestor_catalog_core.models import (
    RESOURCE_EVENTS,
    AuditRecord,
    Event,
    EventType,
    Resource,
    ResourceStatus,
    Source,
    StoredVersion,
    resource_body,
    utcnow,
)
from nestor_catalog_core.models.definition import Deprecation, ResourceDefinition, canonical_json
from nestor_catalog_core.models.findings import Finding, Severity
from nestor_catalog_core.storage.base import AuditPage, AuditQuery, ComponentStore, PublishOutcome
from nestor_catalog_core.validation import ValidatedDocument, ValidationSettings, check_definition, validate_document
from nestor_catalog_core.validation.limits import deprecation_limit_issues
from nestor_catalog_core.versions import CompatReport, HasPositions, compare
from nestor_catalog_core.versions.compat import changed_fields_of

__all__ = ["Catalog", "CatalogSettings", "PublishResult"]

log = logging.getLogger("nestor_catalog.catalog")

#: The audit action (and event type) of a version reaching its sunset date.
SUNSET_ACTION: Final = EventType.RESOURCE_SUNSET.value


@dataclass(frozen=True, slots=True)
class CatalogSettings:
    """How strictly the catalog checks what it publishes (the spec's ``validation:`` block)."""

    validation: ValidationSettings = field(default_factory=ValidationSettings)
    compatibility: Literal["strict", "warn", "off"] = "strict"
    load_options: LoadOptions = field(default_factory=LoadOptions)
    event_buffer: int = 10_000  # recent events kept in memory for live subscribers
    read_only: bool = False


@dataclass(frozen=True, slots=True)
class PublishResult:
    """What a publish did.

    ``outcome``: ``created`` (a new version), ``unchanged`` (same content already
    published), ``lifecycle`` (only the deprecation block changed), ``restored`` (a
    withdrawn version came back with the same content).
    """

    outcome: Literal["created", "unchanged", "lifecycle", "restored"]
    resource: Resource
    event: Event | None = None
    warnings: list[Finding] = field(default_factory=list)
    compatibility: CompatReport | None = None


@dataclass(frozen=True, slots=True)
class _Request:
    """One publish as asked: what ``publish`` takes, handed whole to each step."""

    definition: ResourceDefinition
    source: Source
    user: str | None
    warnings: list[Finding]
    validated: bool  # the caller ran validation (policies) already
    locate: HasPositions | None = None  # the loaded document, for findings' lines


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A checked new version and the records that publish it, not yet written."""

    definition: ResourceDefinition
    stored: StoredVersion
    event: Event
    audit: AuditRecord
    source: Source
    user: str | None
    warnings: list[Finding]
    report: CompatReport | None
    event_json: bytes | None = None  # ``event.data`` as JSON, when built beside it


def _user_of(source: Source, user: str | None) -> str | None:
    return user or source.user or source.author_email


def _version_audit(
    entry: CatalogEntry,
    action: str,
    changes: list[str],
    *,
    source: Source,
    user: str | None,
    timestamp: datetime,
    **extra: Any,
) -> AuditRecord:
    """The audit record of a change to a published version (its lifecycle or withdrawal)."""
    return AuditRecord(
        action=action,
        resource=entry.name,
        version=entry.version,
        user=_user_of(source, user),
        timestamp=timestamp,
        changes=changes,
        git_commit=source.commit,
        source=source,
        **extra,
    )


class _Overtaken(Exception):
    """The read model a publish was being prepared against turned out behind the store (the
    store refused the conditional write, or a check that was about to refuse found newer
    events): the model has caught up since, and the publish is prepared again."""


#: Conditional attempts of one publish before it falls back to catching up first and
#: writing unconditionally (each failed attempt means another writer made progress).
_OPTIMISTIC_ATTEMPTS: Final = 5


class Catalog(CatalogReader):
    """Published resource definitions, readable in microseconds, changed only through the
    publish pipeline. Use ``async with Catalog(store) as catalog`` or ``await
    Catalog.open(uri)``; call ``catch_up()`` (or run ``follow()``) to see other writers."""

    def __init__(
        self, store: ComponentStore, settings: CatalogSettings | None = None, *, owns_store: bool = True
    ) -> None:
        self._settings = settings or CatalogSettings()
        super().__init__(event_buffer=self._settings.event_buffer)
        self._store = store
        self._owns_store = owns_store
        self._apply_lock = asyncio.Lock()
        self._write_lock = asyncio.Lock()
        # True while a publish is prepared against a read model not yet confirmed current
        # (``publish`` confirms it with the store's conditional write instead of a read).
        self._unconfirmed = False
        self._started = False

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    async def open(cls, uri: str, settings: CatalogSettings | None = None, **store_options: Any) -> Catalog:
        """Open the store at ``uri`` (``memory://``, ``sqlite:///catalog.db``, ...) and load."""
        from nestor_catalog_core.storage import open_store

        catalog = cls(open_store(uri, **store_options), settings, owns_store=True)
        await catalog.start()
        return catalog

    async def start(self) -> None:
        """Open the store and rebuild the read model from it."""
        await self._store.open()
        await self.rebuild()
        self._started = True

    async def rebuild(self) -> None:
        """Reload everything from storage, then apply what happened meanwhile."""
        async with self._apply_lock:
            head = await self._store.last_sequence()
            model = ReadModel()
            with collector.paused():
                model.load([item async for item in self._store.scan_versions()])
            model.revision = head
            self.replace_model(model)
        await self.catch_up()

    async def close(self) -> None:
        self._hub.close()
        if self._owns_store:
            await self._store.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def store(self) -> ComponentStore:
        return self._store

    @property
    def settings(self) -> CatalogSettings:
        return self._settings

    @property
    def read_only(self) -> bool:
        return self._settings.read_only

    async def read_events(self, after: int, limit: int) -> list[Event]:
        return await self._store.read_events(after, limit)

    async def first_sequence(self) -> int:
        return await self._store.first_sequence()

    # -- following the event log -----------------------------------------------------------

    async def catch_up(self) -> int:
        """Apply every event the store has beyond ``revision``; returns how many."""
        applied = 0
        async with self._apply_lock:
            while True:
                events = await self._store.read_events(self._model.revision, 1000)
                if not events:
                    return applied
                if events[0].sequence != self._model.revision + 1:
                    # Retention dropped events we never saw: only a rebuild is correct.
                    log.warning(
                        "event log moved past this read model; rebuilding",
                        extra={"revision": self._model.revision, "first_available": events[0].sequence},
                    )
                    break
                for event in events:
                    self._apply(event)
                    applied += 1
        await self.rebuild()
        return applied

    async def _after_write(
        self,
        event: Event | None,
        stored: StoredVersion | None = None,
        definition: ResourceDefinition | None = None,
        *,
        event_json: bytes | None = None,
    ) -> None:
        """Bring the read model up to a write we just made: apply its event directly when it
        is the next one (the common case), otherwise read the log. For a publish, the stored
        record and the model we already hold are installed as they are, instead of being
        rebuilt from the event's JSON (whose data is the document: the read model derives its
        indexes from it without parsing the stored JSON again)."""
        if event is not None:
            async with self._apply_lock:
                if event.sequence == self._model.revision + 1 and stored is not None:
                    document = event.data if event.type in RESOURCE_EVENTS else None
                    entry = self._model.upsert(stored, document=document).by_version[stored.version]
                    if definition is not None:
                        entry.seed(definition)
                    self._model.revision = event.sequence
                    self._hub.append(event, data_json=event_json)
                    return
                if self.apply_event(event) and self._model.revision >= event.sequence:
                    return
        await self.catch_up()

    async def receive(self, event: Event) -> bool:
        """Apply an event another process wrote that reached this one out of band (a replica's
        Redis stream), under the lock ``catch_up`` holds, so the two never interleave: calling
        ``apply_event`` directly while a ``catch_up`` awaits the store would make it rebuild.

        Events missing before ``event`` are read from the store first. Returns whether the read
        model now includes ``event.sequence`` (False when the store does not hold it: the event
        came from another store). Raises ``StorageError`` when the store cannot fill a gap.
        """
        async with self._apply_lock:
            if self.apply_event(event):
                return True
        await self.catch_up()
        return self._model.revision >= event.sequence

    async def follow(self, interval: float = 1.0) -> None:
        """Poll the store for other writers' events forever (cancel to stop)."""
        while True:
            try:
                await self.catch_up()
            except CatalogError as exc:
                log.warning("catching up with the event log failed: %s", exc)
            await asyncio.sleep(interval)

    async def audit(self, query: AuditQuery | None = None, **filters: Any) -> AuditPage:
        return await self._store.query_audit(query or AuditQuery(**filters))

    # -- writes ----------------------------------------------------------------------------

    def _check_writable(self) -> None:
        if self._settings.read_only:
            raise ReadOnly()

    async def publish_bytes(
        self,
        data: bytes,
        *,
        file: str = "<request>",
        source: Source,
        user: str | None = None,
        suffix: str | None = None,
    ) -> list[PublishResult]:
        """Load, validate and publish every definition in a YAML/JSON payload. Nothing is
        published unless every document is valid (all findings are reported at once).
        ``suffix`` ``.json`` reads the payload as JSON (``load_bytes``), as a file would be."""
        self._check_writable()
        # Loading and validating a payload is CPU work bounded only by its size: off the event loop.
        loaded, checked = await asyncio.to_thread(self._load_and_validate, data, file, suffix)
        findings = [f for f in loaded.findings if f.severity is Severity.ERROR]
        definitions: list[tuple[ResourceDefinition, list[Finding]]] = []
        for validated in checked:
            findings.extend(f for f in validated.findings if f.severity is Severity.ERROR)
            if validated.definition is not None:
                definitions.append((validated.definition, [f for f in validated.findings if not f.is_error]))
        if findings:
            raise ValidationFailed(findings=findings, details={"file": file})
        if not definitions:
            raise InvalidRequest(
                f"{file} holds no {ResourceDefinition.__name__} document (apiVersion catalog.nestor.io/v1)",
                details={"file": file, "notices": [f.to_dict() for f in loaded.findings]},
            )
        return [await self.publish(d, source=source, user=user, warnings=w, validated=True) for d, w in definitions]

    def _load_and_validate(
        self, data: bytes, file: str, suffix: str | None
    ) -> tuple[LoadResult, list[ValidatedDocument]]:
        loaded = load_bytes(data, file, options=self._settings.load_options, suffix=suffix)
        return loaded, [validate_document(document, self._settings.validation) for document in loaded.documents]

    async def publish_document(
        self, document: LoadedDocument, *, source: Source, user: str | None = None
    ) -> PublishResult:
        """Validate one loaded document and publish it; a document with error findings is
        recorded as rejected (audit + ``validation.failed`` event) and raises
        ``ValidationFailed``."""
        self._check_writable()
        definition, warnings = await self._validated(document, source, user)
        return await self.publish(
            definition, source=source, user=user, warnings=warnings, validated=True, locate=document
        )

    async def publish_documents(
        self,
        items: Sequence[tuple[LoadedDocument, Source]],
        *,
        user: str | None = None,
        batch_size: int = 500,
    ) -> list[PublishResult | CatalogError]:
        """Validate and publish many documents (a sync), each with exactly
        ``publish_document``'s checks and outcome, returned in order: a refused document's
        error (already recorded as a rejection) stands in its place and never stops the
        others. New versions are written in batches (``store.publish_many``: one
        transaction per batch on SQLite); a batch holds at most one version per name, so
        every compatibility check sees its predecessor. Pass documents of one name in
        ascending version order for the history to be checked step by step."""
        self._check_writable()
        results: list[PublishResult | CatalogError | None] = [None] * len(items)
        pending: list[tuple[int, _Prepared]] = []
        pending_names: set[str] = set()

        async def flush() -> None:
            if not pending:
                return
            outcomes = await self._store.publish_many([(p.stored, p.event, p.audit) for _, p in pending])
            for (index, prepared), outcome in zip(pending, outcomes, strict=True):
                try:
                    results[index] = await self._commit(prepared, outcome)
                except CatalogError as exc:
                    results[index] = exc
            pending.clear()
            pending_names.clear()

        async with self._write_lock:
            await self.catch_up()
            for index, (document, source) in enumerate(items):
                try:
                    definition, warnings = await self._validated(document, source, user)
                    if definition.name in pending_names:
                        await flush()
                    prepared = await self._prepare(_Request(definition, source, user, warnings, True, document))
                except CatalogError as exc:
                    results[index] = exc
                    continue
                if isinstance(prepared, PublishResult):
                    results[index] = prepared
                    continue
                pending.append((index, prepared))
                pending_names.add(definition.name)
                if len(pending) >= batch_size:
                    await flush()
            await flush()
        return [r for r in results if r is not None]

    async def _validated(
        self, document: LoadedDocument, source: Source, user: str | None
    ) -> tuple[ResourceDefinition, list[Finding]]:
        """The document's definition and warnings, or a recorded rejection raised as
        ``ValidationFailed``."""
        validated = validate_document(document, self._settings.validation)
        errors = [f for f in validated.findings if f.is_error]
        if errors or validated.definition is None:
            meta = document.data.get("metadata", {}) if isinstance(document.data, dict) else {}
            meta = meta if isinstance(meta, dict) else {}
            await self._reject(
                ValidationFailed(findings=errors, details={"file": document.file}),
                message=f"{document.file}: {len(errors)} validation error(s)",
                name=meta.get("name") if isinstance(meta.get("name"), str) else None,
                version=meta.get("version") if isinstance(meta.get("version"), str) else None,
                source=source,
                user=user,
                findings=validated.findings,
                file=document.file,
            )
        return validated.definition, [f for f in validated.findings if not f.is_error]

    async def publish(
        self,
        definition: ResourceDefinition,
        *,
        source: Source,
        user: str | None = None,
        warnings: Sequence[Finding] = (),
        validated: bool = False,
        locate: HasPositions | None = None,
    ) -> PublishResult:
        """Publish a built definition: policies (when enabled, unless ``validated`` says the
        caller already ran validation), immutability, ownership and compatibility, then the
        atomic write and the read-model update. Rejections are recorded (audit + event)
        before raising. ``locate`` (the loaded document) gives compatibility findings their
        line and column."""
        self._check_writable()
        request = _Request(definition, source, user, list(warnings), validated, locate)
        async with self._write_lock:
            # Optimistic: prepared against the read model as it is, written on the condition
            # that the store's log has not moved past it (one store call per publish instead
            # of a read of the log, then the write). Whatever would refuse the publish, or
            # act on a version already there, first confirms the model is current.
            for _ in range(_OPTIMISTIC_ATTEMPTS):
                self._unconfirmed = True
                try:
                    return await self._publish_locked(request, expected_sequence=self._model.revision)
                except _Overtaken:
                    continue
                finally:
                    self._unconfirmed = False
            await self.catch_up()
            return await self._publish_locked(request)

    async def _publish_locked(self, request: _Request, *, expected_sequence: int | None = None) -> PublishResult:
        prepared = await self._prepare(request)
        if isinstance(prepared, PublishResult):
            return prepared
        # The store's answer is authoritative from here: a write, a refusal (ownership and
        # immutability never change once set), or ConcurrentWrite.
        self._unconfirmed = False
        try:
            outcome: PublishOutcome | CatalogError = await self._store.publish(
                prepared.stored, prepared.event, prepared.audit, expected_sequence=expected_sequence
            )
        except ConcurrentWrite:
            await self.catch_up()
            raise _Overtaken from None
        except (ImmutableVersionError, OwnershipConflict) as exc:
            outcome = exc
        return await self._commit(prepared, outcome)

    async def _confirm_current(self) -> None:
        """Before acting on the read model's word (refusing a publish, or changing a version
        it holds) in an optimistic publish: catch up, and start over if that applied anything."""
        if self._unconfirmed:
            self._unconfirmed = False
            if await self.catch_up():
                raise _Overtaken

    async def _prepare(self, request: _Request) -> PublishResult | _Prepared:
        """The steps before a new version's write, each recording and raising its refusal:
        policies (unless ``validated``), then a version already published (``_republish``,
        which is the one step that may write at once: a lifecycle change or a restore, whose
        result is returned), then compatibility with the predecessor, then the records of
        the new version to write."""
        definition, source, user, warnings = request.definition, request.source, request.user, request.warnings
        name, version = definition.key
        if not request.validated:
            warnings = [*warnings, *await self._checked_policies(definition, source=source, user=user)]
        # One serialization serves the digest, the stored document and the event: without a
        # lifecycle block the digest's canonical JSON is the document's (profile of a sync of
        # 10,000 definitions: to_dict and canonical_json twice, then the event's data parsed
        # back from the resource's JSON, were 80% of preparing a version).
        document_data = definition.to_dict()
        document = canonical_json(document_data)
        if definition.metadata.deprecation is None:
            digest = "sha256:" + hashlib.sha256(document).hexdigest()
        else:
            digest = definition.compute_digest()
        existing = self._model.versions.get((name, version))
        if existing is not None:
            await self._confirm_current()
            return await self._republish(existing, definition, digest, source=source, user=user, warnings=warnings)

        state = self._model.names.get(name)
        predecessor = state.predecessor(version) if state else None
        previous = predecessor.definition() if predecessor is not None else None
        report: CompatReport | None = None
        if previous is not None and self._settings.compatibility != "off":
            report = compare(previous, definition)
            if not report.ok:
                warnings = [
                    *warnings,
                    *await self._checked_compatibility(report, source=source, user=user, locate=request.locate),
                ]
        return self._records(
            definition,
            document_data,
            document,
            digest,
            created=state is None,
            predecessor=predecessor,
            source=source,
            user=user,
            warnings=warnings,
            report=report,
        )

    @staticmethod
    def _records(
        definition: ResourceDefinition,
        document_data: dict[str, Any],
        document: bytes,
        digest: str,
        *,
        created: bool,
        predecessor: CatalogEntry | None,
        source: Source,
        user: str | None,
        warnings: list[Finding],
        report: CompatReport | None,
    ) -> _Prepared:
        """The last step of ``_prepare``: the stored version, its event and its audit record,
        from the one serialization of the document (no write yet). The event's JSON is the
        document's with the status appended (what the stream serves and the store writes)."""
        name, version = definition.key
        stored = StoredVersion.from_definition(definition, source, digest=digest, document=document)
        status = ResourceStatus.of(stored).to_dict()
        status_json = json.dumps(status, separators=(",", ":"), ensure_ascii=False).encode()
        event_json = document[:-1] + b',"status":' + status_json + b"}"
        event = Event(
            type=EventType.RESOURCE_CREATED if created else EventType.RESOURCE_UPDATED,
            time=stored.published_at,
            data={**document_data, "status": status},  # == json.loads(resource_body(stored))
            name=name,
            version=version,
            provider=stored.provider,
            category=stored.category,
            resource_type=stored.resource_type,
            data_json=event_json,
        )
        audit = AuditRecord(
            action=event.type.value,
            resource=name,
            version=version,
            user=_user_of(source, user),
            timestamp=stored.published_at,
            # The predecessor's stored JSON and this document's data: no model dumped again.
            changes=changed_fields_of(json.loads(predecessor.stored.document), document_data) if predecessor else [],
            git_commit=source.commit,
            source=source,
            details={"digest": digest, **({"previous_version": predecessor.version} if predecessor else {})},
        )
        return _Prepared(definition, stored, event, audit, source, user, warnings, report, event_json)

    async def _checked_policies(
        self, definition: ResourceDefinition, *, source: Source, user: str | None
    ) -> list[Finding]:
        """The policy findings of ``definition`` (all warnings), or a recorded and raised
        ``ValidationFailed``."""
        name, version = definition.key
        policy = check_definition(definition, self._settings.validation)
        errors = [f for f in policy if f.is_error]
        if errors:
            await self._reject(
                ValidationFailed(findings=errors, details={"resource_name": name, "version": version}),
                message=f"{name}@{version}: {len(errors)} validation error(s)",
                name=name,
                version=version,
                source=source,
                user=user,
                findings=policy,
            )
        return policy

    async def _checked_compatibility(
        self, report: CompatReport, *, source: Source, user: str | None, locate: HasPositions | None
    ) -> list[Finding]:
        """A report that is not ok: a recorded and raised ``IncompatibleChange`` (carrying the
        findings) in ``strict`` mode, else its findings as warnings."""
        findings = report.findings(source.path, locate=locate)
        if self._settings.compatibility == "strict":
            error = report.to_error(findings)
            await self._reject(
                error,
                message=f"{report.name} {report.old_version} -> {report.new_version} needs a "
                f"{report.required.label} version bump, declared {report.declared.label}",
                name=report.name,
                version=report.new_version,
                source=source,
                user=user,
                findings=findings,
                extra={"changes": error.details["changes"], "previous_version": report.old_version},
            )
        return [f if not f.is_error else _as_warning(f) for f in findings]

    async def _commit(self, prepared: _Prepared, outcome: PublishOutcome | CatalogError) -> PublishResult:
        """Bring the store's answer for a prepared version into the read model, or record
        the refusal and raise it."""
        name, version = prepared.definition.key
        if isinstance(outcome, CatalogError):
            await self._reject(
                outcome, name=name, version=version, source=prepared.source, user=prepared.user, extra=outcome.details
            )
        await self._after_write(
            outcome.event,
            outcome.version if outcome.created else None,
            prepared.definition,
            event_json=prepared.event_json if outcome.created else None,
        )
        entry = self.entry(name, version)
        if not outcome.created:
            return PublishResult("unchanged", entry.resource(), None, prepared.warnings, prepared.report)
        # The published model itself, not through the readers' cache (a sync would fill it).
        resource = Resource(definition=prepared.definition, status=ResourceStatus.of(entry.stored))
        return PublishResult("created", resource, outcome.event, prepared.warnings, prepared.report)

    async def _republish(
        self,
        existing: CatalogEntry,
        definition: ResourceDefinition,
        digest: str,
        *,
        source: Source,
        user: str | None,
        warnings: list[Finding],
    ) -> PublishResult:
        name, version = definition.key
        if existing.digest != digest:
            details = {
                "resource_name": name,
                "version": version,
                "published_digest": existing.digest,
                "new_digest": digest,
                "published_from": existing.stored.source.to_dict(),
            }
            message = (
                f"{name}@{version} is already published with other content; versions are immutable, "
                "publish the change as a new version"
            )
            await self._reject(
                ImmutableVersionError(message, details=details),
                name=name,
                version=version,
                source=source,
                user=user,
                extra=details,
            )
        if existing.stored.source.owner != source.owner:
            owner = existing.stored.source.owner
            message = f"{name} is owned by {owner}; {source.owner} cannot publish it"
            await self._reject(
                OwnershipConflict(message, details={"resource_name": name, "owner": owner}),
                name=name,
                version=version,
                source=source,
                user=user,
                extra={"owner": owner},
            )
        if existing.withdrawn:
            resource = await self._set_withdrawn(existing, False, source=source, user=user, reason="restored")
            return PublishResult("restored", resource, None, warnings)
        if definition.metadata.deprecation != existing.definition().metadata.deprecation:
            resource = await self._set_lifecycle(existing, definition.metadata.deprecation, source=source, user=user)
            return PublishResult("lifecycle", resource, None, warnings)
        return PublishResult("unchanged", existing.resource(), None, warnings)

    async def deprecate(
        self, name: str, version: str, deprecation: Deprecation | None, *, source: Source, user: str | None = None
    ) -> Resource:
        """Set, change or (with None) clear the lifecycle block of a published version; a
        message past ``Limits.deprecation_message_max_length`` is refused (``FIELD_TOO_LONG``)."""
        self._check_writable()
        if deprecation is not None:
            problems = deprecation_limit_issues(deprecation, self._settings.validation.limits)
            if problems:
                raise ValidationFailed(
                    findings=[issue.finding() for issue in problems],
                    details={"resource_name": name, "version": version},
                )
        async with self._write_lock:
            await self.catch_up()
            return await self._set_lifecycle(self.entry(name, version), deprecation, source=source, user=user)

    async def withdraw(
        self, name: str, version: str, *, source: Source, user: str | None = None, reason: str = "withdrawn"
    ) -> Resource:
        """Withdraw a version (like a yank): still fetchable exactly, excluded elsewhere."""
        self._check_writable()
        async with self._write_lock:
            await self.catch_up()
            entry = self.entry(name, version)
            if entry.withdrawn:
                return entry.resource()
            return await self._set_withdrawn(entry, True, source=source, user=user, reason=reason)

    async def restore(self, name: str, version: str, *, source: Source, user: str | None = None) -> Resource:
        self._check_writable()
        async with self._write_lock:
            await self.catch_up()
            entry = self.entry(name, version)
            if not entry.withdrawn:
                return entry.resource()
            return await self._set_withdrawn(entry, False, source=source, user=user, reason="restored")

    async def _set_lifecycle(
        self, entry: CatalogEntry, deprecation: Deprecation | None, *, source: Source, user: str | None
    ) -> Resource:
        definition = entry.definition().with_deprecation(deprecation)
        document = canonical_json(definition.to_dict())
        now = utcnow()
        updated = entry.stored.with_changes(document=document, deprecated=deprecation is not None, updated_at=now)
        event = self._resource_event(EventType.RESOURCE_DEPRECATED, updated)
        audit = _version_audit(
            entry,
            event.type.value,
            ["metadata.deprecation"],
            source=source,
            user=user,
            timestamp=now,
            details={"deprecation": deprecation.model_dump(mode="json") if deprecation else None},
        )
        await self._store.set_lifecycle(entry.name, entry.version, document, deprecation is not None, event, audit)
        await self.catch_up()
        return self.get(entry.name, entry.version)

    async def _set_withdrawn(
        self, entry: CatalogEntry, withdrawn: bool, *, source: Source, user: str | None, reason: str
    ) -> Resource:
        now = utcnow()
        updated = entry.stored.with_changes(withdrawn=withdrawn, updated_at=now)
        kind = EventType.RESOURCE_DELETED if withdrawn else EventType.RESOURCE_UPDATED
        event = self._resource_event(kind, updated)
        audit = _version_audit(
            entry,
            "resource.withdrawn" if withdrawn else "resource.restored",
            ["status.withdrawn"],
            source=source,
            user=user,
            timestamp=now,
            reason=reason,
        )
        await self._store.set_withdrawn(entry.name, entry.version, withdrawn, event, audit)
        await self.catch_up()
        return self.get(entry.name, entry.version)

    @staticmethod
    def _resource_event(kind: EventType, stored: StoredVersion) -> Event:
        return Event(
            type=kind,
            time=stored.updated_at or stored.published_at,
            data=json.loads(resource_body(stored)),
            name=stored.name,
            version=stored.version,
            provider=stored.provider,
            category=stored.category,
            resource_type=stored.resource_type,
        )

    # -- sunsets -------------------------------------------------------------------------

    def next_sunset(self, now: datetime | None = None) -> datetime | None:
        """The earliest sunset moment still to come after ``now``, if any (when to call
        ``announce_sunsets`` next)."""
        moment = now or utcnow()
        upcoming = [e.sunset_at for e in self._model.versions.values() if e.sunset_at is not None]
        return min((at for at in upcoming if at > moment), default=None)

    async def announce_sunsets(self, now: datetime | None = None) -> list[Event]:
        """Record a ``resource.sunset`` event (and a ``resource.sunset`` audit record) for every
        deprecated version whose sunset moment has come by ``now`` and was not announced for that
        moment yet. Applying the event rebuilds the name's state, so the version leaves ``latest``
        and constraint resolution on every reader (replicas and mirrors follow the event log);
        it stays fetchable exactly, with ``status.sunset`` true. Idempotent: an announcement is
        looked up in the audit log first (so restarts and other replicas do not repeat it)."""
        if self.read_only:
            return []
        moment = now or utcnow()
        if not self._due_sunsets(moment):
            return []
        events: list[Event] = []
        async with self._write_lock:
            await self.catch_up()
            for entry in self._due_sunsets(moment):
                assert entry.sunset_at is not None
                query = AuditQuery(
                    resource=entry.name, version=entry.version, action=SUNSET_ACTION, since=entry.sunset_at, limit=1
                )
                if (await self._store.query_audit(query)).records:
                    continue
                events.append(await self._announce_sunset(entry, entry.sunset_at, moment))
        return events

    def _due_sunsets(self, moment: datetime) -> list[CatalogEntry]:
        """Versions whose sunset moment has come by ``moment``, oldest sunset first."""
        due = [e for e in self._model.versions.values() if e.sunset_at is not None and e.sunset_at <= moment]
        return sorted(due, key=lambda e: (e.sunset_at, e.name, e.key))

    async def _announce_sunset(self, entry: CatalogEntry, sunset_at: datetime, now: datetime) -> Event:
        stored = entry.stored
        body = json.loads(resource_body(stored))
        body["status"]["sunset"] = True
        event = Event(
            type=EventType.RESOURCE_SUNSET,
            time=now,
            data=body,
            name=stored.name,
            version=stored.version,
            provider=stored.provider,
            category=stored.category,
            resource_type=stored.resource_type,
        )
        audit = AuditRecord(
            action=SUNSET_ACTION,
            resource=stored.name,
            version=stored.version,
            user=None,
            timestamp=now,
            changes=["status.sunset"],
            source=stored.source,
            reason=f"sunset date {sunset_at.date().isoformat()} reached",
            details={"sunset": sunset_at.date().isoformat()},
        )
        stored_event, _ = await self._store.append(event, audit)
        await self._after_write(stored_event)
        assert stored_event is not None
        return stored_event

    async def _reject(
        self,
        error: CatalogError,
        *,
        name: str | None,
        version: str | None,
        source: Source,
        user: str | None,
        findings: Sequence[Finding] = (),
        file: str | None = None,
        message: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> NoReturn:
        """Record a refused publish (``record_rejection``: ``error``'s code, ``message`` or the
        error's, ``file`` or the source's path) and raise ``error``. In an optimistic publish
        the read model is confirmed current first: a refusal is never judged on a stale one."""
        await self._confirm_current()
        await self.record_rejection(
            code=error.code,
            message=error.message if message is None else message,
            name=name,
            version=version,
            source=source,
            user=user,
            findings=findings,
            file=source.path if file is None else file,
            extra=extra,
        )
        raise error

    async def record_rejection(
        self,
        *,
        code: str,
        message: str,
        name: str | None,
        version: str | None,
        source: Source,
        user: str | None = None,
        findings: Sequence[Finding] = (),
        file: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Event:
        """Record a refused publish: an audit record and a ``validation.failed`` event
        carrying the findings, so the last good version keeps serving and everyone can see
        why the new one did not land."""
        state = self._model.names.get(name) if name else None
        latest = state.latest if state else None
        data: dict[str, Any] = {
            "code": code,
            "message": message,
            "resource_name": name,
            "version": version,
            "file": file,
            "source": source.to_dict(),
            "findings": [f.to_dict() for f in findings],
            **(extra or {}),
        }
        now = utcnow()
        event = Event(
            type=EventType.VALIDATION_FAILED,
            time=now,
            data=data,
            name=name,
            version=version,
            provider=latest.stored.provider if latest else None,
            category=latest.stored.category if latest else None,
            resource_type=latest.stored.resource_type if latest else None,
        )
        audit = AuditRecord(
            action="resource.rejected",
            resource=name,
            version=version,
            user=_user_of(source, user),
            timestamp=now,
            git_commit=source.commit,
            source=source,
            outcome="rejected",
            reason=message,
            details={"code": code, "file": file, "findings": data["findings"], **(extra or {})},
        )
        stored_event, _ = await self._store.append(event, audit)
        await self._after_write(stored_event)
        assert stored_event is not None
        return stored_event

    async def record_event(self, event: Event, audit: AuditRecord | None = None) -> Event:
        """Append an event that changes no version (``sync.completed``, ``sync.failed``)."""
        stored_event, _ = await self._store.append(event, audit)
        await self._after_write(stored_event)
        assert stored_event is not None
        return stored_event


def _as_warning(finding: Finding) -> Finding:
    from dataclasses import replace

    return replace(finding, severity=Severity.WARNING)
