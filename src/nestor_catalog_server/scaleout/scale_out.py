"""``ScaleOut``: what one replica runs so that several can serve one catalog side by side.

The app's lifespan opens it for a catalog it opened itself (``create_app`` without
``catalog=``) and closes it before the catalog. Depending on the settings it holds:

- with ``cache.type: redis``: a ``RedisLink``, the ``RedisEventBus`` (its ``follow()`` becomes
  the app's ``follow`` task, polling slowly while the stream works and fast while Redis is
  down) and the ``redis`` component of ``/ready`` and ``/api/v1/status``;
- with Redis or DynamoDB storage (the deployments with several replicas): a
  ``ReadThroughCache`` as ``AppState.read_through``;
- when the catalog syncs sources: the ``LeaderElector`` on ``leadership.lease_name`` and a
  ``ClusterSync`` as ``AppState.sync``, with the ``leader`` component. A lone replica goes
  through the same election; it just wins at once.

With none of these (SQLite or memory, no Redis, no sources) it adds nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Final

from nestor_catalog_core import Catalog
from nestor_catalog_server.config import ServiceConfig, Settings
from nestor_catalog_server.scaleout._identity import LOCK_FILE, ReplicaLock
from nestor_catalog_server.scaleout._redis_link import RedisLink
from nestor_catalog_server.scaleout._tasks import stop_tasks
from nestor_catalog_server.scaleout.cache import ReadThroughCache
from nestor_catalog_server.scaleout.cluster_sync import ClusterSync, TriggerForwarder
from nestor_catalog_server.scaleout.leadership import LeaderElector, LeaderInfo, default_replica_id
from nestor_catalog_server.scaleout.redis_bus import RedisEventBus
from nestor_catalog_server.state import AppState
from nestor_catalog_server.sync import SyncManager

__all__ = ["LEADER_COMPONENT", "REDIS_COMPONENT", "ScaleOut", "advertise_url"]

log = logging.getLogger("nestor_catalog_server.scaleout")

#: ``AppState.components`` keys (and ``/ready``, ``/api/v1/status`` entries).
LEADER_COMPONENT: Final = "leader"
REDIS_COMPONENT: Final = "redis"
_WILDCARD_HOSTS: Final = frozenset({"0.0.0.0", "::", "[::]", ""})  # noqa: S104 - compared, not bound


def advertise_url(service: ServiceConfig) -> str:
    """``service.advertise_url``, else ``http(s)://<host>:<port>`` with this machine's host name
    in place of a wildcard listen address."""
    if service.advertise_url is not None:
        return service.advertise_url
    scheme = "https" if service.tls.enabled else "http"
    host = service.host
    if host in _WILDCARD_HOSTS:
        host = socket.gethostname()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{scheme}://{host}:{service.port}"


class ScaleOut:
    """See the module docstring. ``new_manager`` builds a ``SyncManager`` as the app does;
    ``sync`` says whether this catalog syncs sources at all."""

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        *,
        sync: bool,
        new_manager: Callable[[], SyncManager],
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.replica_id = settings.service.replica_id or default_replica_id()
        redis = settings.cache.redis
        self.link = RedisLink(redis) if settings.cache.type == "redis" else None
        self.cache: ReadThroughCache | None = None
        if self.link is not None or settings.storage.type == "dynamodb":
            self.cache = ReadThroughCache(catalog, self.link, ttl=redis.ttl)
        self.bus: RedisEventBus | None = None
        if self.link is not None:
            self.bus = RedisEventBus(
                catalog,
                self.link,
                stream=redis.stream,
                maxlen=redis.stream_maxlen,
                invalidate=self.cache.stale_keys if self.cache is not None else None,
            )
        self.cluster: ClusterSync | None = None
        self.elector: LeaderElector | None = None
        self.identity: ReplicaLock | None = None
        self._leader_status: dict[str, Any] = {}
        self._tasks: list[asyncio.Task[None]] = []
        if sync:
            self._prepare_leadership(new_manager)

    def _prepare_leadership(self, new_manager: Callable[[], SyncManager]) -> None:
        leadership = self.settings.leadership
        secret = leadership.cluster_secret.get_secret_value() if leadership.cluster_secret is not None else None
        forwarder = TriggerForwarder(link=self.link, leader=self._leader_info, secret=secret)
        self.cluster = ClusterSync(self.catalog, new_manager, forwarder, replica_id=self.replica_id)
        self.identity = ReplicaLock.claim(Path(self.settings.service.data_dir) / LOCK_FILE, self.replica_id)
        self.elector = LeaderElector(
            self.catalog.store,
            name=leadership.lease_name,
            replica_id=self.replica_id,
            url=advertise_url(self.settings.service),
            ttl=leadership.lease_ttl,
            on_elected=self.cluster.lead,
            on_deposed=self.cluster.follow,
            predecessor=self.identity.predecessor,
        )
        self.elector.changed = self._show_leader

    def _leader_info(self) -> LeaderInfo:
        return self.elector.info if self.elector is not None else LeaderInfo()

    def follow_loop(self) -> Coroutine[Any, Any, None] | None:
        """The coroutine the app runs as its ``follow`` task, or None to keep its own."""
        return self.bus.follow() if self.bus is not None else None

    async def start(self, state: AppState) -> None:
        """Hook into ``state``, start the bus, then run the first election (a lone replica
        leads, and syncs, before the app starts serving)."""
        if self.cache is not None:
            state.read_through = self.cache
        if self.bus is not None:
            if self.cache is not None:
                self.bus.status["cache"] = self.cache.counts
            state.components[REDIS_COMPONENT] = self.bus.status
            self.bus.start()
        if self.cluster is not None and self.elector is not None:
            self._leader_status.update(ok=True, replica=self.replica_id, lease=self.elector.name)
            self._show_leader(self.elector.info)
            state.components[LEADER_COMPONENT] = self._leader_status
            state.sync = self.cluster
            await self.elector.start()
            # A follower's readiness rests on the stored sync states: read them before serving.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.cluster.refresh_stored_status(), self.elector.interval)
            refresh = self._refresh_follower_status(self.cluster, self.elector)
            self._tasks.append(asyncio.create_task(refresh, name="leadership-status"))
        log.info(
            "replica %s started",
            self.replica_id,
            extra={
                "operation": "scaleout",
                "replica": self.replica_id,
                "redis": self.link.url if self.link is not None else None,
                "leader": self.elector.is_leader if self.elector is not None else None,
            },
        )

    async def close(self) -> None:
        """Give up the lease (stopping sync), then stop the bus and close Redis."""
        await stop_tasks(self._tasks)
        if self.elector is not None:
            await self.elector.stop()
        if self.cluster is not None:
            await self.cluster.close()
        if self.bus is not None:
            await self.bus.stop()
        if self.link is not None:
            await self.link.aclose()
        if self.identity is not None:
            self.identity.close()

    def _show_leader(self, info: LeaderInfo) -> None:
        self._leader_status.update(info.to_dict())
        if self.cluster is not None:
            self._leader_status["forwarded"] = self.cluster.forwarded

    async def _refresh_follower_status(self, cluster: ClusterSync, elector: LeaderElector) -> None:
        while True:
            await cluster.refresh_stored_status()
            self._show_leader(elector.info)
            await asyncio.sleep(elector.interval)
