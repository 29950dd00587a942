"""Git sync across replicas: ``ClusterSync`` runs a ``SyncManager`` only while this replica leads,
and sends the triggers a follower receives to the leader.

``ClusterSync`` is what ``AppState.sync`` holds on a catalog the app opened itself. Its
``LeaderElector`` calls ``lead()`` when this replica wins the sync lease (a fresh
``SyncManager`` is built and started: every term reads the sync state from storage, never a
copy an earlier term left in memory) and ``follow()`` when it loses it (the manager is stopped
before the elector goes on). Meanwhile:

- **leader**: everything goes to the running manager, exactly as on a lone server;
- **follower**: a standby manager that is never started names the sources and authenticates
  webhooks (same secrets, same checks, same metrics); a push that should sync, and a manual
  ``POST /api/v1/sync/{repo}``, become a ``Trigger`` sent to the leader. The answer is still
  202 at once: a trigger is a hint (the leader fetches the branch and trusts what it fetched),
  and one lost while no replica leads costs nothing, since every new term starts with a sync.

A trigger travels on the Redis channel ``<key_prefix>:sync-triggers``, to which only the
leader subscribes; when nobody received it (no Redis, Redis down, the leader's subscription
down) it goes by HTTP to ``POST <leader advertise_url>/internal/v1/sync/{repo}``, its JSON body
signed like a generic webhook (``X-Signature: sha256=<hex HMAC-SHA256>``) with
``leadership.cluster_secret``.

``ready`` is the running manager's on the leader (``SyncManager``: each source served as of its
last good sync). A follower serves what storage holds: it is ready once storage holds a synced
state of every source, and until then waits for the leader's first sync of it. A follower's
``status()`` shows each source's last commit as the leader stored it (refreshed on every lease
attempt), over what this replica saw while it last led (state, last error, fetches), so a
replica that lost the lease in the middle of a sync still says so. A trigger that reached no
leader (no replica holds the lease: storage is down, say) is *postponed*: the source shows
``state: failed`` with reason ``no_leader`` (stage ``lease``) and a ``sync.failed`` event is
recorded as soon as storage takes it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final

import httpx

from nestor_catalog_core import Catalog, CatalogError, Event, EventType, SourceKind, SourceNotFound, SyncState
from nestor_catalog_core.models import format_time, utcnow
from nestor_catalog_server.scaleout._redis_link import RedisLink
from nestor_catalog_server.scaleout._tasks import raise_if_cancelling, stop_tasks
from nestor_catalog_server.scaleout.leadership import LeaderInfo
from nestor_catalog_server.sync import SourceStatus, SyncManager, WebhookDelivery, WebhookGate, sign_payload

__all__ = [
    "FORWARD_TIMEOUT",
    "INTERNAL_SYNC_PATH",
    "SIGNATURE_HEADER",
    "ClusterSync",
    "Trigger",
    "TriggerForwarder",
]

log = logging.getLogger("nestor_catalog_server.scaleout.sync")

#: The internal route a follower POSTs triggers to when Redis cannot carry them.
INTERNAL_SYNC_PATH: Final = "/internal/v1/sync"
#: The header carrying the body's HMAC (the generic webhook provider's header).
SIGNATURE_HEADER: Final = "X-Signature"
#: Seconds a forwarded trigger may take over HTTP.
FORWARD_TIMEOUT: Final = 5.0
_RESUBSCRIBE_DELAYS: Final = (0.1, 0.5, 1.0, 2.0)


@dataclass(frozen=True, slots=True)
class Trigger:
    """A request to sync ``repository`` now, from replica ``origin``."""

    repository: str
    reason: str
    origin: str
    delivery: str | None = None
    #: The W3C ``traceparent`` of the webhook that asked for it (tracing on), linked from the sync.
    traceparent: str | None = None
    #: Let the sync the withdraw guard holds through (``POST /api/v1/sync/{repo}`` confirming).
    confirm_withdrawals: bool = False

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> Trigger:
        """Raises ``ValueError`` for anything but a trigger object."""
        value = json.loads(data)
        if not isinstance(value, dict) or not isinstance(value.get("repository"), str):
            raise ValueError("not a trigger object")
        delivery = value.get("delivery")
        traceparent = value.get("traceparent")
        return cls(
            repository=value["repository"],
            reason=str(value.get("reason") or "forwarded"),
            origin=str(value.get("origin") or "unknown"),
            delivery=delivery if isinstance(delivery, str) else None,
            traceparent=traceparent if isinstance(traceparent, str) else None,
            confirm_withdrawals=value.get("confirm_withdrawals") is True,
        )


class TriggerForwarder:
    """Sends a ``Trigger`` to the leader: on the Redis channel, else by signed HTTP POST."""

    def __init__(
        self,
        *,
        link: RedisLink | None,
        leader: Callable[[], LeaderInfo],
        secret: str | None,
        timeout: float = FORWARD_TIMEOUT,
    ) -> None:
        self.link = link
        self.channel = link.key("sync-triggers") if link is not None else None
        self._leader = leader
        self._secret = secret
        self._http = httpx.AsyncClient(timeout=timeout, follow_redirects=False)
        self.counts = {"redis": 0, "http": 0, "failed": 0}

    async def forward(self, trigger: Trigger) -> str | None:
        """``"redis"`` or ``"http"`` (how the leader got it), or None when nothing could reach
        a leader (logged; the next poll or the next term's first sync catches up)."""
        via = "redis" if await self._publish(trigger) else None
        if via is None and await self._post(trigger):
            via = "http"
        self.counts[via or "failed"] += 1
        if via is None:
            log.warning(
                "a sync trigger for %s reached no leader; the leader's next poll will pick the change up",
                trigger.repository,
                extra={"operation": "forward_trigger", "repository": trigger.repository, "reason": trigger.reason},
            )
        return via

    async def _publish(self, trigger: Trigger) -> bool:
        link, channel = self.link, self.channel
        if link is None or channel is None:
            return False
        receivers = await link.call("publish", lambda redis: redis.publish(channel, trigger.to_json()), 0)
        return bool(receivers)

    async def _post(self, trigger: Trigger) -> bool:
        url = self._leader().url
        if url is None or self._secret is None:
            return False
        body = trigger.to_json()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign_payload(self._secret, body)}
        try:
            target = f"{url}{INTERNAL_SYNC_PATH}/{trigger.repository}"
            response = await self._http.post(target, content=body, headers=headers)
        except httpx.HTTPError as exc:
            log.warning("forwarding a sync trigger to %s failed: %s", url, exc, extra={"operation": "forward_trigger"})
            return False
        if response.status_code != 202:
            log.warning(
                "the leader at %s refused a forwarded sync trigger: %s %s",
                url,
                response.status_code,
                response.text[:200],
                extra={"operation": "forward_trigger"},
            )
            return False
        return True

    def leader_description(self) -> str:
        """Who leads, for a status line: ``leader <id> at <url>`` or that nobody does."""
        info = self._leader()
        if info.holder is None:
            return "no replica holds the sync lease yet"
        return f"leader {info.replica_id} at {info.url}" if info.url else f"leader {info.replica_id}"

    async def aclose(self) -> None:
        await self._http.aclose()


ManagerFactory = Callable[[], SyncManager]


class ClusterSync:
    """``AppState.sync`` in a cluster (see the module docstring). ``new_manager`` builds a
    ``SyncManager`` the way the app does; ``forwarder`` reaches the leader."""

    def __init__(
        self,
        catalog: Catalog,
        new_manager: ManagerFactory,
        forwarder: TriggerForwarder,
        *,
        replica_id: str,
    ) -> None:
        self._catalog = catalog
        self._new_manager = new_manager
        self._forwarder = forwarder
        self._replica_id = replica_id
        self._standby = new_manager()
        self._active: SyncManager | None = None
        #: Each source's stored sync state as last read (None: storage holds none).
        self._stored: dict[str, SyncState | None] = {}
        #: Each source's status when this replica last stopped leading.
        self._last_term: dict[str, SourceStatus] = {}
        #: Sources whose trigger reached no leader: the failure shown until a leader syncs.
        self._postponed: dict[str, dict[str, Any]] = {}
        #: Sync events not recorded yet (storage down), from the last term and postponements.
        self._unsent: list[Event] = []
        self._listener: asyncio.Task[None] | None = None
        self._forwarding: set[asyncio.Task[str | None]] = set()

    @property
    def leading(self) -> bool:
        return self._active is not None

    @property
    def forwarded(self) -> dict[str, int]:
        """Triggers sent to the leader by way (``redis``, ``http``) or lost (``failed``); live."""
        return self._forwarder.counts

    # -- terms (called by the LeaderElector) -------------------------------------------------

    async def lead(self) -> None:
        manager = self._new_manager()
        manager.unsent[:0], self._unsent = self._unsent, []
        self._postponed.clear()
        await manager.start()
        self._active = manager
        link, channel = self._forwarder.link, self._forwarder.channel
        if link is not None and channel is not None:
            self._listener = asyncio.create_task(self._listen_for_triggers(link, channel), name="sync-triggers")

    async def follow(self) -> None:
        manager, self._active = self._active, None
        listener, self._listener = self._listener, None
        if listener is not None:
            await stop_tasks([listener])
        if manager is not None:
            await manager.stop()
            self._last_term = {status.name: status for status in manager.status()}
            self._unsent.extend(manager.unsent)

    async def close(self) -> None:
        """Stop the manager (if leading) and any forwarding in flight."""
        await self.follow()
        await stop_tasks(list(self._forwarding))
        await self._forwarder.aclose()

    # -- SyncControl ---------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return all(status.ready for status in self.status())

    def sources(self) -> list[str]:
        return self._standby.sources()

    def status(self) -> list[SourceStatus]:
        if self._active is not None:
            return self._active.status()
        return [self._follower_status(name) for name in self._standby.sources()]

    def source_status(self, name: str) -> SourceStatus:
        if self._active is not None:
            return self._active.source_status(name)
        self._standby.source_status(name)
        return self._follower_status(name)

    def confirm_withdrawals(self, name: str) -> dict[str, Any] | None:
        """Let the held sync of ``name`` through: on the leader at once (what was held), else
        sent to the leader with the trigger (None: the leader checks what it holds)."""
        if self._active is not None:
            return self._active.confirm_withdrawals(name)
        if name not in self._standby.sources():
            raise SourceNotFound(f"no sync source named {name!r}", details={"source": name})
        self._forward(Trigger(repository=name, reason="confirmed", origin=self._replica_id, confirm_withdrawals=True))
        return None

    def trigger(self, name: str, *, reason: str = "manual") -> None:
        if self._active is not None:
            self._active.trigger(name, reason=reason)
            return
        if name not in self._standby.sources():
            raise SourceNotFound(f"no sync source named {name!r}", details={"source": name})
        self._forward(Trigger(repository=name, reason=reason, origin=self._replica_id))

    def webhook_gate(self, provider: str, name: str, headers: Mapping[str, str]) -> WebhookGate:
        manager = self._active if self._active is not None else self._standby
        return manager.webhook_gate(provider, name, headers)

    async def handle_webhook(
        self, provider: str, name: str, headers: Mapping[str, str], body: bytes, *, verified: bool = False
    ) -> WebhookDelivery:
        if self._active is not None:
            return await self._active.handle_webhook(provider, name, headers, body, verified=verified)
        delivery = await self._standby.handle_webhook(provider, name, headers, body, verified=verified)
        if delivery.triggers_sync:
            carrier: dict[str, str] = {}
            self._standby.tracing.inject(carrier)
            self._forward(
                Trigger(
                    repository=name,
                    reason="webhook",
                    origin=self._replica_id,
                    delivery=delivery.delivery_id,
                    traceparent=carrier.get("traceparent"),
                )
            )
        return delivery

    def trigger_local(self, trigger: Trigger) -> bool:
        """Run a forwarded trigger if this replica leads; False when it does not (any more)."""
        manager = self._active
        if manager is None:
            return False
        if trigger.confirm_withdrawals:
            try:
                manager.confirm_withdrawals(trigger.repository)
            except CatalogError as exc:
                log.warning("a forwarded confirmation for %s: %s", trigger.repository, exc.message)
            return True
        link = manager.tracing.link_from(trigger.traceparent) if trigger.traceparent else None
        manager.trigger(trigger.repository, reason=f"{trigger.reason} via {trigger.origin}", link=link)
        return True

    # -- follower status -----------------------------------------------------------------------

    async def refresh_stored_status(self) -> None:
        """Read each source's stored sync state (what the leader last saved), for ``status()``
        on a follower, and record the sync events kept while storage was down. Storage errors
        keep the previous copy."""
        if self._active is not None:
            return
        for name in self._standby.sources():
            try:
                self._stored[name] = await self._catalog.store.get_sync_state(name)
            except CatalogError:
                return
        await self._flush_unsent()

    async def _flush_unsent(self) -> None:
        while self._unsent:
            try:
                await asyncio.wait_for(self._catalog.record_event(self._unsent[0]), FORWARD_TIMEOUT)
            except (CatalogError, TimeoutError):
                return
            self._unsent.pop(0)

    def _follower_status(self, name: str) -> SourceStatus:
        status = self._last_term.get(name) or self._standby.source_status(name)
        status = status.copy()
        stored = self._stored.get(name)
        if stored is not None:
            status.last_commit = stored.last_commit
            status.files = len(stored.files)
            updated = stored.updated_at
            if updated is not None and (status.last_success is None or updated > status.last_success):
                status.last_success = updated
        postponed = self._postponed.get(name)
        if postponed is not None:
            status.state = "failed"
            status.last_error = dict(postponed)
        if stored is not None:
            status.ready, status.waiting_for = True, None
        else:
            status.ready = False
            leader = self._forwarder.leader_description()
            status.waiting_for = (
                f"the first sync of {name} by the leader ({leader}): storage holds no synced state of it yet"
            )
        status.next_sync_at = None
        return status

    def _postpone(self, trigger: Trigger) -> None:
        """A trigger reached no leader: show it as a failed sync and record ``sync.failed``."""
        at = format_time(utcnow())
        error = {
            "code": "SYNC_FAILED",
            "message": (
                f"a {trigger.reason} sync of {trigger.repository} was postponed: no replica holds the sync lease "
                "(storage unreachable?); the next leader's first sync runs it"
            ),
            "reason": "no_leader",
            "stage": "lease",
            "at": at,
        }
        self._postponed[trigger.repository] = error
        data = {
            "repository": trigger.repository,
            "kind": SourceKind.GIT.value,
            "error": error["message"],
            "reason": "no_leader",
            "code": error["code"],
            "stage": "lease",
            "at": at,
            "consecutive_failures": 1,
        }
        self._unsent.append(Event(type=EventType.SYNC_FAILED, time=utcnow(), data=data))
        metrics = self._standby.metrics
        if metrics is not None:
            metrics.sync_failed(trigger.repository, "lease", "no_leader")

    # -- triggers ------------------------------------------------------------------------------

    def _forward(self, trigger: Trigger) -> None:
        task = asyncio.create_task(self._forwarder.forward(trigger), name=f"forward:{trigger.repository}")
        self._forwarding.add(task)
        task.add_done_callback(self._forwarding.discard)
        task.add_done_callback(lambda done: self._forwarded(trigger, done))

    def _forwarded(self, trigger: Trigger, task: asyncio.Task[str | None]) -> None:
        if task.cancelled() or task.exception() is not None or task.result() is None:
            self._postpone(trigger)

    async def _listen_for_triggers(self, link: RedisLink, channel: str) -> None:
        """While leading: run every trigger published on the channel; resubscribe after a
        Redis failure (followers fall back to HTTP meanwhile, as nobody receives)."""
        failures = 0
        while True:
            raise_if_cancelling()
            try:
                async with link.blocking.pubsub() as pubsub:
                    await pubsub.subscribe(channel)
                    failures = 0
                    while True:
                        raise_if_cancelling()
                        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=link.block_timeout)
                        if message is not None:
                            self._run_published(message.get("data"))
            except link.errors as exc:
                link.failed(exc, "subscribe")
                await asyncio.sleep(_RESUBSCRIBE_DELAYS[min(failures, len(_RESUBSCRIBE_DELAYS) - 1)])
                failures += 1

    def _run_published(self, data: Any) -> None:
        try:
            trigger = Trigger.from_json(data)
        except (TypeError, ValueError):
            log.warning("ignored a malformed message on the sync-trigger channel", extra={"operation": "trigger"})
            return
        try:
            self.trigger_local(trigger)
        except SourceNotFound:
            log.warning("ignored a trigger for unknown source %r", trigger.repository, extra={"operation": "trigger"})
