"""Leadership: exactly one replica runs git sync, the one holding the storage lease.

``LeaderElector`` competes for the lease ``leadership.lease_name`` (a row in the shared store,
written with conditional writes; its fencing token grows on every acquisition):

- not leader: try ``acquire_lease`` every third of the TTL. A leader that dies stops renewing;
  its lease expires at most one TTL after its last renewal and the next attempt, at most a
  third of a TTL later, takes it: a takeover within two lease periods;
- leader: renew every third of the TTL. The lease is certainly ours until ``TTL`` after the
  moment the last successful renewal was *sent* (the store computed its expiry later than
  that). A renewal that the store refuses (the lease was lost) deposes at once; one that fails
  or hangs is retried until that moment, less a safety margin for clock skew between replicas,
  and then deposes: the elector never believes it leads past the point another replica could
  acquire the lease;
- on a clean stop the lease is released, so another replica takes over at its next attempt.

A replica that crashed holding the lease and restarted on the same data directory does not
wait for it to expire: ``predecessor`` is the replica id of the process before it, proven gone
(``_identity.ReplicaLock``), and a lease held under that id is released and acquired at once.

The holder string is ``"<replica_id> <advertise_url>"``: every replica can show who leads and
reach it (``LeaderInfo``). ``on_elected`` and ``on_deposed`` run in the elector's task, one at
a time, in order; ``on_deposed`` must stop everything ``on_elected`` started before it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from nestor_catalog_core import CatalogError, ComponentStore
from nestor_catalog_core.models import Lease, format_time, utcnow
from nestor_catalog_server.observability.tracing import trace_context
from nestor_catalog_server.scaleout._tasks import raise_if_cancelling, stop_tasks

__all__ = ["LeaderElector", "LeaderInfo", "default_replica_id", "holder_string", "parse_holder"]

log = logging.getLogger("nestor_catalog_server.scaleout.leadership")

#: The share of the TTL kept as a margin against clock skew between replicas (at most 1 s).
SKEW_MARGIN: Final = 0.1
_MAX_SKEW_MARGIN: Final = 1.0
_STOPPING: Final = "stopping"

Callback = Callable[[], Awaitable[None]]


def default_replica_id() -> str:
    """``<hostname>-<pid>-<random>``: new at every start, so a restarted process never mistakes
    its predecessor's lease for its own."""
    host = "".join(c if c.isalnum() or c in "._-" else "-" for c in socket.gethostname()) or "replica"
    return f"{host[:64]}-{os.getpid()}-{secrets.token_hex(3)}"


def holder_string(replica_id: str, url: str) -> str:
    return f"{replica_id} {url}"


def parse_holder(holder: str) -> tuple[str, str | None]:
    """``(replica_id, url)`` of a holder string; ``url`` is None for a holder written otherwise."""
    replica_id, _, url = holder.partition(" ")
    return replica_id, url or None


@dataclass(frozen=True, slots=True)
class LeaderInfo:
    """Who leads, as this replica last saw it. ``since`` is when this replica first saw the
    current term (holder and token); everything is None while nobody holds the lease."""

    holder: str | None = None
    token: int | None = None
    expires_at: datetime | None = None
    since: datetime | None = None
    me: bool = False

    @property
    def replica_id(self) -> str | None:
        return parse_holder(self.holder)[0] if self.holder else None

    @property
    def url(self) -> str | None:
        return parse_holder(self.holder)[1] if self.holder else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "holder": self.replica_id,
            "url": self.url,
            "me": self.me,
            "since": format_time(self.since) if self.since else None,
            "token": self.token,
            "expires_at": format_time(self.expires_at) if self.expires_at else None,
        }


class LeaderElector:
    """Competes for one lease and runs ``on_elected``/``on_deposed`` as it wins and loses it
    (see the module docstring). ``start()`` makes the first attempt before it returns, so a
    lone replica leads as soon as it has started."""

    def __init__(
        self,
        store: ComponentStore,
        *,
        name: str,
        replica_id: str,
        url: str,
        ttl: timedelta,
        on_elected: Callback,
        on_deposed: Callback,
        predecessor: str | None = None,
    ) -> None:
        self.store = store
        self._predecessor = predecessor
        self.name = name
        self.replica_id = replica_id
        self.holder = holder_string(replica_id, url)
        self.ttl = ttl
        self.interval = ttl.total_seconds() / 3
        self._margin = min(ttl.total_seconds() * SKEW_MARGIN, _MAX_SKEW_MARGIN)
        self._on_elected = on_elected
        self._on_deposed = on_deposed
        self._valid_until = 0.0
        self._leading = False
        self._info = LeaderInfo()
        self._task: asyncio.Task[None] | None = None
        self.changed: Callable[[LeaderInfo], None] | None = None

    @property
    def is_leader(self) -> bool:
        return self._leading

    @property
    def info(self) -> LeaderInfo:
        return self._info

    async def start(self) -> None:
        await self.step()
        self._task = asyncio.create_task(self._run(), name=f"lease:{self.name}")

    async def stop(self) -> None:
        """Stop competing; when leading, depose (``on_deposed``) and release the lease."""
        task, self._task = self._task, None
        if task is not None:
            await stop_tasks([task])
        with trace_context():
            await self._step_down()

    async def _step_down(self) -> None:
        if self._leading:
            await self._depose(_STOPPING)
            try:
                await asyncio.wait_for(self.store.release_lease(self.name, self.holder), self.ttl.total_seconds())
            except (CatalogError, TimeoutError) as exc:
                log.warning("could not release the %s lease: %s", self.name, exc)
            else:
                log.info("released the %s lease", self.name, extra={"operation": "lease", "lease": self.name})
                self._observe(None)

    async def _run(self) -> None:
        while True:
            raise_if_cancelling()
            await asyncio.sleep(self._next_delay())
            await self.step()

    def _next_delay(self) -> float:
        if not self._leading:
            return self.interval
        return max(0.0, min(self.interval, self._valid_until - self._margin - time.monotonic()))

    async def step(self) -> None:
        """One attempt: renew (leading) or acquire (not leading), then act on the outcome. Each
        attempt has a trace id of its own, the ``trace_id`` of its log lines."""
        with trace_context():
            if self._leading:
                await self._renew()
            else:
                await self._acquire()

    async def _acquire(self) -> None:
        sent = time.monotonic()
        try:
            lease = await asyncio.wait_for(
                self.store.acquire_lease(self.name, self.holder, self.ttl), self.ttl.total_seconds()
            )
        except (CatalogError, TimeoutError) as exc:
            log.warning("could not try the %s lease: %s", self.name, exc, extra={"operation": "lease"})
            return
        if (lease is None or lease.holder != self.holder) and self._predecessor is not None:
            lease = await self._reclaim(sent)
        self._predecessor = None
        if lease is None or lease.holder != self.holder:
            await self._observe_current()
            return
        self._valid_until = sent + self.ttl.total_seconds()
        self._leading = True
        self._observe(lease)
        log.info(
            "leading: holding the %s lease",
            self.name,
            extra={"operation": "lease", "lease": self.name, "token": lease.token, "replica": self.replica_id},
        )
        try:
            await self._on_elected()
        except Exception:
            log.exception("starting the leader's work failed; giving the lease up")
            await self._depose("start failed")
            with contextlib.suppress(CatalogError, TimeoutError):
                await asyncio.wait_for(self.store.release_lease(self.name, self.holder), self.ttl.total_seconds())

    async def _reclaim(self, sent: float) -> Lease | None:
        """Release the lease if this replica's dead predecessor holds it, then acquire it."""
        try:
            current = await asyncio.wait_for(self.store.get_lease(self.name), self.ttl.total_seconds())
            if current is None or current.holder is None or parse_holder(current.holder)[0] != self._predecessor:
                return current
            await asyncio.wait_for(self.store.release_lease(self.name, current.holder), self.ttl.total_seconds())
            lease = await asyncio.wait_for(
                self.store.acquire_lease(self.name, self.holder, self.ttl), self.ttl.total_seconds()
            )
        except (CatalogError, TimeoutError) as exc:
            log.warning("could not reclaim the %s lease: %s", self.name, exc, extra={"operation": "lease"})
            return None
        log.info(
            "reclaimed the %s lease from this replica's previous process %s, which is gone",
            self.name,
            self._predecessor,
            extra={"operation": "lease", "lease": self.name, "predecessor": self._predecessor},
        )
        return lease

    async def _renew(self) -> None:
        sent = time.monotonic()
        remaining = self._valid_until - self._margin - sent
        if remaining <= 0:
            await self._depose("the lease could not be renewed in time")
            return
        try:
            lease = await asyncio.wait_for(self.store.renew_lease(self.name, self.holder, self.ttl), remaining)
        except TimeoutError:
            await self._depose("the lease could not be renewed in time")
            return
        except CatalogError as exc:
            log.warning("renewing the %s lease failed: %s; retrying", self.name, exc, extra={"operation": "lease"})
            return
        if lease is None:
            await self._depose("the lease was lost")
            return
        self._valid_until = sent + self.ttl.total_seconds()
        self._observe(lease)

    async def _depose(self, reason: str) -> None:
        self._leading = False
        log.log(
            logging.INFO if reason == _STOPPING else logging.WARNING,
            "no longer leading: %s",
            reason,
            extra={"operation": "lease", "lease": self.name, "replica": self.replica_id},
        )
        self._info = LeaderInfo()
        self._notify()
        try:
            await self._on_deposed()
        except Exception:
            log.exception("stopping the leader's work failed")

    async def _observe_current(self) -> None:
        try:
            lease = await asyncio.wait_for(self.store.get_lease(self.name), self.ttl.total_seconds())
        except (CatalogError, TimeoutError):
            return
        self._observe(lease)

    def _observe(self, lease: Lease | None) -> None:
        previous = self._info
        if lease is None:
            self._info = LeaderInfo()
        else:
            same_term = previous.holder == lease.holder and previous.token == lease.token
            self._info = LeaderInfo(
                holder=lease.holder,
                token=lease.token,
                expires_at=lease.expires_at,
                since=previous.since if same_term else utcnow(),
                me=lease.holder == self.holder,
            )
        self._notify()

    def _notify(self) -> None:
        if self.changed is not None:
            self.changed(self._info)
