"""``Catalog.receive``: events written by another process, delivered out of band (a replica's
Redis stream), applied in sequence order under the same lock as ``catch_up``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest

from nestor_catalog_core import Catalog, MemoryStore
from nestor_catalog_core.models import Event, EventType, utcnow
from tests.core.storage.builders import api_source, definition


class GatedStore(MemoryStore):
    """A memory store whose ``read_events`` waits for ``gate`` once ``hold`` is set, so a test
    can park a ``catch_up`` inside its store read."""

    def __init__(self) -> None:
        super().__init__()
        self.hold = False
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()

    async def read_events(self, after: int, limit: int = 1000) -> list[Event]:
        if self.hold:
            self.entered.set()
            await self.gate.wait()
        return await super().read_events(after, limit)


@pytest.fixture
async def store() -> AsyncIterator[GatedStore]:
    store = GatedStore()
    await store.open()
    yield store
    await store.close()


async def open_catalog(store: MemoryStore) -> Catalog:
    catalog = Catalog(store, owns_store=False)
    await catalog.start()
    return catalog


async def written_events(writer: Catalog, count: int, *, start: int = 0) -> list[Event]:
    events = []
    for index in range(start, start + count):
        result = await writer.publish(definition(f"queue-{index}", "1.0.0"), source=api_source())
        assert result.event is not None
        events.append(result.event)
    return events


async def test_events_in_order_are_applied_from_their_copy(store: GatedStore) -> None:
    writer, reader = await open_catalog(store), await open_catalog(store)
    events = await written_events(writer, 3)
    for event in events:
        assert await reader.receive(event)
    assert reader.revision == events[-1].sequence
    assert reader.entry("queue-2", "1.0.0").digest == writer.entry("queue-2", "1.0.0").digest
    assert await reader.receive(events[0]), "an event already applied is reported as included"
    assert reader.revision == events[-1].sequence


async def test_a_gap_is_filled_from_the_store(store: GatedStore) -> None:
    writer, reader = await open_catalog(store), await open_catalog(store)
    events = await written_events(writer, 4)
    assert await reader.receive(events[-1])
    assert reader.revision == events[-1].sequence
    assert all(reader.has(f"queue-{index}", "1.0.0") for index in range(4))


async def test_an_event_the_store_does_not_hold_is_refused(store: GatedStore) -> None:
    reader = await open_catalog(store)
    stranger = Event(type=EventType.SYNC_COMPLETED, time=utcnow(), data={"repository": "elsewhere"}, sequence=7)
    assert not await reader.receive(stranger)
    assert reader.revision == 0


async def test_receive_waits_for_a_catch_up_in_flight_instead_of_forcing_a_rebuild(
    store: GatedStore, caplog: pytest.LogCaptureFixture
) -> None:
    writer, reader = await open_catalog(store), await open_catalog(store)
    events = await written_events(writer, 2)
    store.hold = True
    catching_up = asyncio.create_task(reader.catch_up())
    await store.entered.wait()
    receiving = asyncio.create_task(reader.receive(events[0]))
    await asyncio.sleep(0)
    assert not receiving.done(), "receive must wait for the catch-up holding the apply lock"
    store.hold = False
    store.gate.set()
    with caplog.at_level(logging.WARNING, logger="nestor_catalog.catalog"):
        assert await catching_up == 2
        assert await receiving
    assert reader.revision == events[-1].sequence
    assert "rebuilding" not in caplog.text
