"""``ReadThroughCache`` against a private redis-server and a shared memory store: what a lagging
replica's read model misses comes from Redis or storage; misses are remembered; audit pages are
cached per revision; a Redis outage only sends reads to storage."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from redis.asyncio import Redis

from nestor_catalog_core import AuditPage, AuditQuery, Catalog, Deprecation, MemoryStore
from nestor_catalog_core.models import Event, EventType, utcnow
from nestor_catalog_server.config import RedisConfig
from nestor_catalog_server.scaleout import ReadThroughCache, RedisEventBus, RedisLink
from tests.core.storage.builders import api_source
from tests.server.scaleout.conftest import publish, wait_until
from tests.support.redis import RedisServer

TTL = timedelta(minutes=5)


class CountingStore(MemoryStore):
    """A memory store that counts the reads the cache is meant to save."""

    def __init__(self) -> None:
        super().__init__()
        self.version_reads = 0
        self.audit_reads = 0

    async def get_version(self, name: str, version: str):  # type: ignore[no-untyped-def]
        self.version_reads += 1
        return await super().get_version(name, version)

    async def query_audit(self, query: AuditQuery) -> AuditPage:
        self.audit_reads += 1
        return await super().query_audit(query)


@pytest.fixture
async def store() -> AsyncIterator[CountingStore]:
    store = CountingStore()
    await store.open()
    yield store
    await store.close()


@pytest.fixture
async def writer(store: CountingStore) -> AsyncIterator[Catalog]:
    catalog = Catalog(store, owns_store=False)
    await catalog.start()
    yield catalog
    await catalog.close()


@pytest.fixture
async def lagging(store: CountingStore) -> AsyncIterator[Catalog]:
    """A replica that never catches up by itself (no follow task, no bus)."""
    catalog = Catalog(store, owns_store=False)
    await catalog.start()
    yield catalog
    await catalog.close()


@pytest.fixture
async def link(redis_config: RedisConfig) -> AsyncIterator[RedisLink]:
    link = RedisLink(redis_config, cooldown=0.2)
    yield link
    await link.aclose()


@pytest.fixture
async def redis(redis_config: RedisConfig) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_config.url)
    yield client
    await client.aclose()


async def test_a_version_another_replica_published_comes_from_storage_then_from_redis(
    store: CountingStore, writer: Catalog, lagging: Catalog, link: RedisLink, redis: Redis
) -> None:
    await publish(writer, "fresh-queue")
    cache = ReadThroughCache(lagging, link, ttl=TTL)
    assert not lagging.has("fresh-queue", "1.0.0")
    store.version_reads = 0

    entry = await cache.version_entry("fresh-queue", "1.0.0")
    assert entry is not None
    assert entry.digest == writer.entry("fresh-queue", "1.0.0").digest
    assert entry.body() == writer.entry("fresh-queue", "1.0.0").body()
    key = cache.version_key("fresh-queue", "1.0.0")
    assert key is not None
    assert 0 < await redis.ttl(key) <= TTL.total_seconds()

    other = ReadThroughCache(lagging, link, ttl=TTL)
    again = await other.version_entry("fresh-queue", "1.0.0")
    assert again is not None
    assert again.digest == entry.digest
    assert store.version_reads == 1, "the second replica's lookup was answered by redis"
    assert (cache.counts["storage_reads"], other.counts["redis_hits"]) == (1, 1)
    assert not lagging.has("fresh-queue", "1.0.0"), "the read model changes only through events"


async def test_a_version_the_read_model_holds_never_reaches_storage(
    store: CountingStore, writer: Catalog, link: RedisLink
) -> None:
    await publish(writer, "known-queue")
    store.version_reads = 0
    entry = await ReadThroughCache(writer, link, ttl=TTL).version_entry("known-queue", "1.0.0")
    assert entry is writer.entry("known-queue", "1.0.0")
    assert store.version_reads == 0


async def test_misses_are_remembered_and_concurrent_lookups_share_one_read(
    store: CountingStore, lagging: Catalog, link: RedisLink
) -> None:
    cache = ReadThroughCache(lagging, link, ttl=TTL, miss_ttl=60.0)
    results = await asyncio.gather(*(cache.version_entry("nowhere", "1.0.0") for _ in range(10)))
    assert results == [None] * 10
    assert store.version_reads == 1
    assert await cache.version_entry("nowhere", "1.0.0") is None
    assert store.version_reads == 1, "a remembered miss does not ask storage again"

    forgetful = ReadThroughCache(lagging, link, ttl=TTL, miss_ttl=0.0)
    assert await forgetful.version_entry("nowhere", "1.0.0") is None
    assert await forgetful.version_entry("nowhere", "1.0.0") is None
    assert store.version_reads == 3


async def test_publishing_a_change_drops_the_cached_version(
    store: CountingStore, writer: Catalog, lagging: Catalog, redis_config: RedisConfig, link: RedisLink, redis: Redis
) -> None:
    cache = ReadThroughCache(lagging, link, ttl=TTL)
    bus = RedisEventBus(writer, link, stream=redis_config.stream, maxlen=1000, invalidate=cache.stale_keys)
    bus.start()
    try:
        await wait_until(lambda: bus.mode == "streaming", what="streaming")
        await publish(writer, "changing-queue")
        assert await cache.version_entry("changing-queue", "1.0.0") is not None
        key = cache.version_key("changing-queue", "1.0.0")
        assert key is not None
        assert await redis.exists(key) == 1
        await writer.deprecate("changing-queue", "1.0.0", Deprecation(message="use 2.x"), source=api_source())
        await wait_until(lambda: bus.status["published"] == 2, what="the deprecation published")
        assert await redis.exists(key) == 0
        entry = await cache.version_entry("changing-queue", "1.0.0")
        assert entry is not None
        assert entry.deprecated
    finally:
        await bus.stop()


def test_only_resource_events_name_stale_keys(lagging: Catalog, link: RedisLink) -> None:
    cache = ReadThroughCache(lagging, link, ttl=TTL)
    changed = Event(type=EventType.RESOURCE_DEPRECATED, time=utcnow(), name="queue", version="1.0.0")
    assert cache.stale_keys(changed) == [cache.version_key("queue", "1.0.0")]
    assert cache.stale_keys(Event(type=EventType.SYNC_COMPLETED, time=utcnow())) == []
    assert ReadThroughCache(lagging, None, ttl=TTL).stale_keys(changed) == []


async def test_audit_pages_are_cached_until_the_next_event(
    store: CountingStore, writer: Catalog, link: RedisLink
) -> None:
    await publish(writer, "audited-queue")
    cache = ReadThroughCache(writer, link, ttl=TTL)
    query = AuditQuery(resource="audited-queue", limit=10)
    first = await cache.audit(query)
    second = await cache.audit(AuditQuery(resource="audited-queue", limit=10))
    assert store.audit_reads == 1
    assert [r.to_dict() for r in second.records] == [r.to_dict() for r in first.records]
    assert second.next_cursor == first.next_cursor
    assert first.records[0].resource == "audited-queue"

    await writer.withdraw("audited-queue", "1.0.0", source=api_source())
    third = await cache.audit(query)
    assert store.audit_reads == 2, "a new revision is a new generation of cached pages"
    assert [r.action for r in third.records] == ["resource.withdrawn", "resource.created"]


async def test_a_redis_outage_sends_reads_to_storage(
    store: CountingStore,
    writer: Catalog,
    lagging: Catalog,
    link: RedisLink,
    redis_server: RedisServer,
) -> None:
    await publish(writer, "outage-queue")
    cache = ReadThroughCache(lagging, link, ttl=TTL)
    redis_server.stop()
    try:
        entry = await cache.version_entry("outage-queue", "1.0.0")
        assert entry is not None
        page = await cache.audit(AuditQuery(resource="outage-queue"))
        assert [record.resource for record in page.records] == ["outage-queue"]
        assert link.last_error is not None
        assert store.version_reads >= 1
    finally:
        redis_server.start_again()


async def test_without_redis_reads_go_to_storage(store: CountingStore, writer: Catalog, lagging: Catalog) -> None:
    await publish(writer, "plain-queue")
    cache = ReadThroughCache(lagging, None, ttl=TTL)
    assert cache.version_key("plain-queue", "1.0.0") is None
    entry = await cache.version_entry("plain-queue", "1.0.0")
    assert entry is not None
    assert store.version_reads == 1
    page = await cache.audit(AuditQuery(resource="plain-queue"))
    assert len(page.records) == 1
