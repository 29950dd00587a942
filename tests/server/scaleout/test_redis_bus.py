"""``RedisEventBus`` against a private redis-server: fan-out in sequence order, gaps filled from
storage, a stream of another store refused, and an outage survived by polling."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from nestor_catalog_core import Catalog, MemoryStore
from nestor_catalog_server.config import RedisConfig
from nestor_catalog_server.scaleout import RedisLink
from nestor_catalog_server.scaleout.redis_bus import POLLING_INTERVAL, STREAMING_POLL_INTERVAL, RedisEventBus
from tests.server.scaleout.conftest import publish, replica, wait_until
from tests.support.redis import RedisServer


@pytest.fixture
async def store() -> AsyncIterator[MemoryStore]:
    store = MemoryStore()
    await store.open()
    yield store
    await store.close()


@pytest.fixture
async def redis(redis_config: RedisConfig) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_config.url)
    yield client
    await client.aclose()


async def test_events_written_on_one_replica_reach_the_other_in_order(
    store: MemoryStore, redis_config: RedisConfig
) -> None:
    async with replica(store, redis_config) as a, replica(store, redis_config) as b:
        await a.streaming()
        await b.streaming()
        await publish(a.catalog, *(f"queue-{index}" for index in range(20)))
        await wait_until(lambda: len(b.seen) == 20, what="20 events seen on replica b")
        assert b.seen == list(range(1, 21))
        # b runs no polling task (and its safety-net poll is 60 s away): what it applied came from
        # the stream; on a loaded machine an entry can arrive after a catch-up that already
        # applied it, so the count is at most 20, not always exactly 20.
        assert 0 < b.bus.status["received"] <= 20
        assert b.bus.status["mode"] == "streaming"
        # a publishes what it applies, except an event its own stream reader already saw
        # (seen once under load: 19); b, which wrote nothing, publishes nothing.
        assert 0 < a.bus.status["published"] <= 20
        assert b.bus.status["published"] == 0
        assert b.catalog.has("queue-19", "1.0.0")


async def test_two_writers_converge_on_one_gap_free_order(store: MemoryStore, redis_config: RedisConfig) -> None:
    async with replica(store, redis_config) as a, replica(store, redis_config) as b:
        await a.streaming()
        await b.streaming()
        await asyncio.gather(
            publish(a.catalog, *(f"from-a-{index}" for index in range(10))),
            publish(b.catalog, *(f"from-b-{index}" for index in range(10))),
        )
        await wait_until(lambda: a.catalog.revision == b.catalog.revision == 20, what="both at revision 20")
        await wait_until(lambda: len(a.seen) == len(b.seen) == 20, what="every event seen on both")
        assert a.seen == b.seen == list(range(1, 21))
        assert a.catalog.names() == b.catalog.names()


async def test_a_gap_in_the_stream_is_filled_from_storage(
    store: MemoryStore, redis_config: RedisConfig, redis: Redis
) -> None:
    writer = Catalog(store, owns_store=False)
    await writer.start()
    async with replica(store, redis_config) as b:
        await b.streaming()
        events = await publish(writer, "first", "second", "third")
        last = events[-1]
        await redis.xadd(redis_config.stream, {"e": json.dumps(last.to_dict())}, id=f"{last.sequence}-1")
        await wait_until(lambda: len(b.seen) == 3, what="3 events seen on replica b")
        assert b.seen == [1, 2, 3]
        assert b.bus.status["gaps_filled"] == 1
        assert all(b.catalog.has(name, "1.0.0") for name in ("first", "second", "third"))
    await writer.close()


async def test_a_stream_ahead_of_the_store_belongs_to_another_store_and_is_dropped(
    store: MemoryStore, redis_config: RedisConfig, redis: Redis
) -> None:
    foreign = {"sequence": 1, "type": "sync.completed", "time": "2024-01-15T10:30:45Z", "data": {"repository": "x"}}
    await redis.xadd(redis_config.stream, {"e": json.dumps(foreign)}, id="1-1")
    await redis.xadd(redis_config.stream, {"e": json.dumps({**foreign, "sequence": 100})}, id="100-1")
    async with replica(store, redis_config) as a, replica(store, redis_config) as b:
        await a.streaming()
        await b.streaming()
        assert b.catalog.revision == 0, "no event of another store is applied"
        await publish(a.catalog, "after-the-cleanup")
        await wait_until(lambda: b.catalog.has("after-the-cleanup", "1.0.0"), what="the new event on b")
        assert b.bus.status["received"] == 1


async def test_an_outage_falls_back_to_polling_and_streaming_resumes(
    store: MemoryStore, redis_config: RedisConfig, redis_server: RedisServer
) -> None:
    async with replica(store, redis_config, follow=True) as a, replica(store, redis_config, follow=True) as b:
        await a.streaming()
        await b.streaming()
        await publish(a.catalog, "before")
        await wait_until(lambda: b.catalog.revision == 1, what="the first event on b")
        assert b.bus.poll_interval == 60.0

        redis_server.stop()
        await wait_until(lambda: a.bus.mode == b.bus.mode == "polling", what="both replicas polling")
        assert b.bus.status["ok"] is False
        assert b.bus.status["last_error"]
        assert b.bus.poll_interval == 0.05
        received = b.bus.status["received"]
        await publish(a.catalog, "during-1", "during-2")
        await wait_until(lambda: b.catalog.revision == 3, what="the outage's events on b, by polling")
        assert b.bus.status["received"] == received

        redis_server.start_again()
        await a.streaming()
        await b.streaming()
        await publish(a.catalog, "after")
        await wait_until(lambda: b.catalog.revision == 4, what="the last event on b")
        await wait_until(lambda: b.bus.status["received"] == received + 1, what="the last event through the stream")
        await wait_until(lambda: len(b.seen) == 4, what="4 events seen on replica b")
        assert b.seen == [1, 2, 3, 4]
        assert b.bus.status["ok"] is True


async def test_a_new_bus_polls_fast_until_its_stream_is_up(redis_config: RedisConfig) -> None:
    assert STREAMING_POLL_INTERVAL > POLLING_INTERVAL
    assert POLLING_INTERVAL <= 0.5
    link = RedisLink(redis_config)
    bus = RedisEventBus(Catalog(MemoryStore()), link, stream=redis_config.stream, maxlen=redis_config.stream_maxlen)
    assert bus.mode == "polling"
    assert bus.poll_interval == POLLING_INTERVAL
    assert bus.status["required"] is False
    assert bus.status["ok"] is False
    await link.aclose()
