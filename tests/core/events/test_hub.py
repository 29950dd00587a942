from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from nestor_catalog_core.events import EventFilter, EventHub, StreamReset
from nestor_catalog_core.models import Event, EventType

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _event(seq: int, provider: str = "aws") -> Event:
    return Event(type=EventType.RESOURCE_CREATED, time=NOW, sequence=seq, provider=provider, name=f"n{seq}")


class FakeLog:
    """The durable log side of a stream: a plain list standing in for storage reads."""

    def __init__(self, events: list[Event], first: int = 1) -> None:
        self.events = events
        self.first = first
        self.reads = 0

    async def read(self, after: int, limit: int) -> list[Event]:
        self.reads += 1
        return [e for e in self.events if e.sequence > after][:limit]

    async def first_sequence(self) -> int:
        return self.first


class ObservedHub(EventHub):
    """An ``EventHub`` that tells the test each time a stream has caught up and starts waiting
    for newer events, so the test appends exactly then, without sleeping."""

    def __init__(self, capacity: int = 10_000) -> None:
        super().__init__(capacity=capacity)
        self.parks = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    async def wait_beyond(self, sequence: int) -> bool:
        self.parks += 1
        for times, waiter in self._waiters:
            if self.parks >= times and not waiter.done():
                waiter.set_result(None)
        return await super().wait_beyond(sequence)

    async def parked(self, times: int = 1) -> None:
        """Return once streams have started waiting ``times`` times in all."""
        if self.parks >= times:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append((times, waiter))
        await asyncio.wait_for(waiter, 2)


async def _collect(stream: object, count: int) -> list[Event | StreamReset]:
    out: list[Event | StreamReset] = []
    async for item in stream:  # type: ignore[attr-defined]
        out.append(item)
        if len(out) == count:
            break
    return out


async def test_replay_from_ring_then_live() -> None:
    hub = ObservedHub(capacity=100)
    log = FakeLog([_event(i) for i in range(1, 6)])
    for e in log.events:
        hub.append(e)
    stream = hub.stream(since=2, event_filter=EventFilter(), read_events=log.read, first_sequence=log.first_sequence)
    task = asyncio.create_task(_collect(stream, 5))
    await hub.parked()  # 3, 4 and 5 replayed: now live
    hub.append(_event(6))
    hub.append(_event(7))
    got = await asyncio.wait_for(task, 2)
    assert [e.sequence for e in got if isinstance(e, Event)] == [3, 4, 5, 6, 7]
    assert log.reads == 0  # served from memory


async def test_reads_storage_when_ring_does_not_reach_back() -> None:
    hub = EventHub(capacity=3)
    log = FakeLog([_event(i) for i in range(1, 11)])
    for e in log.events:
        hub.append(e)
    stream = hub.stream(since=0, event_filter=EventFilter(), read_events=log.read, first_sequence=log.first_sequence)
    got = await asyncio.wait_for(_collect(stream, 10), 2)
    assert [e.sequence for e in got if isinstance(e, Event)] == list(range(1, 11))
    assert log.reads >= 1


async def test_reset_when_older_than_retention() -> None:
    hub = ObservedHub(capacity=3)
    log = FakeLog([_event(i) for i in range(6, 11)], first=6)
    for e in log.events:
        hub.append(e)
    stream = hub.stream(since=2, event_filter=EventFilter(), read_events=log.read, first_sequence=log.first_sequence)
    task = asyncio.create_task(_collect(stream, 2))
    await hub.parked()
    hub.append(_event(11))
    got = await asyncio.wait_for(task, 2)
    assert got[0] == StreamReset(sequence=10, requested=2, first_available=6)
    assert isinstance(got[1], Event)
    assert got[1].sequence == 11


async def test_filter_and_close_ends_stream() -> None:
    hub = ObservedHub()
    log = FakeLog([])
    stream = hub.stream(
        since=None, event_filter=EventFilter(provider="gcp"), read_events=log.read, first_sequence=log.first_sequence
    )

    async def consume() -> list[int]:
        return [e.sequence async for e in stream if isinstance(e, Event)]

    task = asyncio.create_task(consume())
    await hub.parked()  # "from now" is fixed when the stream starts
    hub.append(_event(1, "aws"))
    hub.append(_event(2, "gcp"))
    await hub.parked(2)  # both read, the stream waits again
    hub.close()
    assert await asyncio.wait_for(task, 2) == [2]


async def test_duplicates_are_ignored_and_jumps_clear_ring() -> None:
    hub = EventHub(capacity=10)
    hub.append(_event(1))
    hub.append(_event(1))
    assert hub.head == 1
    hub.append(_event(5))
    assert hub.recent_after(0, 10) is None
    assert [e.sequence for e in hub.recent_after(4, 10) or []] == [5]


def test_recent_after_from_either_end_of_a_full_ring() -> None:
    hub = EventHub(capacity=100)
    for seq in range(1, 251):
        hub.append(_event(seq))
    assert [e.sequence for e in hub.recent_after(249, 10) or []] == [250]
    assert [e.sequence for e in hub.recent_after(240, 3) or []] == [241, 242, 243]
    assert [e.sequence for e in hub.recent_after(151, 2) or []] == [152, 153]
    assert [e.sequence for e in hub.recent_after(160, 100) or []] == list(range(161, 251))
    assert hub.recent_after(149, 10) is None
    assert hub.recent_after(250, 10) == []


async def test_gap_that_no_log_covers_resets_instead_of_spinning() -> None:
    hub = ObservedHub(capacity=10)
    log = FakeLog([])
    for seq in range(1, 4):
        hub.append(_event(seq))
    stream = hub.stream(since=None, event_filter=EventFilter(), read_events=log.read, first_sequence=log.first_sequence)
    task = asyncio.create_task(_collect(stream, 2))
    await hub.parked()
    hub.reset_head(50)  # a rebuilt model jumped ahead; nothing durable covers 4..50
    await hub.parked(2)  # the reset sent, the stream waits beyond 50
    hub.append(_event(51))
    got = await asyncio.wait_for(task, 2)
    assert got[0] == StreamReset(sequence=50, requested=3, first_available=51)
    assert isinstance(got[1], Event)
    assert got[1].sequence == 51
    assert log.reads == 1


def test_older_ring_entries_are_packed_and_read_back_equal() -> None:
    from nestor_catalog_core.events.hub import HOT_EVENTS

    hub = EventHub(capacity=HOT_EVENTS * 3)
    events = [_event(seq) for seq in range(1, HOT_EVENTS * 2 + 1)]
    for event in events:
        event.data["resource"] = {"nested": list(range(event.sequence % 5)), "text": "ünïcode"}
        hub.append(event)
    packed = [type(item).__name__ == "_Packed" for item in hub._ring]
    assert packed == [True] * HOT_EVENTS + [False] * HOT_EVENTS
    assert hub.recent_after(0, len(events)) == events  # from the old end, packed entries included
    assert hub.recent_after(len(events) - 3, 10) == events[-3:]  # the live end, never packed
    assert hub.recent_after(HOT_EVENTS - 2, 3) == events[HOT_EVENTS - 2 : HOT_EVENTS + 1]  # across the edge


def test_events_appended_with_their_json_are_packed_from_it() -> None:
    import json

    from nestor_catalog_core.events.hub import HOT_EVENTS

    hub = EventHub(capacity=HOT_EVENTS * 2)
    events = [_event(seq) for seq in range(1, HOT_EVENTS * 2 + 1)]
    for event in events:
        event.data["n"] = event.sequence
        hub.append(event, data_json=json.dumps({"n": event.sequence, "from": "json"}).encode())
    assert len(hub._json) == HOT_EVENTS  # only the hot events' JSON is held
    [oldest] = hub.recent_after(0, 1)
    assert oldest.data == {"n": 1, "from": "json"}  # the packed data is the JSON given
    assert hub.recent_after(len(events) - 1, 1) == events[-1:]
