"""``ReadThroughCache``: the reads the in-memory read model cannot answer, through Redis to storage.

The read model holds every published version, so it misses only two kinds of read:

- **An exact version published through another replica a moment ago**, whose event has not
  reached this one yet (a read-after-write across replicas behind a load balancer).
  ``version_entry`` looks in Redis (``<prefix>:res:<name>:<version>``, the stored record as
  JSON), else reads storage and, when found, caches it for ``cache.redis.ttl``. The key is
  dropped when an event changes that version (the bus deletes it as it publishes the event),
  so a deprecation or a withdrawal is never served stale. Misses are remembered in this
  process for ``MISS_TTL`` seconds and concurrent lookups of one key share one storage read,
  so a burst of requests for a version that does not exist costs storage one read per key and
  interval, not one per request.
- **Audit pages**, which live only in storage. A page is cached under the normalized query and
  the catalog's revision (``<prefix>:audit:<revision>:<hash>``): every event moves the
  revision, so a cached page never hides a record written since, and old generations expire
  with the TTL.

Every Redis call is bounded and a failure falls back to storage (``RedisLink.call``): a Redis
outage never fails a read, it only sends it to storage. Without Redis (``link`` None) the
reads go to storage directly, with the same miss memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import OrderedDict
from datetime import timedelta
from typing import Any, Final

from nestor_catalog_core import AuditPage, AuditQuery, Catalog, CatalogEntry, StoredVersion
from nestor_catalog_core.models import AuditRecord, Event, format_time
from nestor_catalog_server.scaleout._redis_link import RedisLink

__all__ = ["MAX_REMEMBERED_MISSES", "MISS_TTL", "ReadThroughCache"]

#: Seconds a version storage did not hold is answered 404 without asking storage again.
MISS_TTL: Final = 1.0
#: How many such misses this process remembers at most.
MAX_REMEMBERED_MISSES: Final = 10_000

VersionKey = tuple[str, str]


def _query_digest(query: AuditQuery) -> str:
    fields: dict[str, Any] = {
        "resource": query.resource,
        "version": query.version,
        "user": query.user,
        "action": query.action,
        "since": format_time(query.since) if query.since else None,
        "until": format_time(query.until) if query.until else None,
        "limit": query.limit,
        "cursor": query.cursor,
    }
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()[:32]


def _page_json(page: AuditPage) -> bytes:
    body = {"records": [record.to_dict() for record in page.records], "next_cursor": page.next_cursor}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def _page_from_json(data: bytes | str) -> AuditPage:
    body = json.loads(data)
    return AuditPage(records=[AuditRecord.from_dict(item) for item in body["records"]], next_cursor=body["next_cursor"])


class ReadThroughCache:
    """``AppState.read_through`` in scale-out deployments (see the module docstring)."""

    def __init__(
        self,
        catalog: Catalog,
        link: RedisLink | None,
        *,
        ttl: timedelta,
        miss_ttl: float = MISS_TTL,
        max_misses: int = MAX_REMEMBERED_MISSES,
    ) -> None:
        self.catalog = catalog
        self.link = link
        self.ttl_seconds = max(1, round(ttl.total_seconds()))
        self.miss_ttl = miss_ttl
        self.max_misses = max_misses
        self._misses: OrderedDict[VersionKey, float] = OrderedDict()
        self._inflight: dict[VersionKey, asyncio.Task[StoredVersion | None]] = {}
        self.counts = {"redis_hits": 0, "storage_reads": 0, "misses": 0}

    # -- keys ----------------------------------------------------------------------------------

    def version_key(self, name: str, version: str) -> str | None:
        return self.link.key("res", name, version) if self.link is not None else None

    def stale_keys(self, event: Event) -> list[str]:
        """The keys ``event`` makes stale (for ``RedisEventBus``'s ``invalidate``)."""
        if not event.type.value.startswith("resource.") or event.name is None or event.version is None:
            return []
        key = self.version_key(event.name, event.version)
        return [key] if key is not None else []

    # -- exact versions ------------------------------------------------------------------------

    async def version_entry(self, name: str, version: str) -> CatalogEntry | None:
        if self.catalog.has(name, version):
            return self.catalog.entry(name, version)
        key = (name, version)
        if self._recently_missed(key):
            return None
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(self._load(name, version), name=f"read-through:{name}@{version}")
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._settle(key, done))
        stored = await asyncio.shield(task)
        return CatalogEntry(stored) if stored is not None else None

    def _settle(self, key: VersionKey, task: asyncio.Task[StoredVersion | None]) -> None:
        self._inflight.pop(key, None)
        if not task.cancelled():
            task.exception()  # retrieved here, so a lookup nobody awaits any more logs nothing

    def _recently_missed(self, key: VersionKey) -> bool:
        until = self._misses.get(key)
        if until is None:
            return False
        if time.monotonic() < until:
            return True
        del self._misses[key]
        return False

    def _remember_miss(self, key: VersionKey) -> None:
        self._misses[key] = time.monotonic() + self.miss_ttl
        self._misses.move_to_end(key)
        while len(self._misses) > self.max_misses:
            self._misses.popitem(last=False)

    async def _load(self, name: str, version: str) -> StoredVersion | None:
        cached = await self._cached_version(name, version)
        if cached is not None:
            self.counts["redis_hits"] += 1
            return cached
        self.counts["storage_reads"] += 1
        stored = await self.catalog.store.get_version(name, version)
        if stored is None:
            self.counts["misses"] += 1
            self._remember_miss((name, version))
            return None
        key = self.version_key(name, version)
        if self.link is not None and key is not None:
            data = json.dumps(stored.to_dict(), separators=(",", ":"), ensure_ascii=False).encode()
            await self.link.call("set", lambda redis: redis.set(key, data, ex=self.ttl_seconds), None)
        return stored

    async def _cached_version(self, name: str, version: str) -> StoredVersion | None:
        key = self.version_key(name, version)
        if self.link is None or key is None:
            return None
        data: bytes | str | None = await self.link.call("get", lambda redis: redis.get(key), None)
        if data is None:
            return None
        try:
            stored = StoredVersion.from_dict(json.loads(data))
        except (KeyError, ValueError, TypeError):
            return None
        return stored if stored.key == (name, version) else None

    # -- audit ---------------------------------------------------------------------------------

    async def audit(self, query: AuditQuery) -> AuditPage:
        link = self.link
        if link is None:
            return await self.catalog.audit(query)
        key = link.key("audit", str(self.catalog.revision), _query_digest(query))
        data: bytes | str | None = await link.call("get", lambda redis: redis.get(key), None)
        if data is not None:
            try:
                return _page_from_json(data)
            except (KeyError, ValueError, TypeError):
                pass
        page = await self.catalog.audit(query)
        encoded = _page_json(page)
        await link.call("set", lambda redis: redis.set(key, encoded, ex=self.ttl_seconds), None)
        return page
