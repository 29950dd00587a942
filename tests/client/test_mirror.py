"""``Mirror`` against the real app over loopback: the first copy (replay, or listing when the
replay is gone), following live changes, outages, resets, a restored upstream, the SQLite
snapshot, and the mirror's own subscribers. "Same" always means byte-equal resource bodies for
every (name, version), the same revision, and the same answers to the read API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from nestor_catalog_client import Mirror, ReconnectPolicy
from nestor_catalog_client._snapshot import SnapshotFile
from nestor_catalog_core import Catalog, CatalogReader, Event, EventType, StreamReset
from tests.client.conftest import seed
from tests.client.helpers import (
    API_SOURCE,
    WAIT,
    LiveServer,
    deprecate,
    eventually,
    free_port,
    new_catalog,
    publish,
)

FAST = ReconnectPolicy(initial_delay=0.05, max_delay=0.2)


def mirror_of(server: LiveServer, **kwargs: Any) -> Mirror:
    return Mirror(server.url, reconnect=FAST, heartbeat_timeout=WAIT, flush_interval=0.01, **kwargs)


@pytest.fixture
async def mirror(live: LiveServer) -> AsyncIterator[Mirror]:
    async with asyncio.timeout(WAIT), mirror_of(live) as mirror:
        yield mirror


def bodies(reader: CatalogReader) -> dict[tuple[str, str], bytes]:
    return {key: entry.body() for key, entry in reader._model.versions.items()}


def assert_same(mirror: Mirror, catalog: Catalog) -> None:
    assert mirror.revision == catalog.revision
    assert bodies(mirror) == bodies(catalog)
    assert mirror.stats() == catalog.stats()
    assert mirror.names() == catalog.names()
    listed = [entry.body() for entry in mirror.list_latest(limit=1000, facets=True).items]
    assert listed == [entry.body() for entry in catalog.list_latest(limit=1000, facets=True).items]
    assert mirror.facets() == catalog.facets()
    assert [e.name for e in mirror.search("database").items] == [e.name for e in catalog.search("database").items]
    for name in catalog.names():
        assert mirror.latest(name).to_dict() == catalog.latest(name).to_dict()
        assert [e.version for e in mirror.versions(name)] == [e.version for e in catalog.versions(name)]


async def sync(mirror: Mirror, catalog: Catalog) -> None:
    async with asyncio.timeout(WAIT):
        await mirror.wait_for(catalog.revision)
    assert_same(mirror, catalog)


async def test_first_copy_by_replay(mirror: Mirror, catalog: Catalog) -> None:
    assert mirror.ready
    assert_same(mirror, catalog)
    status = mirror.status()
    assert (status.ready, status.connected, status.lag_events, status.lag_seconds) == (True, True, 0, 0.0)
    assert status.full_syncs == 1
    assert status.upstream_revision == catalog.revision
    assert mirror.read_only
    assert mirror.resolve("aws-rds-mysql", "~1.1").version == "1.1.0"


async def test_first_copy_by_listing_when_the_replay_is_gone(live: LiveServer, catalog: Catalog) -> None:
    source = catalog.entry("aws-rds-mysql", "1.1.0").stored.source
    await catalog.withdraw("aws-rds-mysql", "1.1.0", source=source)
    await deprecate(catalog, "gcp-cloudsql-postgres", "1.0.0")
    await catalog.store.trim_events(keep_last=1)
    async with asyncio.timeout(WAIT), mirror_of(live) as mirror:
        assert_same(mirror, catalog)
        assert mirror.entry("aws-rds-mysql", "1.1.0").withdrawn
        assert mirror.entry("gcp-cloudsql-postgres", "1.0.0").deprecated
        assert mirror.status().full_syncs == 1


async def test_follows_every_kind_of_change(mirror: Mirror, catalog: Catalog) -> None:
    await publish(catalog, "brand-new")
    await publish(catalog, "aws-rds-mysql", "1.3.0", optional=["extra_0", "extra_1", "extra_2"])
    await deprecate(catalog, "aws-s3-bucket", "1.0.0")
    source = catalog.entry("azure-vnet", "1.0.0").stored.source
    await catalog.withdraw("azure-vnet", "1.0.0", source=source)
    await sync(mirror, catalog)
    assert "azure-vnet" not in mirror.names()
    await catalog.restore("azure-vnet", "1.0.0", source=source)
    await sync(mirror, catalog)
    assert mirror.status().full_syncs == 1


async def test_serves_through_an_outage_and_catches_up(mirror: Mirror, catalog: Catalog, live: LiveServer) -> None:
    since = mirror.revision
    seen: list[Event | StreamReset] = []

    async def collect() -> None:
        async for item in mirror.subscribe(since=since):
            seen.append(item)

    collector = asyncio.create_task(collect())
    await publish(catalog, "before-outage")
    await sync(mirror, catalog)
    await live.stop()
    await eventually(lambda: not mirror.status().connected)
    for index in range(5):
        await publish(catalog, f"during-outage-{index}")
    assert mirror.latest("before-outage").version == "1.0.0"
    assert not mirror.has("during-outage-0")
    status = mirror.status()
    assert not status.connected
    assert status.lag_seconds is not None
    assert status.lag_seconds > 0
    await live.start()
    await sync(mirror, catalog)
    await eventually(lambda: len(seen) >= 6)
    collector.cancel()
    assert [item.sequence for item in seen] == list(range(since + 1, since + 7))
    assert all(isinstance(item, Event) for item in seen)
    assert mirror.status().full_syncs == 1
    assert mirror.status().sessions >= 2


async def test_mirror_events_carry_the_upstream_sequences(mirror: Mirror, catalog: Catalog) -> None:
    await publish(catalog, "one-more")
    await sync(mirror, catalog)
    replayed: list[Event] = []
    async for item in mirror.subscribe(since=0):
        assert isinstance(item, Event)
        replayed.append(item)
        if item.sequence == catalog.revision:
            break
    upstream = await catalog.store.read_events(0, 1000)
    assert [(e.sequence, e.type, e.name, e.version) for e in replayed] == [
        (e.sequence, e.type, e.name, e.version) for e in upstream
    ]
    filtered = mirror.subscribe(provider="gcp", since=0)
    first = await anext(aiter(filtered))
    assert isinstance(first, Event)
    assert first.provider == "gcp"


async def test_validation_failures_get_the_names_attributes(mirror: Mirror, catalog: Catalog) -> None:
    await catalog.record_rejection(
        code="VALIDATION_FAILED", message="bad", name="gcp-cloudsql-postgres", version="3.0.0", source=API_SOURCE
    )
    await sync(mirror, catalog)
    stream = mirror.subscribe(types=["validation.failed"], provider="gcp", since=catalog.revision - 1)
    event = await anext(aiter(stream))
    assert isinstance(event, Event)
    assert (event.type, event.name, event.category) == (
        EventType.VALIDATION_FAILED,
        "gcp-cloudsql-postgres",
        "database",
    )


async def test_a_reset_while_following_relists_and_resets_subscribers(
    mirror: Mirror, catalog: Catalog, live: LiveServer
) -> None:
    since = mirror.revision
    stream = aiter(mirror.subscribe(since=since))
    await live.stop()
    for index in range(3):
        await publish(catalog, f"missed-{index}")
    await catalog.store.trim_events(keep_last=1)
    await live.start()
    await sync(mirror, catalog)
    assert mirror.status().full_syncs == 2
    reset = await anext(stream)
    assert isinstance(reset, StreamReset)
    assert reset.sequence == catalog.revision
    await publish(catalog, "after-the-reset")
    following = await anext(stream)
    assert isinstance(following, Event)
    assert following.name == "after-the-reset"


async def test_a_copy_after_retention_has_fully_withdrawn_names_too(catalog: Catalog) -> None:
    await publish(catalog, "soon-gone")
    await catalog.withdraw("soon-gone", "1.0.0", source=API_SOURCE)
    await catalog.store.trim_events(keep_last=1)
    async with LiveServer(catalog) as server, asyncio.timeout(WAIT), mirror_of(server) as mirror:
        assert mirror.status().full_syncs == 1
        assert mirror.get("soon-gone", "1.0.0").withdrawn
        assert_same(mirror, catalog)


async def test_an_upstream_behind_the_mirror_is_copied_again(mirror: Mirror, live: LiveServer) -> None:
    await live.stop()
    fresh = await new_catalog()
    try:
        await publish(fresh, "only-thing")
        async with LiveServer(fresh, port=live.port):
            await eventually(lambda: mirror.status().full_syncs >= 2)
            await sync(mirror, fresh)
            assert mirror.names() == ["only-thing"]
    finally:
        await fresh.close()


async def test_the_snapshot_serves_without_the_upstream(live: LiveServer, catalog: Catalog, tmp_path: Path) -> None:
    path = tmp_path / "mirror.db"
    async with asyncio.timeout(WAIT), mirror_of(live, persist=path) as first:
        await publish(catalog, "persisted")
        await sync(first, catalog)
    await live.stop()
    async with asyncio.timeout(WAIT), mirror_of(live, persist=path) as second:
        assert second.ready
        assert_same(second, catalog)
        status = second.status()
        assert status.persisted_revision == catalog.revision
        assert status.snapshot == str(path)
        assert not status.connected
        await publish(catalog, "published-while-the-mirror-was-alone")
        await live.start()
        await sync(second, catalog)
    snapshot = SnapshotFile(path).load()
    assert snapshot is not None
    assert snapshot.revision == catalog.revision
    assert snapshot.upstream == live.url
    assert [e.sequence for e in snapshot.events] == list(range(1, catalog.revision + 1))
    assert {v.key for v in snapshot.versions} == set(bodies(catalog))


async def test_a_snapshot_of_another_upstream_is_ignored(live: LiveServer, catalog: Catalog, tmp_path: Path) -> None:
    path = tmp_path / "mirror.db"
    async with asyncio.timeout(WAIT), mirror_of(live, persist=path):
        pass
    other = await new_catalog()
    try:
        async with LiveServer(other) as elsewhere, asyncio.timeout(WAIT), mirror_of(elsewhere, persist=path) as mirror:
            assert mirror.names() == []
            assert mirror.revision == 0
    finally:
        await other.close()
    snapshot = SnapshotFile(path).load()
    assert snapshot is not None
    assert snapshot.revision == 0


async def test_an_unreachable_upstream_is_reported() -> None:
    mirror = Mirror(f"http://127.0.0.1:{free_port()}", reconnect=FAST)
    await mirror.start(wait=False)
    try:
        await eventually(lambda: mirror.status().last_error is not None)
        status = mirror.status()
        assert not status.ready
        assert status.last_error is not None
        assert "unreachable" in status.last_error
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):
                await mirror.wait_ready()
    finally:
        await mirror.close()


def upstream_with_a_gap(*, export: bool = True) -> httpx.MockTransport:
    """An upstream whose stream skips a sequence (an event type this client does not know):
    a protocol edge case no real server produces on demand. Without ``export`` it is an
    older server that answers 404 there, so the mirror lists instead."""

    def frame(sequence: int, kind: str) -> bytes:
        return f'id: {sequence}\nevent: {kind}\ndata: {{"repository": "r"}}\n\n'.encode()

    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/v1/status":
            return httpx.Response(200, json={"revision": 3})
        if path == "/api/v1/export":
            if export:
                return httpx.Response(200, content=b"", headers={"x-catalog-revision": "3"})
            envelope = {"code": "NOT_FOUND", "message": "Not found", "service": "catalog", "details": {}}
            return httpx.Response(404, json={"error": {**envelope, "trace_id": "t"}})
        if path == "/api/v1/resources":
            return httpx.Response(200, json={"items": [], "total": 0, "next_cursor": None, "revision": 3})
        if request.headers.get("last-event-id") == "0":
            body = frame(1, "sync.completed") + frame(2, "resource.renamed") + frame(3, "sync.completed")
        else:
            body = b""
        return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})

    return httpx.MockTransport(handle)


@pytest.mark.parametrize("export", [True, False], ids=["export", "listing"])
async def test_a_gap_makes_the_mirror_copy_everything_instead_of_skipping(export: bool) -> None:
    transport = upstream_with_a_gap(export=export)
    async with asyncio.timeout(WAIT), Mirror("http://t", transport=transport, reconnect=FAST) as mirror:
        assert mirror.revision == 3
        assert mirror.status().full_syncs == 1
        assert await mirror.read_events(0, 10) == []


async def test_snapshot_file_round_trip(tmp_path: Path, catalog: Catalog) -> None:
    path = tmp_path / "nested" / "m.db"
    snapshot = SnapshotFile(path)
    versions = [entry.stored for entry in catalog._model.versions.values()]
    events = await catalog.store.read_events(0, 1000)
    snapshot.replace("http://up", catalog.revision, versions, events)
    snapshot.update("http://up", catalog.revision + 1, versions[:1], [], keep_events=2)
    snapshot.close()
    loaded = SnapshotFile(path).load()
    assert loaded is not None
    assert loaded.revision == catalog.revision + 1
    assert sorted(v.key for v in loaded.versions) == sorted(v.key for v in versions)
    assert [e.sequence for e in loaded.events] == [catalog.revision - 1, catalog.revision]
    assert json.loads(loaded.versions[0].document)["kind"] == "ResourceDefinition"


async def test_a_mirror_of_a_seeded_catalog_on_sqlite(tmp_path: Path) -> None:
    catalog = await new_catalog(f"sqlite:///{tmp_path / 'up.db'}")
    try:
        await seed(catalog)
        async with LiveServer(catalog) as server, asyncio.timeout(WAIT), mirror_of(server) as mirror:
            assert_same(mirror, catalog)
    finally:
        await catalog.close()
