"""``SyncManager``: every configured source, synced on schedule, on demand and on webhooks.

Scheduling, per source (one asyncio task each, started by ``start()``):

- the first sync runs at once; then the source waits ``poll_interval`` (spread by +-``jitter``)
  or a trigger, whichever comes first. ``poll_interval: 0`` waits for triggers only; local
  directories are watched instead of polled;
- at most one sync of a source is in flight. Triggers arriving meanwhile (webhooks, manual
  ``trigger``, file changes) coalesce into exactly one follow-up sync, which starts as soon as
  the running one ends: a webhook's commit is never left waiting for the next poll;
- a failed sync retries after ``backoff.initial``, doubling up to ``backoff.max``; the first
  success resets it. A trigger still starts a sync at once;
- blocking git work runs in worker threads, never on the event loop; ``stop()`` cancels the
  loops and waits (bounded) for them to finish.

Every attempt updates the source's ``SourceStatus``, observes ``catalog_git_sync_duration``
(outcome ``success``, ``unchanged``, ``held`` or ``failure``) and, when the attempt itself
failed, emits ``sync.failed`` (data: repository, kind, error, reason, code, stage, at,
consecutive_failures) and counts ``catalog_git_sync_stage_failures_total``. An attempt cut
short by ``stop()`` (this replica stopped leading, or shuts down) is a failure too, reason
``interrupted``. An event that cannot be recorded (storage down) is kept and recorded before
the next one (``unsent``). A sync the withdraw guard holds sets ``state: held``, emits
``sync.held`` once per held commit, and waits for ``confirm_withdrawals``. What a successful
sync publishes and emits is described in ``sync.source``.

Readiness (``ready``, and each status's ``ready``/``waiting_for``/``stale``): a source is ready
once this process serves it as of its last good sync: storage held a synced state of it when
it was first read, or an attempt of this process succeeded (or was held). Before that it waits
for its first sync. A source never synced whose first attempt failed is served as it is
(empty) and reported stale; ``git.readiness`` decides whether a stale source makes the replica
unready.

Webhooks are hints: ``handle_webhook`` authenticates the delivery with the repository's secret,
and a push to its branch triggers a sync; the fetched commit is the truth, whatever the payload
says. Leader election (one replica syncing) is the caller's: run ``start()`` only while holding
the sync lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

from nestor_catalog_core import (
    AuthenticationError,
    Catalog,
    CatalogError,
    Event,
    EventType,
    Finding,
    InvalidRequest,
    LoadOptions,
    PermissionDenied,
    SourceNotFound,
    StorageError,
    SyncError,
)
from nestor_catalog_core.models import format_time, utcnow
from nestor_catalog_server.config import GitConfig
from nestor_catalog_server.observability.metrics import Metrics
from nestor_catalog_server.observability.otel import Tracing
from nestor_catalog_server.observability.otel import trace_id_of as otel_trace_id
from nestor_catalog_server.observability.tracing import trace_context
from nestor_catalog_server.sync._change_applier import ChangeApplier
from nestor_catalog_server.sync.local import LocalSource
from nestor_catalog_server.sync.source import GitSource, SyncSource
from nestor_catalog_server.sync.status import SourceStatus, SyncReport
from nestor_catalog_server.sync.webhooks import (
    DeliveryLog,
    WebhookDelivery,
    WebhookGate,
    WebhookProvider,
    classify,
    open_gate,
    replay_id,
    verify_and_parse,
)

__all__ = ["DEFAULT_STOP_TIMEOUT", "EVENT_TIMEOUT", "SyncManager"]

_PROVIDERS: Final = frozenset(member.value for member in WebhookProvider)
log = logging.getLogger("nestor_catalog.sync")

#: How long ``stop()`` waits for cancelled syncs to unwind before giving up on them.
DEFAULT_STOP_TIMEOUT: Final = 10.0
#: Webhook spans one sync links to at most (a burst of pushes coalesces into one sync).
_MAX_LINKS: Final = 32
#: Seconds recording a sync event may take before it is kept for later (storage frozen).
EVENT_TIMEOUT: Final = 5.0
#: Events kept while storage cannot record them; the oldest are dropped beyond this.
_MAX_UNSENT: Final = 100


class SyncManager:
    """Syncs the sources of ``git`` (repositories and local directories) into ``catalog``.

    Mirrors live in ``<data_dir>/mirrors/<name>.git``. ``load_options`` defaults to the
    Catalog's (same size limit as API publishes). Construction touches neither the network nor
    the disk: ``sync_once`` works without ``start()`` (the CLI's ``--once``).
    """

    def __init__(
        self,
        catalog: Catalog,
        git: GitConfig,
        *,
        data_dir: Path,
        metrics: Metrics | None = None,
        load_options: LoadOptions | None = None,
        stop_timeout: float = DEFAULT_STOP_TIMEOUT,
        rng: random.Random | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self._catalog = catalog
        self._git = git
        self._metrics = metrics
        self._stop_timeout = stop_timeout
        self._tracing = tracing or Tracing()
        self._deliveries = DeliveryLog(window=git.webhook_replay_window.total_seconds())
        options = load_options or catalog.settings.load_options
        applier = ChangeApplier(
            catalog, on_rejected=self._count_rejection, tracing=self._tracing, guard=git.withdraw_guard
        )
        #: Sync events storage could not record yet, oldest first.
        self.unsent: list[Event] = []
        sources: list[SyncSource] = [
            GitSource(
                repository,
                catalog,
                applier,
                mirror_dir=Path(data_dir) / "mirrors" / f"{repository.name}.git",
                load_options=options,
            )
            for repository in git.repositories
        ]
        sources += [LocalSource(directory, catalog, applier, load_options=options) for directory in git.directories]
        self._runners: dict[str, _Runner] = {}
        for source in sources:
            if source.name in self._runners:
                raise SyncError(f"two sync sources are named {source.name!r}; source names must be unique")
            self._runners[source.name] = _Runner(source, self, rng or random.Random())
        self._started = False

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every source's loop (its first sync runs at once) and directory watchers."""
        if self._started:
            return
        self._started = True
        for runner in self._runners.values():
            runner.start()

    async def stop(self) -> None:
        """Cancel the loops and watchers; wait up to ``stop_timeout`` for them to end."""
        self._started = False
        tasks = [task for runner in self._runners.values() for task in runner.cancel()]
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=self._stop_timeout)
            if pending:
                log.warning("%d sync task(s) did not stop within %.1fs", len(pending), self._stop_timeout)
        for runner in self._runners.values():
            runner.source.close()

    async def __aenter__(self) -> SyncManager:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- running syncs -----------------------------------------------------------------------

    async def sync_once(
        self, name: str | None = None, *, on_done: Callable[[SyncReport], None] | None = None
    ) -> list[SyncReport]:
        """Sync ``name`` (or every source, concurrently) now and return the reports, in
        configuration order. Waits for a sync already in flight first. A failed sync is a
        report with ``error`` set, never an exception; an unknown name is ``SourceNotFound``.
        ``on_done`` is called with each report as its source finishes (progress display)."""
        runners = [self._runner(name)] if name is not None else list(self._runners.values())
        reason = "once" if name is None else "manual"

        async def run(runner: _Runner) -> SyncReport:
            report = await runner.run_once(reason)
            if on_done is not None:
                on_done(report)
            return report

        return list(await asyncio.gather(*(run(runner) for runner in runners)))

    def confirm_withdrawals(self, name: str) -> dict[str, Any]:
        """Let the sync the withdraw guard holds for ``name`` through, and start it; returns
        what was held. ``ConflictError`` when nothing is held, ``SourceNotFound`` for a name
        that is not configured."""
        runner = self._runner(name)
        held = runner.source.confirm_withdrawals()
        log.warning(
            "withdrawals of %s confirmed: %s",
            name,
            held.get("message"),
            extra={"operation": "confirm_withdrawals", "repository": name, "commit": held.get("commit")},
        )
        runner.trigger("confirmed")
        return held

    def trigger(self, name: str, *, reason: str = "manual", link: Any | None = None) -> None:
        """Ask for a sync of ``name`` as soon as possible; triggers during a sync coalesce into
        one follow-up. Without ``start()`` nothing runs until ``start()``. ``link`` (an
        OpenTelemetry link, e.g. to a forwarded webhook's span) is added to that sync's span."""
        self._runner(name).trigger(reason, link=link)

    def webhook_gate(self, provider: str, name: str, headers: Mapping[str, str]) -> WebhookGate:
        """Check a delivery's headers before its body is read (``open_gate``): an unknown
        repository, one without a ``webhook_secret`` or configured for another provider is
        answered as a bad signature, so callers cannot enumerate repositories; the real reason
        is logged."""
        runner = self._runners.get(name)
        secret: str | None = None
        refusal: str | None = None
        if runner is None or not isinstance(runner.source, GitSource):
            refusal = "no git repository by that name"
        else:
            repository = runner.source.config
            if repository.webhook_provider is not None and provider.strip().lower() != repository.webhook_provider:
                refusal = f"the repository takes webhooks from {repository.webhook_provider}"
            elif repository.webhook_secret is None:
                refusal = "the repository has no webhook_secret"
            else:
                secret = repository.webhook_secret.get_secret_value()
        try:
            gate = open_gate(provider, headers, secret)
        except AuthenticationError:
            self._count_webhook(provider, "unauthorized")
            if refusal is not None:
                log.warning("webhook for %r refused: %s", name[:80], refusal)
            raise
        except InvalidRequest:
            self._count_webhook(provider, "invalid")
            raise
        return gate

    async def handle_webhook(
        self, provider: str, name: str, headers: Mapping[str, str], body: bytes, *, verified: bool = False
    ) -> WebhookDelivery:
        """Authenticate a webhook delivery for repository ``name`` and trigger a sync for a push
        to its branch (a delivery id seen within the replay window is answered ``duplicate``
        and syncs nothing). Raises ``InvalidRequest`` (a malformed delivery) or
        ``AuthenticationError`` (a bad signature, an unknown repository, one without a
        ``webhook_secret`` or for another provider: all alike, see ``webhook_gate``).
        ``verified``: the caller already checked ``body`` against this gate's signature as it
        streamed in (the HTTP handler), so it is not hashed a second time."""
        gate = self.webhook_gate(provider, name, headers)
        runner = self._runners[name]
        assert isinstance(runner.source, GitSource)  # webhook_gate refused anything else
        repository = runner.source.config
        try:
            if verified:
                delivery = classify(provider, headers, body, branch=repository.branch)
            else:
                delivery = verify_and_parse(provider, headers, body, gate.secret, branch=repository.branch)
        except (AuthenticationError, PermissionDenied):
            self._count_webhook(provider, "unauthorized")
            raise
        except InvalidRequest:
            self._count_webhook(provider, "invalid")
            raise
        if self._deliveries.seen_before(name, replay_id(delivery.provider, headers)):
            self._count_webhook(delivery.provider.value, "duplicate")
            return dataclasses.replace(delivery, kind="duplicate", reason="delivery already received")
        self._count_webhook(delivery.provider.value, delivery.kind)
        if delivery.triggers_sync:
            runner.trigger("webhook", link=self._tracing.current_link())
        return delivery

    # -- status ------------------------------------------------------------------------------

    def sources(self) -> list[str]:
        return list(self._runners)

    def status(self) -> list[SourceStatus]:
        return [runner.snapshot() for runner in self._runners.values()]

    def source_status(self, name: str) -> SourceStatus:
        return self._runner(name).snapshot()

    @property
    def ready(self) -> bool:
        """Every source is served as of its last good sync (see the module docstring)."""
        return all(runner.snapshot().ready for runner in self._runners.values())

    async def wait_ready(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109 - the interface the server uses
        """Wait until ``ready`` (at most ``timeout`` seconds); returns ``ready``."""
        waits = [runner.attempted.wait() for runner in self._runners.values()]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await asyncio.gather(*waits)
        return self.ready

    # -- internals used by the runners -------------------------------------------------------

    @property
    def catalog(self) -> Catalog:
        return self._catalog

    @property
    def metrics(self) -> Metrics | None:
        return self._metrics

    @property
    def tracing(self) -> Tracing:
        return self._tracing

    def backoff_delay(self, failures: int) -> float:
        """Seconds before retry number ``failures`` (1-based): doubling from the initial delay."""
        initial = self._git.backoff.initial.total_seconds()
        cap = self._git.backoff.max.total_seconds()
        return float(min(cap, initial * 2 ** min(max(failures - 1, 0), 62)))

    @property
    def jitter(self) -> float:
        return self._git.jitter

    @property
    def git(self) -> GitConfig:
        return self._git

    async def record(self, event: Event) -> bool:
        """Record ``event`` after any kept earlier; False (kept for later) when storage fails."""
        self.unsent.append(event)
        del self.unsent[:-_MAX_UNSENT]
        return await self.flush_unsent()

    async def flush_unsent(self) -> bool:
        """Record the kept events, oldest first; False when storage still fails."""
        while self.unsent:
            try:
                await asyncio.wait_for(self._catalog.record_event(self.unsent[0]), EVENT_TIMEOUT)
            except (CatalogError, TimeoutError) as exc:
                log.warning(
                    "could not record %s for %s yet (%s); kept for later",
                    self.unsent[0].type.value,
                    self.unsent[0].data.get("repository"),
                    exc,
                )
                return False
            self.unsent.pop(0)
        return True

    def _runner(self, name: str) -> _Runner:
        runner = self._runners.get(name)
        if runner is None:
            known = list(self._runners)
            raise SourceNotFound(f"no sync source named {name!r}", details={"source": name, "known": known})
        return runner

    def _count_rejection(self, findings: Sequence[Finding]) -> None:
        if self._metrics is not None:
            self._metrics.validation_failed(f.rule for f in findings if f.is_error)

    def _count_webhook(self, provider: str, outcome: str) -> None:
        """Count a delivery; a provider that is not one of ours is ``unknown`` (the path segment is
        the caller's: it must not mint a metric series per request)."""
        if self._metrics is not None:
            label = provider.strip().lower()
            self._metrics.webhook_received(label if label in _PROVIDERS else "unknown", outcome)


class _Runner:
    """One source's schedule: its loop, its watcher, its lock and its status."""

    def __init__(self, source: SyncSource, manager: SyncManager, rng: random.Random) -> None:
        self.source = source
        self.status = source.describe()
        self.attempted = asyncio.Event()
        #: An attempt of this process succeeded (applied, found nothing new, or was held).
        self.succeeded = False
        self._manager = manager
        self._rng = rng
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._reason = "start"
        self._tasks: list[asyncio.Task[None]] = []
        #: Spans of the webhooks that asked for the next sync, linked from its span.
        self._links: list[Any] = []

    # -- control -----------------------------------------------------------------------------

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._loop(), name=f"sync:{self.source.name}")]
        if self.source.watches:
            self._tasks.append(asyncio.create_task(self._watch(), name=f"watch:{self.source.name}"))

    def cancel(self) -> list[asyncio.Task[None]]:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        return tasks

    def trigger(self, reason: str, *, link: Any | None = None) -> None:
        self._reason = reason
        if link is not None and len(self._links) < _MAX_LINKS:
            self._links.append(link)
        self._wake.set()

    # -- the loop ----------------------------------------------------------------------------

    async def _loop(self) -> None:
        delay: float | None = 0.0
        while True:
            await self._wait(delay)
            reason, self._reason = self._reason, "schedule"
            self._wake.clear()
            report = await self.run_once(reason)
            delay = self._next_delay(report)
            self.status.next_sync_at = utcnow() + timedelta(seconds=delay) if delay is not None else None

    async def _wait(self, delay: float | None) -> None:
        if delay is not None and delay <= 0:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._wake.wait()
        if not self._wake.is_set():
            self._reason = "retry" if self.status.consecutive_failures else "schedule"

    def _next_delay(self, report: SyncReport) -> float | None:
        if not report.ok:
            return self._manager.backoff_delay(self.status.consecutive_failures)
        interval = self.source.poll_interval
        if interval is None:
            return None
        jitter = self._manager.jitter
        return interval * (1 + self._rng.uniform(-jitter, jitter)) if jitter else interval

    async def _watch(self) -> None:
        """Run the source's watcher; when it fails (the directory vanished), retry with backoff."""
        failures = 0
        while True:
            try:
                await self.source.watch(lambda: self.trigger("watch"))
                return
            except Exception as exc:
                failures += 1
                delay = self._manager.backoff_delay(failures)
                log.warning(
                    "watching %s failed (%s: %s); retrying in %.1fs",
                    self.source.name,
                    type(exc).__name__,
                    exc,
                    delay,
                    extra={"repository": self.source.name},
                )
                await asyncio.sleep(delay)
                self.trigger("watch")

    # -- one attempt -------------------------------------------------------------------------

    async def run_once(self, reason: str) -> SyncReport:
        async with self._lock:
            links, self._links = self._links, []
            attributes = {"nestor.repository": self.source.name, "nestor.sync.reason": reason}
            with self._manager.tracing.span("sync_repository", attributes=attributes, links=links) as span:
                # Background work has no request: each attempt gets its own trace id, so its log
                # lines (and the storage calls under it) can be followed as one.
                with trace_context(otel_trace_id(span)):
                    report = await self._attempt(reason)
                if span is not None:
                    _describe(span, report)
                return report

    def snapshot(self) -> SourceStatus:
        """The status with what the source holds now and its readiness (module docstring)."""
        status = self.status.copy()
        source = self.source
        status.reachable, status.last_fetch, status.held = source.reachable, source.last_fetch, source.held
        readiness = self._manager.git.readiness
        limit = readiness.stale_after.total_seconds()
        age = status.fetch_age_seconds()
        never_fetched = age is None and self.attempted.is_set() and status.state == "failed"
        status.stale = never_fetched or (limit > 0 and age is not None and age > limit)
        if not (source.stored_before or self.succeeded or self.attempted.is_set()):
            status.ready = False
            since = f" (running since {format_time(status.last_attempt)})" if status.last_attempt else ""
            status.waiting_for = f"the first sync of {source.name}{since}: nothing of it was synced before"
        elif status.stale and readiness.unready_when_stale:
            status.ready = False
            error = status.last_error["message"] if status.last_error else None
            if age is None:
                detail = f" (last error: {error})" if error else ""
                status.waiting_for = f"a successful fetch of {source.name}{detail}"
            else:
                status.waiting_for = (
                    f"a fresh fetch of {source.name}: the last successful one was {age:.0f}s ago, "
                    f"more than git.readiness.stale_after ({limit:g}s)"
                )
        else:
            status.ready, status.waiting_for = True, None
        return status

    async def _attempt(self, reason: str) -> SyncReport:
        if self._manager.unsent:  # failures of an earlier term, or while storage was down: first
            await self._manager.flush_unsent()
        status = self.status
        status.state = "syncing"
        status.last_attempt = utcnow()
        started = time.perf_counter()
        try:
            report = await self.source.sync(reason=reason)
        except asyncio.CancelledError:
            self._interrupted(reason, started)
            raise
        except CatalogError as exc:
            report = await self._failed(exc, reason, started)
        except Exception as exc:
            log.exception("sync of %s crashed", self.source.name, extra={"repository": self.source.name})
            error = SyncError(f"{type(exc).__name__}: {exc}", details={"reason": "internal"})
            report = await self._failed(error, reason, started)
        else:
            if report.outcome == "held":
                await self._held(report)
            else:
                self._succeeded(report)
        self.attempted.set()
        return report

    def _succeeded(self, report: SyncReport) -> None:
        status, source = self.status, self.source
        self.succeeded = True
        status.state = "idle"
        status.held = None
        status.last_success = utcnow()
        status.last_error = None
        status.consecutive_failures = 0
        status.last_commit = source.last_commit
        status.files = source.files
        status.findings = source.findings
        status.last_duration_ms = report.duration_ms
        changed = report.outcome == "synced"
        if changed:
            status.counts = report.counts
        self._observe("success" if changed else "unchanged", report.duration_ms)
        metrics = self._manager.metrics
        if metrics is not None:
            metrics.set_sync_held(source.name, False)
            if source.reachable is not None:
                metrics.observe_fetch(source.name, source.reachable)
        log.log(
            logging.INFO if changed else logging.DEBUG,
            "%s %s: %s",
            self.source.kind.value,
            self.source.name,
            report.outcome,
            extra={
                "operation": "sync_repository",
                "repository": self.source.name,
                "commit": report.commit,
                "resources_updated": report.counts.published + report.counts.withdrawn,
                "rejected_files": report.counts.rejected,
                "duration_ms": round(report.duration_ms, 1),
                "reason": report.reason,
            },
        )

    async def _held(self, report: SyncReport) -> None:
        """The withdraw guard held the sync: nothing applied, the catalog keeps serving the last
        good sync; ``sync.held`` once per held commit."""
        status, source = self.status, self.source
        held = dict(report.held or {})
        already = status.held is not None and status.held.get("commit") == held.get("commit")
        self.succeeded = True
        status.state = "held"
        status.held = held
        status.last_error = None
        status.consecutive_failures = 0
        status.last_duration_ms = report.duration_ms
        self._observe("held", report.duration_ms)
        metrics = self._manager.metrics
        if metrics is not None:
            metrics.set_sync_held(source.name, True)
            if source.reachable is not None:
                metrics.observe_fetch(source.name, source.reachable)
        if already:
            return
        log.warning(
            "sync of %s held: %s; nothing was withdrawn. Confirm with POST /api/v1/sync/%s "
            '{"confirm_withdrawals": true}',
            source.name,
            held.get("message"),
            source.name,
            extra={
                "operation": "sync_repository",
                "repository": source.name,
                "commit": held.get("commit"),
                "withdrawals": held.get("withdrawals"),
                "live": held.get("live"),
                "reason": held.get("reason"),
            },
        )
        data = {"repository": source.name, "kind": source.kind.value, **held}
        await self._manager.record(Event(type=EventType.SYNC_HELD, time=utcnow(), data=data))

    def _failure(self, error: CatalogError, stage: str) -> dict[str, Any]:
        status = self.status
        status.state = "failed"
        status.consecutive_failures += 1
        status.last_error = {
            "code": error.code,
            "message": error.message,
            "reason": error.details.get("reason", "failed"),
            "stage": stage,
            "at": format_time(utcnow()),
        }
        metrics = self._manager.metrics
        if metrics is not None:
            metrics.sync_failed(self.source.name, stage, str(status.last_error["reason"]))
            if stage == "fetch" and self.source.reachable is False:
                metrics.observe_fetch(self.source.name, False)
        return status.last_error

    def _interrupted(self, reason: str, started: float) -> None:
        """``stop()`` cut the attempt short: a failure the next term's first sync redoes. Its
        event is kept for the manager's owner to record (nothing may be awaited here)."""
        stage = self.source.stage
        error = SyncError(
            f"the sync of {self.source.name} was stopped during its {stage} stage (this replica stopped "
            "leading or is shutting down); nothing of it was saved, the next sync redoes it",
            details={"reason": "interrupted"},
        )
        last_error = self._failure(error, "interrupted")
        self._observe("failure", (time.perf_counter() - started) * 1000)
        log.warning(
            "sync of %s interrupted during %s",
            self.source.name,
            stage,
            extra={"operation": "sync_repository", "repository": self.source.name, "reason": reason},
        )
        self._manager.unsent.append(self._failed_event(last_error))

    async def _failed(self, error: CatalogError, reason: str, started: float) -> SyncReport:
        status = self.status
        stage = "storage" if isinstance(error, StorageError) else self.source.stage
        last_error = self._failure(error, stage)
        duration_ms = (time.perf_counter() - started) * 1000
        self._observe("failure", duration_ms)
        log.warning(
            "sync of %s failed at %s: %s",
            self.source.name,
            stage,
            error.message,
            extra={
                "operation": "sync_repository",
                "repository": self.source.name,
                "error_code": error.code,
                "reason": last_error["reason"],
                "stage": stage,
                "consecutive_failures": status.consecutive_failures,
            },
        )
        report = SyncReport(
            source=self.source.name,
            kind=self.source.kind,
            outcome="failed",
            started_at=status.last_attempt or utcnow(),
            duration_ms=duration_ms,
            reason=reason,
            commit=self.source.last_commit,
            previous_commit=self.source.last_commit,
            error=dict(last_error),
        )
        await self._manager.record(self._failed_event(last_error))
        return report

    def _failed_event(self, error: dict[str, Any]) -> Event:
        data = {
            "repository": self.source.name,
            "kind": self.source.kind.value,
            "error": error["message"],
            "reason": error["reason"],
            "code": error["code"],
            "stage": error["stage"],
            "at": error["at"],
            "consecutive_failures": self.status.consecutive_failures,
        }
        return Event(type=EventType.SYNC_FAILED, time=utcnow(), data=data)

    def _observe(self, outcome: str, duration_ms: float) -> None:
        metrics = self._manager.metrics
        if metrics is not None:
            metrics.observe_sync(self.source.name, outcome, duration_ms / 1000)


def _describe(span: Any, report: SyncReport) -> None:
    """The attempt's outcome on its span; a failed attempt marks it as an error."""
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("nestor.sync.outcome", report.outcome)
    span.set_attribute("nestor.resources_updated", report.counts.published + report.counts.withdrawn)
    if report.commit:
        span.set_attribute("nestor.commit", report.commit)
    if report.error is not None:
        span.set_status(Status(StatusCode.ERROR, str(report.error.get("message", ""))))
