"""``AsyncCatalogClient.subscribe`` against the real app over loopback sockets: typed events in
order, filters, replay, resume after a real disconnect with no missed and no repeated event,
resets, heartbeats and silent connections, 503 admission and errors that end the stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from nestor_catalog_client import AsyncCatalogClient, AsyncSubscription, ReconnectPolicy
from nestor_catalog_client._subscription import heartbeat_timeout_for
from nestor_catalog_core import (
    AuthenticationError,
    Catalog,
    Event,
    EventType,
    ServiceUnavailable,
    StreamReset,
)
from tests.client.helpers import WAIT, LiveServer, app_settings, deprecate, publish

FAST = ReconnectPolicy(initial_delay=0.05, max_delay=0.2)
Item = Event | StreamReset


class Collector:
    """Iterates a subscription in a task, collecting what it yields."""

    def __init__(self, subscription: AsyncSubscription) -> None:
        self.subscription = subscription
        self.items: list[Item] = []
        self.error: BaseException | None = None
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            async for item in self.subscription:
                self.items.append(item)
                self._changed.set()
        except Exception as exc:
            self.error = exc
            self._changed.set()

    async def until(self, condition: Callable[[], bool]) -> None:
        async with asyncio.timeout(WAIT):
            while not condition():
                if self._task.done():
                    raise AssertionError(f"subscription ended: {self.error!r}")
                self._changed.clear()
                try:
                    async with asyncio.timeout(0.05):
                        await self._changed.wait()
                except TimeoutError:
                    pass

    async def count(self, n: int) -> list[Item]:
        await self.until(lambda: len(self.items) >= n)
        return self.items

    async def connected(self) -> None:
        await self.until(lambda: self.subscription.connected)

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self.subscription.aclose()


@asynccontextmanager
async def collecting(subscription: AsyncSubscription) -> AsyncIterator[Collector]:
    collector = Collector(subscription)
    try:
        yield collector
    finally:
        await collector.close()


@pytest.fixture
async def upstream(live: LiveServer) -> AsyncIterator[AsyncCatalogClient]:
    async with AsyncCatalogClient(live.url) as client:
        yield client


def sequences(items: list[Item]) -> list[int]:
    return [item.sequence for item in items]


async def test_live_events_arrive_typed_and_in_order(upstream: AsyncCatalogClient, catalog: Catalog) -> None:
    async with collecting(upstream.subscribe(heartbeat_timeout=WAIT)) as events:
        await events.connected()
        head = catalog.revision
        await publish(catalog, "brand-new")
        await publish(catalog, "brand-new", "1.1.0")
        await deprecate(catalog, "brand-new", "1.0.0")
        items = await events.count(3)
    assert sequences(items) == [head + 1, head + 2, head + 3]
    assert all(isinstance(item, Event) for item in items)
    created, updated, deprecated = (item for item in items if isinstance(item, Event))
    assert (created.type, created.name, created.version) == (EventType.RESOURCE_CREATED, "brand-new", "1.0.0")
    assert (updated.type, updated.version) == (EventType.RESOURCE_UPDATED, "1.1.0")
    assert deprecated.type is EventType.RESOURCE_DEPRECATED
    assert deprecated.data["metadata"]["deprecation"]["message"] == "use something else"
    assert (created.provider, created.category, created.resource_type) == ("aws", "database", "mysql")


async def test_replay_from_a_position_then_live(upstream: AsyncCatalogClient, catalog: Catalog) -> None:
    head = catalog.revision
    async with collecting(upstream.subscribe(since=0, heartbeat_timeout=WAIT)) as events:
        await events.count(head)
        await publish(catalog, "after-replay")
        items = await events.count(head + 1)
    assert sequences(items) == list(range(1, head + 2))


async def test_filters_combine(upstream: AsyncCatalogClient, catalog: Catalog) -> None:
    since = catalog.revision
    subscription = upstream.subscribe(
        provider="aws", category="database", types=["resource.created"], since=since, heartbeat_timeout=WAIT
    )
    async with collecting(subscription) as events:
        await publish(catalog, "gcp-thing", provider="gcp")
        await publish(catalog, "aws-bucket-two", category="storage")
        await publish(catalog, "aws-rds-mysql", "1.3.0", optional=["extra_0", "extra_1", "extra_2"])  # updated
        await publish(catalog, "aws-aurora")
        items = await events.count(1)
        await publish(catalog, "aws-docdb")
        items = await events.count(2)
    assert [item.name for item in items if isinstance(item, Event)] == ["aws-aurora", "aws-docdb"]
    by_name = upstream.subscribe(name="aws-docdb", resource_type="mysql", since=0, heartbeat_timeout=WAIT)
    async with collecting(by_name) as events:
        (only,) = await events.count(1)
    assert isinstance(only, Event)
    assert only.name == "aws-docdb"


async def test_resume_after_the_server_went_away(
    upstream: AsyncCatalogClient, catalog: Catalog, live: LiveServer
) -> None:
    since = catalog.revision
    async with collecting(upstream.subscribe(since=since, heartbeat_timeout=WAIT, reconnect=FAST)) as events:
        await publish(catalog, "before-outage")
        await events.count(1)
        await live.stop()
        await events.until(lambda: not events.subscription.connected)
        for index in range(3):
            await publish(catalog, f"during-outage-{index}")
        await live.start()
        await publish(catalog, "after-outage")
        items = await events.count(5)
    assert sequences(items) == list(range(since + 1, since + 6))
    assert [item.name for item in items if isinstance(item, Event)] == [
        "before-outage",
        "during-outage-0",
        "during-outage-1",
        "during-outage-2",
        "after-outage",
    ]
    state = events.subscription.state
    assert state.connections >= 2
    assert state.last_event_id == since + 5


async def test_a_position_older_than_retention_yields_a_reset(upstream: AsyncCatalogClient, catalog: Catalog) -> None:
    head = catalog.revision
    await catalog.store.trim_events(keep_last=2)
    async with collecting(upstream.subscribe(since=1, heartbeat_timeout=WAIT)) as events:
        (reset,) = await events.count(1)
        await publish(catalog, "after-reset")
        items = await events.count(2)
    assert isinstance(reset, StreamReset)
    assert reset.sequence == head
    assert reset.requested == 1
    assert reset.first_available == head - 1
    assert isinstance(items[1], Event)
    assert items[1].sequence == head + 1


async def test_a_silent_connection_is_replaced(catalog: Catalog) -> None:
    settings = app_settings(sse={"heartbeat_interval": "1h"})
    async with LiveServer(catalog, settings) as quiet, AsyncCatalogClient(quiet.url) as client:
        since = catalog.revision
        subscription = client.subscribe(since=since, heartbeat_timeout=0.2, reconnect=FAST)
        async with collecting(subscription) as events:
            await events.until(lambda: subscription.state.connections >= 3)
            await publish(catalog, "heard-after-silence")
            (item,) = await events.count(1)
    assert isinstance(item, Event)
    assert item.sequence == since + 1
    assert subscription.state.last_error is not None
    assert "presumed dead" in subscription.state.last_error.message


async def test_heartbeats_keep_a_quiet_connection_alive(catalog: Catalog) -> None:
    settings = app_settings(sse={"heartbeat_interval": "50ms"})
    async with LiveServer(catalog, settings) as chatty, AsyncCatalogClient(chatty.url) as client:
        subscription = client.subscribe(heartbeat_timeout=WAIT)
        async with collecting(subscription) as events:
            await events.until(lambda: subscription.state.heartbeats >= 3)
    assert subscription.state.connections == 1
    assert subscription.state.last_heartbeat_time is not None
    assert subscription.state.server_retry == pytest.approx(0.1)


async def test_full_server_is_retried_until_a_slot_frees(catalog: Catalog) -> None:
    settings = app_settings(sse={"max_connections": 1, "retry": "50ms"})
    async with LiveServer(catalog, settings) as small, AsyncCatalogClient(small.url) as client:
        first = client.subscribe(heartbeat_timeout=WAIT)
        async with collecting(first) as holder:
            await holder.connected()
            since = catalog.revision
            second = client.subscribe(since=since, heartbeat_timeout=WAIT, reconnect=FAST)
            async with collecting(second) as waiter:
                await waiter.until(lambda: second.state.failures >= 2)
                assert isinstance(second.state.last_error, ServiceUnavailable)
                await holder.close()
                await publish(catalog, "after-the-slot-freed")
                (item,) = await waiter.count(1)
    assert isinstance(item, Event)
    assert item.sequence == since + 1


async def test_refusals_that_retrying_cannot_fix_end_the_stream(catalog: Catalog) -> None:
    secret = "s" * 40
    settings = app_settings(auth={"enabled": True, "hs256_secret": secret, "algorithms": ["HS256"]})
    async with LiveServer(catalog, settings) as guarded, AsyncCatalogClient(guarded.url) as client:
        subscription = client.subscribe(heartbeat_timeout=WAIT)
        with pytest.raises(AuthenticationError):
            await anext(aiter(subscription))
    assert subscription.state.last_error is not None


async def test_lifecycle_events_evict_cached_versions(upstream: AsyncCatalogClient, catalog: Catalog) -> None:
    assert upstream.cache is not None
    await upstream.get_resource("aws-s3-bucket", "1.0.0")
    await upstream.get_resource("aws-rds-mysql", "1.0.0")
    assert len(upstream.cache) == 2
    async with collecting(upstream.subscribe(since=catalog.revision, heartbeat_timeout=WAIT)) as events:
        await deprecate(catalog, "aws-s3-bucket", "1.0.0")
        await events.count(1)
    assert len(upstream.cache) == 1


# --------------------------------------------------------------------------------------------- edge cases


def stream_of(*bodies: bytes, content_type: str = "text/event-stream") -> httpx.MockTransport:
    """Protocol edge cases no real server produces on demand: one body per connection."""
    queue = list(bodies)

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/status":
            return httpx.Response(200, json={"revision": 0, "sse": {"heartbeat_interval": 4}})
        return httpx.Response(200, content=queue.pop(0) if queue else b"", headers={"content-type": content_type})

    return httpx.MockTransport(handle)


async def test_malformed_frames_are_skipped_and_counted() -> None:
    body = (
        b'id: 1\nevent: sync.completed\ndata: {"repository": "a"}\n\n'
        b"id: 2\nevent: sync.completed\ndata: {broken\n\n"
        b'id: 3\nevent: sync.failed\ndata: {"repository": "a"}\n\n'
    )
    async with AsyncCatalogClient("http://t", transport=stream_of(body)) as client:
        subscription = client.subscribe(reconnect=ReconnectPolicy(max_attempts=0))
        received: list[Any] = []

        async def drain() -> None:
            async for item in subscription:
                received.append(item)

        with pytest.raises(ServiceUnavailable, match="gave up after 0 reconnection"):
            await drain()
    assert sequences(received) == [1, 3]
    assert subscription.state.malformed == 1
    assert subscription.state.heartbeat_timeout == 10.0  # 2.5 x the interval the status publishes


async def test_a_non_stream_answer_is_refused() -> None:
    transport = stream_of(b"<html>login</html>", content_type="text/html")
    async with AsyncCatalogClient("http://t", transport=transport) as client:
        with pytest.raises(ServiceUnavailable, match="not an event stream"):
            await anext(aiter(client.subscribe()))


def test_heartbeat_timeout_follows_the_servers_interval() -> None:
    assert heartbeat_timeout_for({"sse": {"heartbeat_interval": 10}}) == 25.0
    assert heartbeat_timeout_for({"sse": {"connections": 1}}) == 75.0
    assert heartbeat_timeout_for({"sse": {"heartbeat_interval": True}}) == 75.0
    assert heartbeat_timeout_for(None) == 75.0
