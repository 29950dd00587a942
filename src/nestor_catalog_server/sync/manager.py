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
(outcome ``success``, ``unchanged`` or ``failure``) and, when the attempt itself failed, emits
``sync.failed`` (data: repository, error, reason, code, consecutive_failures). What a
successful sync publishes and emits is described in ``sync.source``.

Webhooks are hints: ``handle_webhook`` authenticates the delivery with the repository's secret,
and a push to its branch triggers a sync; the fetched commit is the truth, whatever the payload
says. Leader election (one replica syncing) is the caller's: run ``start()`` only while holding
the sync lease.
"""

from __future__ import annotations

import asyncio
import contextlib
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
    SyncError,
)
from nestor_catalog_core.models.records import utcnow
from nestor_catalog_server.config import GitConfig
from nestor_catalog_server.observability.metrics import Metrics
from nestor_catalog_server.observability.otel import Tracing
from nestor_catalog_server.observability.otel import trace_id_of as otel_trace_id
from nestor_catalog_server.observability.tracing import trace_context
from nestor_catalog_server.sync._apply import ChangeApplier
from nestor_catalog_server.sync.local import LocalSource
from nestor_catalog_server.sync.source import GitSource, SyncSource
from nestor_catalog_server.sync.status import SourceStatus, SyncReport
from nestor_catalog_server.sync.webhooks import WebhookDelivery, verify_and_parse

__all__ = ["DEFAULT_STOP_TIMEOUT", "SyncManager"]

log = logging.getLogger("nestor_catalog.sync")

#: How long ``stop()`` waits for cancelled syncs to unwind before giving up on them.
DEFAULT_STOP_TIMEOUT: Final = 10.0
#: Webhook spans one sync links to at most (a burst of pushes coalesces into one sync).
_MAX_LINKS: Final = 32


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
        options = load_options or catalog.settings.load_options
        applier = ChangeApplier(catalog, on_rejected=self._count_rejection, tracing=self._tracing)
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

    def trigger(self, name: str, *, reason: str = "manual", link: Any | None = None) -> None:
        """Ask for a sync of ``name`` as soon as possible; triggers during a sync coalesce into
        one follow-up. Without ``start()`` nothing runs until ``start()``. ``link`` (an
        OpenTelemetry link, e.g. to a forwarded webhook's span) is added to that sync's span."""
        self._runner(name).trigger(reason, link=link)

    async def handle_webhook(
        self, provider: str, name: str, headers: Mapping[str, str], body: bytes
    ) -> WebhookDelivery:
        """Authenticate a webhook delivery for repository ``name`` and trigger a sync for a push
        to its branch. Raises ``SourceNotFound`` (no such git repository), ``InvalidRequest``
        (another provider than the configured ``webhook_provider``, a malformed delivery),
        ``PermissionDenied`` (no ``webhook_secret``) or ``AuthenticationError`` (bad signature)."""
        runner = self._runners.get(name)
        if runner is None or not isinstance(runner.source, GitSource):
            raise SourceNotFound(f"no git repository named {name!r}", details={"repository": name})
        repository = runner.source.config
        if repository.webhook_provider is not None and provider.strip().lower() != repository.webhook_provider:
            self._count_webhook(provider, "invalid")
            raise InvalidRequest(
                f"repository {name!r} takes webhooks from {repository.webhook_provider}, not {provider!r}",
                details={"repository": name, "provider": provider, "expected": repository.webhook_provider},
            )
        secret = repository.webhook_secret.get_secret_value() if repository.webhook_secret is not None else None
        try:
            delivery = verify_and_parse(provider, headers, body, secret, branch=repository.branch)
        except (AuthenticationError, PermissionDenied):
            self._count_webhook(provider, "unauthorized")
            raise
        except InvalidRequest:
            self._count_webhook(provider, "invalid")
            raise
        self._count_webhook(delivery.provider.value, delivery.kind)
        if delivery.triggers_sync:
            runner.trigger("webhook", link=self._tracing.current_link())
        return delivery

    # -- status ------------------------------------------------------------------------------

    def sources(self) -> list[str]:
        return list(self._runners)

    def status(self) -> list[SourceStatus]:
        return [runner.status.copy() for runner in self._runners.values()]

    def source_status(self, name: str) -> SourceStatus:
        return self._runner(name).status.copy()

    @property
    def ready(self) -> bool:
        """Every source has finished its first sync attempt (success or failure)."""
        return all(runner.attempted.is_set() for runner in self._runners.values())

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
        if self._metrics is not None:
            self._metrics.webhook_received(provider.strip().lower() or "unknown", outcome)


class _Runner:
    """One source's schedule: its loop, its watcher, its lock and its status."""

    def __init__(self, source: SyncSource, manager: SyncManager, rng: random.Random) -> None:
        self.source = source
        self.status = source.describe()
        self.attempted = asyncio.Event()
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

    async def _attempt(self, reason: str) -> SyncReport:
        status = self.status
        status.state = "syncing"
        status.last_attempt = utcnow()
        started = time.perf_counter()
        try:
            report = await self.source.sync(reason=reason)
        except asyncio.CancelledError:
            status.state = "failed" if status.consecutive_failures else "idle"
            raise
        except CatalogError as exc:
            report = await self._failed(exc, reason, started)
        except Exception as exc:
            log.exception("sync of %s crashed", self.source.name, extra={"repository": self.source.name})
            error = SyncError(f"{type(exc).__name__}: {exc}", details={"reason": "internal"})
            report = await self._failed(error, reason, started)
        else:
            self._succeeded(report)
        self.attempted.set()
        return report

    def _succeeded(self, report: SyncReport) -> None:
        status, source = self.status, self.source
        status.state = "idle"
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

    async def _failed(self, error: CatalogError, reason: str, started: float) -> SyncReport:
        status = self.status
        status.state = "failed"
        status.consecutive_failures += 1
        status.last_error = {
            "code": error.code,
            "message": error.message,
            "reason": error.details.get("reason", "failed"),
        }
        duration_ms = (time.perf_counter() - started) * 1000
        self._observe("failure", duration_ms)
        log.warning(
            "sync of %s failed: %s",
            self.source.name,
            error.message,
            extra={
                "operation": "sync_repository",
                "repository": self.source.name,
                "error_code": error.code,
                "reason": status.last_error["reason"],
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
            error=dict(status.last_error),
        )
        await self._emit_failed(status.last_error)
        return report

    async def _emit_failed(self, error: dict[str, Any]) -> None:
        data = {
            "repository": self.source.name,
            "kind": self.source.kind.value,
            "error": error["message"],
            "reason": error["reason"],
            "code": error["code"],
            "consecutive_failures": self.status.consecutive_failures,
        }
        try:
            await self._manager.catalog.record_event(Event(type=EventType.SYNC_FAILED, time=utcnow(), data=data))
        except Exception as exc:
            log.warning("could not record sync.failed for %s: %s: %s", self.source.name, type(exc).__name__, exc)

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
