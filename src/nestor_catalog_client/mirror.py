"""``Mirror``: a full, read-only local copy of a remote catalog with the in-process read API.

A mirror is a ``CatalogReader`` fed by an upstream catalog's event stream instead of a store:
reads (``get``, ``latest``, ``resolve``, ``versions``, ``list``, ``search``, ``facets``) are
dict lookups in memory, and they keep answering while the upstream is down. It is what
``nestor-catalog serve --upstream URL`` (the sidecar) serves, and a consumer can embed it.

How it stays exact:

- **First copy.** Replay the upstream's event log from the start (one streaming request). If
  the upstream no longer retains its first events (``reset``), take its export (every
  version, withdrawn ones included, at one revision ``R``: ``GET /api/v1/export``) and replay
  the events after ``R``; an upstream without the export is listed name by name instead.
  Either way the copy is built aside and installed only once it has caught up with the
  upstream's revision at the time, so no reader ever sees a half-built catalog.
- **Staying current.** Apply each event in sequence order (``Last-Event-ID`` resumes after any
  disconnect, with backoff). The mirror's event sequences are the upstream's, so a client of a
  sidecar can fail over to the central server (or another sidecar) with the same
  ``Last-Event-ID``.
- **Falling behind retention, or a gap.** Re-list as for the first copy and swap the model;
  the mirror's own subscribers behind the swap get a ``StreamReset``.
- **Restarts.** With ``persist=PATH`` every change is written (batched, transactionally) to a
  SQLite snapshot; a restart serves the snapshot at once and resumes the stream from its
  revision, without waiting for the upstream.

Against an upstream without the export endpoint, a name whose every version is withdrawn is
not listed, so a copy built by listing does not know it until one of its events arrives.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from itertools import islice
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

import httpx

from nestor_catalog_client._async_client import AsyncCatalogClient
from nestor_catalog_client._base import API, Token, name_path, version_path
from nestor_catalog_client._snapshot import SnapshotFile
from nestor_catalog_client._subscription import AsyncSubscription, ReconnectPolicy, heartbeat_timeout_for
from nestor_catalog_core import (
    CatalogError,
    CatalogReader,
    Event,
    EventFilter,
    NotFoundError,
    ReadModel,
    ServiceUnavailable,
    StoredVersion,
    StreamReset,
)
from nestor_catalog_core.events import EventHub
from nestor_catalog_core.models import RESOURCE_EVENTS, stored_from_body

__all__ = ["Mirror", "MirrorStatus"]

log = logging.getLogger("nestor_catalog.mirror")

_PAGE_SIZE: Final = "1000"
#: Waits between sessions with the upstream: short, since a reconnection costs one status call
#: and the mirror's lag after an outage is at most the last wait.
DEFAULT_RECONNECT: Final = ReconnectPolicy(initial_delay=0.25, max_delay=5.0)


@dataclass(frozen=True, slots=True)
class MirrorStatus:
    """How current a mirror is, for ``/api/v1/status`` (``upstream``) and ``/ready``.

    ``lag_events`` is how many upstream events the mirror has not applied (as far as it knows:
    during an outage, as of the last contact). ``lag_seconds`` is 0 while connected and caught
    up, otherwise the time since it last was. ``last_contact_seconds`` is the time since the
    last byte (event or heartbeat) from the upstream.
    """

    url: str
    ready: bool
    connected: bool
    revision: int
    upstream_revision: int | None
    lag_events: int | None
    lag_seconds: float | None
    last_contact_seconds: float | None
    last_error: str | None
    full_syncs: int
    sessions: int
    persisted_revision: int | None = None
    snapshot: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "ready": self.ready,
            "connected": self.connected,
            "revision": self.revision,
            "upstream_revision": self.upstream_revision,
            "lag_events": self.lag_events,
            "lag_seconds": None if self.lag_seconds is None else round(self.lag_seconds, 3),
            "last_contact_seconds": None if self.last_contact_seconds is None else round(self.last_contact_seconds, 3),
            "last_error": self.last_error,
            "full_syncs": self.full_syncs,
            "sessions": self.sessions,
            "persisted_revision": self.persisted_revision,
            "snapshot": self.snapshot,
        }


@dataclass
class _Pending:
    """A model being built aside (first copy, re-list) until it reaches ``target``."""

    model: ReadModel
    target: int
    events: deque[Event] = field(default_factory=deque)


class Mirror(CatalogReader):
    """A read-only copy of the catalog at ``upstream`` (a URL or an ``AsyncCatalogClient``).

    ``async with Mirror(url) as mirror`` starts it and waits for a usable copy (the snapshot,
    or the first full sync; bound the wait with ``asyncio.timeout``). ``persist`` is a SQLite
    file for the snapshot. ``event_log_size`` events are kept for the mirror's own
    subscribers to resume from. ``heartbeat_timeout`` defaults to 2.5 times the upstream's
    heartbeat interval. ``concurrency`` bounds parallel requests while listing. ``verify`` is
    the TLS context for an https upstream (with a client certificate loaded for mTLS).
    """

    def __init__(
        self,
        upstream: str | AsyncCatalogClient,
        *,
        token: Token | None = None,
        persist: str | Path | None = None,
        event_log_size: int = 10_000,
        heartbeat_timeout: float | None = None,
        reconnect: ReconnectPolicy | None = None,
        concurrency: int = 8,
        flush_interval: float = 0.2,
        transport: httpx.AsyncBaseTransport | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        super().__init__(event_buffer=event_log_size)
        if isinstance(upstream, AsyncCatalogClient):
            self._client, self._owns_client = upstream, False
        else:
            self._client = AsyncCatalogClient(upstream, token=token, cache=False, transport=transport, verify=verify)
            self._owns_client = True
        self.url = self._client.base_url.rstrip("/")
        self._event_buffer = event_log_size
        self._log: deque[Event] = deque(maxlen=event_log_size)
        self._heartbeat_timeout = heartbeat_timeout
        self._reconnect = reconnect or DEFAULT_RECONNECT
        self._concurrency = max(1, concurrency)
        self._snapshot = SnapshotFile(persist) if persist is not None else None
        self._flush_interval = flush_interval
        self._pending: _Pending | None = None
        self._has_model = False
        self._subscription: AsyncSubscription | None = None
        self._task: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._closing = False
        self._changed = asyncio.Event()
        self._upstream_head: int | None = None
        self._in_sync_at: float | None = None
        self._last_contact: float | None = None
        self._last_error: str | None = None
        self._full_syncs = 0
        self._sessions = 0
        self._persisted_revision: int | None = None
        self._dirty_versions: dict[tuple[str, str], StoredVersion] = {}
        self._dirty_events: list[Event] = []
        self._rewrite_snapshot = False
        self._flush_wanted = asyncio.Event()

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self, *, wait: bool = True) -> None:
        """Load the snapshot (if any), start following the upstream and, with ``wait``, wait
        until the mirror has a copy to serve. Bound the wait with ``asyncio.timeout``; the
        mirror keeps trying until ``close()`` (``status().last_error`` says what fails)."""
        if self._task is not None:
            return
        if self._snapshot is not None:
            await self._load_snapshot(self._snapshot)
            self._flusher = asyncio.create_task(self._flush_forever(), name="nestor-mirror-flush")
        self._task = asyncio.create_task(self._follow_forever(), name="nestor-mirror-follow")
        if wait:
            await self.wait_ready()

    async def close(self) -> None:
        """Stop following, write the last changes to the snapshot, end subscribers' streams."""
        self._closing = True
        for task in (self._task, self._flusher):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._task = self._flusher = None
        if self._snapshot is not None:
            try:
                await self._flush()
            finally:
                self._snapshot.close()
        self._hub.close()
        self._notify()
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def ready(self) -> bool:
        """True once the mirror has a complete copy to serve (from the snapshot or a full sync)."""
        return self._has_model

    @property
    def client(self) -> AsyncCatalogClient:
        return self._client

    async def wait_ready(self) -> None:
        """Wait until the mirror has a copy to serve (bound it with ``asyncio.timeout``)."""
        await self._wait(lambda: self._has_model)

    async def wait_for(self, revision: int) -> None:
        """Wait until the mirror has applied the upstream's event ``revision`` (read your writes:
        pass the ``status.sequence`` of a resource you just published upstream)."""
        await self._wait(lambda: self._has_model and self.revision >= revision)

    async def _wait(self, done: Callable[[], bool]) -> None:
        while True:
            changed = self._changed
            if done():
                return
            if self._closing:
                raise ServiceUnavailable(
                    f"the mirror of {self.url} is closed", details={"upstream": self.url, "revision": self.revision}
                )
            await changed.wait()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # -- status ----------------------------------------------------------------------------

    def status(self) -> MirrorStatus:
        now = time.monotonic()
        subscription = self._subscription
        connected = subscription is not None and subscription.connected
        head = self._upstream_head
        lag_events = None if head is None else max(0, head - self.revision)
        caught_up = self._has_model and lag_events == 0
        contact = subscription.state.last_activity if subscription is not None else self._last_contact
        if connected and caught_up:
            lag_seconds: float | None = 0.0
        else:
            last_in_sync = self._in_sync_at
            if caught_up and contact is not None:
                last_in_sync = max(last_in_sync or 0.0, contact)
            lag_seconds = None if last_in_sync is None else now - last_in_sync
        return MirrorStatus(
            url=self.url,
            ready=self._has_model,
            connected=connected,
            revision=self.revision,
            upstream_revision=head,
            lag_events=lag_events,
            lag_seconds=lag_seconds,
            last_contact_seconds=None if contact is None else now - contact,
            last_error=self._last_error,
            full_syncs=self._full_syncs,
            sessions=self._sessions,
            persisted_revision=self._persisted_revision,
            snapshot=str(self._snapshot.path) if self._snapshot is not None else None,
        )

    # -- the read model's event source -------------------------------------------------------

    async def read_events(self, after: int, limit: int) -> list[Event]:
        """Applied events with ``sequence > after`` from the local log (the newest
        ``event_log_size``); a position older than the log gets events after a gap, which the
        hub turns into a ``StreamReset``."""
        events = self._log
        if not events or after >= events[-1].sequence:
            return []
        start = max(0, after + 1 - events[0].sequence)
        return list(islice(events, start, start + limit))

    async def first_sequence(self) -> int:
        return self._log[0].sequence if self._log else self.revision + 1

    def replace_model(self, model: ReadModel) -> None:
        """Install a rebuilt model with a fresh hub: live subscribers' streams move over to it
        and get a ``StreamReset`` when they were behind (see ``subscribe``)."""
        self._model = model
        previous, self._hub = self._hub, EventHub(capacity=self._event_buffer, head=model.revision)
        previous.close()

    def subscribe(
        self,
        event_filter: EventFilter | None = None,
        *,
        since: int | None = None,
        **criteria: Any,
    ) -> AsyncIterator[Event | StreamReset]:
        """As ``CatalogReader.subscribe``; the stream survives model swaps (re-lists) and yields
        a ``StreamReset`` when events before a swap can no longer be replayed."""
        if event_filter is None:
            event_filter = EventFilter.of(**criteria)
        return self._stream_across_hubs(event_filter, since)

    async def _stream_across_hubs(
        self, event_filter: EventFilter, since: int | None
    ) -> AsyncIterator[Event | StreamReset]:
        position = self._hub.head if since is None else since
        while True:
            hub = self._hub
            async for item in hub.stream(
                since=position,
                event_filter=event_filter,
                read_events=self.read_events,
                first_sequence=self.first_sequence,
            ):
                position = item.sequence
                yield item
            if hub is self._hub or self._closing:
                return

    def _apply(self, event: Event) -> None:
        super()._apply(event)
        self._record(event)

    def _record(self, event: Event) -> None:
        if self._log and event.sequence != self._log[-1].sequence + 1:
            self._log.clear()
        self._log.append(event)
        if self._snapshot is not None:
            self._dirty_events.append(event)
            if event.type in RESOURCE_EVENTS and event.name and event.version:
                entry = self._model.versions.get((event.name, event.version))
                if entry is not None:
                    self._dirty_versions[entry.stored.key] = entry.stored
            self._flush_wanted.set()

    # -- following the upstream -------------------------------------------------------------

    async def _follow_forever(self) -> None:
        failures = 0
        while not self._closing:
            progressed = False
            try:
                progressed = await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a supervisor: any failure is logged and retried with backoff
                self._last_error = _describe(exc)
                if isinstance(exc, CatalogError):
                    log.warning("mirror of %s: %s", self.url, self._last_error)
                else:
                    log.exception("mirror of %s failed unexpectedly", self.url)
            failures = 0 if progressed else failures + 1
            self._notify()
            if not self._closing:
                await asyncio.sleep(self._reconnect.delay(max(0, failures - 1), None, random.random()))

    async def _session(self) -> bool:
        """One connection to the upstream; returns whether anything was received."""
        self._sessions += 1
        status = await self._client.status()
        head = int(status.get("revision", 0))
        self._upstream_head = head
        self._plan_full_copy(head)
        if self._pending is not None and self._pending.model.revision >= self._pending.target:
            self._install()
        since = self._pending.model.revision if self._pending is not None else self.revision
        if self._pending is None and head == self.revision:
            self._in_sync_at = time.monotonic()
        timeout = self._heartbeat_timeout or heartbeat_timeout_for(status)
        subscription = self._client.subscribe(
            since=since, heartbeat_timeout=timeout, reconnect=ReconnectPolicy(max_attempts=0)
        )
        self._subscription = subscription
        progressed = False
        try:
            async with subscription:
                async for item in subscription:
                    progressed = True
                    self._last_error = None
                    if isinstance(item, StreamReset) or not self._accept(item):
                        await self._relist(item)
                        return True
        finally:
            self._end_session(subscription)
        return progressed

    def _plan_full_copy(self, head: int) -> None:
        if self._pending is not None:
            return
        if not self._has_model:
            self._pending = _Pending(ReadModel(), target=head, events=deque(maxlen=self._event_buffer))
        elif head < self.revision:
            log.warning(
                "mirror of %s: the upstream's revision %d is behind the mirror's %d (a restored or different "
                "catalog); copying it again",
                self.url,
                head,
                self.revision,
            )
            self._pending = _Pending(ReadModel(), target=head, events=deque(maxlen=self._event_buffer))

    def _end_session(self, subscription: AsyncSubscription) -> None:
        state = subscription.state
        self._subscription = None
        self._last_contact = state.last_activity
        if state.last_error is not None and self._last_error is None:
            self._last_error = state.last_error.message
        caught_up = self._has_model and self._pending is None and (self._upstream_head or 0) <= self.revision
        if caught_up and state.last_activity is not None:
            self._in_sync_at = max(self._in_sync_at or 0.0, state.last_activity)

    def _accept(self, event: Event) -> bool:
        """Apply one upstream event; False when events are missing before it."""
        self._upstream_head = max(self._upstream_head or 0, event.sequence)
        pending = self._pending
        if pending is not None:
            return self._accept_pending(pending, event)
        if event.sequence <= self.revision:
            return True
        if not self.apply_event(_with_attributes(event, self._model)):
            log.warning("mirror of %s: event %d arrived after %d; re-listing", self.url, event.sequence, self.revision)
            return False
        if self.revision >= self._upstream_head:
            self._in_sync_at = time.monotonic()
        self._notify()
        return True

    def _accept_pending(self, pending: _Pending, event: Event) -> bool:
        model = pending.model
        if event.sequence <= model.revision:
            return True
        if event.sequence != model.revision + 1:
            return False
        event = _with_attributes(event, model)
        _apply_to(model, event)
        pending.events.append(event)
        if model.revision >= pending.target:
            self._install()
        return True

    def _install(self) -> None:
        pending = self._pending
        assert pending is not None
        self._pending = None
        self.replace_model(pending.model)
        self._log.clear()
        self._log.extend(pending.events)
        self._has_model = True
        self._full_syncs += 1
        self._in_sync_at = time.monotonic()
        if self._snapshot is not None:
            self._rewrite_snapshot = True
            self._dirty_versions.clear()
            self._dirty_events.clear()
            self._flush_wanted.set()
        log.info("mirror of %s: full copy installed at revision %d", self.url, self.revision)
        self._notify()

    async def _relist(self, cause: Event | StreamReset) -> None:
        if isinstance(cause, StreamReset):
            reason = f"position {cause.requested} is older than the upstream's retention"
        else:
            reason = f"event {cause.sequence} does not follow the events applied so far"
        log.warning("mirror of %s: %s; listing everything again", self.url, reason)
        self._pending = await self._list_everything()

    async def _list_everything(self) -> _Pending:
        """Every version of the upstream, from its export (one request, withdrawn versions
        included, all at one revision), or by listing on an upstream without the export."""
        client = self._client
        try:
            revision, bodies = await client.export()
        except NotFoundError:
            return await self._list_by_name()
        model = ReadModel()
        model.load(stored_from_body(body) for body in bodies)
        model.revision = revision
        self._upstream_head = max(self._upstream_head or 0, revision)
        return _Pending(model, target=revision, events=deque(maxlen=self._event_buffer))

    async def _list_by_name(self) -> _Pending:
        """Every version the upstream lists, at the revision of the first page; replaying the
        events after that revision makes it exact. Names whose versions are all withdrawn are
        not listed, so they arrive only with their next event."""
        client = self._client
        bodies: list[dict[str, Any]] = []
        revision: int | None = None
        cursor: str | None = None
        while True:
            params: tuple[tuple[str, str], ...] = (("limit", _PAGE_SIZE),)
            if cursor:
                params += (("cursor", cursor),)
            page = await client.get_json(f"{API}/resources", params)
            if revision is None:
                revision = int(page.get("revision", 0))
            bodies.extend(page.get("items") or [])
            cursor = page.get("next_cursor")
            if not cursor:
                break
        limiter = asyncio.Semaphore(self._concurrency)
        groups = await asyncio.gather(*(self._all_versions(body, limiter) for body in bodies))
        model = ReadModel()
        model.load(stored for group in groups for stored in group)
        model.revision = revision or 0
        after = await client.status()
        target = max(model.revision, int(after.get("revision", 0)))
        self._upstream_head = max(self._upstream_head or 0, target)
        return _Pending(model, target=target, events=deque(maxlen=self._event_buffer))

    async def _all_versions(self, latest: dict[str, Any], limiter: asyncio.Semaphore) -> list[StoredVersion]:
        client = self._client
        name = latest["metadata"]["name"]
        out = [stored_from_body(latest)]
        async with limiter:
            listing = await client.get_json(f"{name_path(name)}/versions")
        for info in listing.get("versions") or []:
            version = info.get("version")
            if version == latest["metadata"]["version"] or not isinstance(version, str):
                continue
            async with limiter:
                body = await client.get_json(version_path(name, version))
            out.append(stored_from_body(body))
        return out

    # -- persistence -----------------------------------------------------------------------

    async def _load_snapshot(self, snapshot: SnapshotFile) -> None:
        try:
            loaded = await asyncio.to_thread(snapshot.load)
        except CatalogError as exc:
            self._last_error = exc.message
            log.warning("mirror snapshot unusable, starting from the upstream: %s", exc.message)
            return
        if loaded is None:
            return
        if loaded.upstream != self.url:
            log.warning(
                "mirror snapshot %s belongs to %s, not %s: ignoring it", snapshot.path, loaded.upstream, self.url
            )
            return
        model = ReadModel()
        model.load(loaded.versions)
        model.revision = loaded.revision
        self.replace_model(model)
        self._log.extend(loaded.events)
        self._has_model = True
        self._persisted_revision = loaded.revision
        log.info("mirror of %s: serving the snapshot at revision %d", self.url, loaded.revision)
        self._notify()

    async def _flush_forever(self) -> None:
        while True:
            await self._flush_wanted.wait()
            await asyncio.sleep(self._flush_interval)
            self._flush_wanted.clear()
            try:
                await self._flush()
            except CatalogError as exc:
                self._last_error = exc.message
                log.warning("mirror snapshot write failed (retrying): %s", exc.message)
                self._rewrite_snapshot = True
                self._flush_wanted.set()
                await asyncio.sleep(max(1.0, self._flush_interval))

    async def _flush(self) -> None:
        snapshot = self._snapshot
        if snapshot is None or not self._has_model:
            return
        revision = self.revision
        if self._rewrite_snapshot:
            self._rewrite_snapshot = False
            self._dirty_versions.clear()
            self._dirty_events.clear()
            versions = [entry.stored for entry in self._model.versions.values()]
            events = list(self._log)
            try:
                await asyncio.to_thread(snapshot.replace, self.url, revision, versions, events)
            except BaseException:
                self._rewrite_snapshot = True
                raise
        elif self._dirty_events or revision != self._persisted_revision:
            changed = list(self._dirty_versions.values())
            events = self._dirty_events
            self._dirty_versions, self._dirty_events = {}, []
            try:
                await asyncio.to_thread(
                    snapshot.update, self.url, revision, changed, events, keep_events=self._event_buffer
                )
            except BaseException:
                self._rewrite_snapshot = True
                raise
        else:
            return
        self._persisted_revision = revision


def _apply_to(model: ReadModel, event: Event) -> None:
    """``CatalogReader._apply`` for a model that is not installed yet."""
    if event.type in RESOURCE_EVENTS and "status" in event.data:
        stored = stored_from_body(event.data)
        if not stored.sequence:
            stored = stored.with_changes(sequence=event.sequence)
        model.upsert(stored)
    model.revision = event.sequence


def _with_attributes(event: Event, model: ReadModel) -> Event:
    """Give a non-resource event about a name (``validation.failed``) the provider, category
    and resource type of the name's latest version, as the upstream's own hub has them, so
    the mirror's subscribers can filter on them."""
    if event.name is None or event.provider is not None or event.type in RESOURCE_EVENTS:
        return event
    state = model.names.get(event.name)
    latest = state.latest if state is not None else None
    if latest is None:
        return event
    stored = latest.stored
    return replace(event, provider=stored.provider, category=stored.category, resource_type=stored.resource_type)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, CatalogError):
        return f"{exc.code}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"
