"""Scale-out fixtures: a private ``redis-server`` (stoppable, unlike the shared one), Redis
settings with a stream and key prefix of their own per test, and replicas: ``Catalog``s over
one shared store, each with its own Redis link and event bus."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

import pytest

from nestor_catalog_core import Catalog, ComponentStore, StreamReset
from nestor_catalog_core.models import Event
from nestor_catalog_server.config import RedisConfig
from nestor_catalog_server.scaleout import RedisEventBus, RedisLink
from tests.core.storage.builders import api_source, definition
from tests.support.redis import RedisServer, redis_or_skip

#: Seconds a test waits for something that should happen within milliseconds.
WAIT = 20.0


@pytest.fixture(scope="module")
def private_redis() -> Iterator[RedisServer]:
    with redis_or_skip() as server:
        yield server


@pytest.fixture
def redis_server(private_redis: RedisServer) -> RedisServer:
    """The module's private Redis, running (a test before may have stopped it)."""
    private_redis.start_again()
    return private_redis


@pytest.fixture
def redis_config(redis_server: RedisServer) -> RedisConfig:
    tag = uuid.uuid4().hex[:10]
    return RedisConfig(url=redis_server.url, stream=f"test:{tag}:events", key_prefix=f"test:{tag}", pool_size=4)


async def wait_until(check: Callable[[], bool], *, deadline: float = WAIT, what: str = "the condition") -> None:
    give_up = time.monotonic() + deadline
    while not check():
        if time.monotonic() > give_up:
            raise AssertionError(f"{what} did not hold within {deadline}s")
        await asyncio.sleep(0.01)


async def publish(catalog: Catalog, *names: str) -> list[Event]:
    events = []
    for name in names:
        result = await catalog.publish(definition(name, "1.0.0"), source=api_source())
        assert result.event is not None
        events.append(result.event)
    return events


@dataclass
class Replica:
    """A catalog with its Redis link and bus; ``seen`` collects what its subscribers get."""

    catalog: Catalog
    link: RedisLink
    bus: RedisEventBus
    seen: list[int] = field(default_factory=list)

    async def streaming(self) -> None:
        await wait_until(lambda: self.bus.mode == "streaming", what="streaming")


@contextlib.asynccontextmanager
async def replica(store: ComponentStore, config: RedisConfig, *, follow: bool = False) -> AsyncIterator[Replica]:
    """A replica over ``store`` (shared, not closed here). Without ``follow`` it runs no
    polling task, so other replicas' events reach it through the stream only."""
    catalog = Catalog(store, owns_store=False)
    await catalog.start()
    link = RedisLink(config, cooldown=0.2)
    bus = RedisEventBus(
        catalog,
        link,
        stream=config.stream,
        maxlen=config.stream_maxlen,
        streaming_poll_interval=60.0,
        polling_interval=0.05,
    )
    node = Replica(catalog, link, bus)
    tasks = [asyncio.create_task(_collect(catalog, node.seen))]
    if follow:
        tasks.append(asyncio.create_task(bus.follow()))
    bus.start()
    try:
        yield node
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await bus.stop()
        await link.aclose()
        await catalog.close()


async def _collect(catalog: Catalog, seen: list[int]) -> None:
    async for item in catalog.subscribe(since=catalog.revision):
        if not isinstance(item, StreamReset):
            seen.append(item.sequence)
