"""In-process fan-out of the event log to subscribers.

The ``Catalog`` appends every event it applies, in sequence order, to an ``EventHub``; a
bounded ring keeps the most recent ones so a thousand live subscribers wake up and read
from memory instead of storage. A subscriber further behind than the ring reads the
durable log from the store; one further behind than the store's retention gets a
``StreamReset`` and must re-list (the SSE ``event: reset``).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from itertools import islice

from nestor_catalog_core.events.filters import EventFilter
from nestor_catalog_core.models import Event

__all__ = ["EventHub", "StreamReset"]


@dataclass(frozen=True, slots=True)
class StreamReset:
    """The requested position is older than the retained log: re-list, then continue from
    ``sequence`` (the newest sequence at the time of the reset)."""

    sequence: int
    requested: int
    first_available: int


#: Reads ``(after, limit) -> events`` from durable storage.
ReadEvents = Callable[[int, int], Awaitable[list[Event]]]
#: The oldest retained sequence in durable storage.
FirstSequence = Callable[[], Awaitable[int]]


#: Events at the new end of the ring kept as they are; older ones are packed (``_Packed``).
HOT_EVENTS = 256
_EMPTY: dict[str, object] = {}


@dataclass(frozen=True, slots=True)
class _Packed:
    """An older ring entry: the event without its data, and the data as compact JSON. A
    resource event's data is the whole resource (about 9 KB of dicts and strings for a 2 KB
    definition); as JSON it is a third of that, and only replays that reach back past the
    newest ``HOT_EVENTS`` parse it again."""

    event: Event
    data: bytes

    @property
    def sequence(self) -> int:
        return self.event.sequence

    def unpack(self) -> Event:
        return replace(self.event, data=json.loads(self.data), data_json=None)

    @classmethod
    def of(cls, event: Event, data_json: bytes | None = None) -> _Packed:
        if data_json is None:
            data_json = json.dumps(event.data, separators=(",", ":"), ensure_ascii=False).encode()
        return cls(replace(event, data=_EMPTY, data_json=None), data_json)


def _unpacked(items: list[Event | _Packed]) -> list[Event]:
    return [item.unpack() if isinstance(item, _Packed) else item for item in items]


class EventHub:
    """Ring buffer of recent events plus a wake-up signal for waiting subscribers. The newest
    ``HOT_EVENTS`` are kept as they are (live subscribers read those); older ones are packed."""

    def __init__(self, *, capacity: int = 10_000, head: int = 0) -> None:
        self._ring: deque[Event | _Packed] = deque(maxlen=capacity)
        self._json: dict[int, bytes] = {}  # sequence -> data as JSON, for hot events appended with it
        self._head = head  # newest sequence seen
        self._changed = asyncio.Event()
        self._closed = False

    @property
    def head(self) -> int:
        return self._head

    def reset_head(self, head: int) -> None:
        """Start over at ``head`` (after a rebuild); older ring entries are dropped."""
        self._ring.clear()
        self._json.clear()
        self._head = head
        self._notify()

    def append(self, event: Event, *, data_json: bytes | None = None) -> None:
        """Add the next event; sequences must arrive in order (the Catalog guarantees it).
        ``data_json`` is ``event.data`` as JSON when the caller has it (packing then needs no
        serialization)."""
        if event.sequence <= self._head:
            return
        if self._ring and event.sequence != self._ring[-1].sequence + 1:
            self._ring.clear()  # a jump: older ring entries are no longer contiguous
            self._json.clear()
        ring = self._ring
        ring.append(event)
        if data_json is not None and (ring.maxlen is None or ring.maxlen > HOT_EVENTS):
            self._json[event.sequence] = data_json
        if len(ring) > HOT_EVENTS:
            aged = ring[-HOT_EVENTS - 1]
            if isinstance(aged, Event):
                known = self._json.pop(aged.sequence, None)
                if aged.data:
                    ring[-HOT_EVENTS - 1] = _Packed.of(aged, known)
        self._head = event.sequence
        self._notify()

    def close(self) -> None:
        """Wake every subscriber and end their iterators (server shutdown)."""
        self._closed = True
        self._notify()

    @property
    def closed(self) -> bool:
        return self._closed

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def recent_after(self, after: int, limit: int) -> list[Event] | None:
        """Events with ``sequence > after`` from the ring, or None when the ring does not
        reach back that far."""
        if after >= self._head:
            return []
        if not self._ring or self._ring[0].sequence > after + 1:
            return None
        start = after + 1 - self._ring[0].sequence
        length = len(self._ring)
        if start > length // 2:
            # Live subscribers want the last few events: walk from the right end, so a
            # wake-up costs what it returns, not the ring's length.
            tail = list(islice(reversed(self._ring), length - start))
            tail.reverse()
            return _unpacked(tail[:limit])
        return _unpacked(list(islice(self._ring, start, start + limit)))

    async def wait_beyond(self, sequence: int) -> bool:
        """Wait until an event newer than ``sequence`` exists (True) or the hub closes
        (False). Wrap in ``asyncio.timeout`` to bound the wait."""
        while self._head <= sequence and not self._closed:
            await self._changed.wait()
        return self._head > sequence

    async def stream(
        self,
        *,
        since: int | None,
        event_filter: EventFilter,
        read_events: ReadEvents,
        first_sequence: FirstSequence,
        batch: int = 500,
    ) -> AsyncIterator[Event | StreamReset]:
        """Every event after ``since`` (or from now when None), then live ones, filtered.

        Yields a ``StreamReset`` first when ``since`` is older than retention; iteration ends
        when the hub is closed.
        """
        last = self._head if since is None else since
        if since is not None and since < self._head:
            first = await first_sequence()
            if since + 1 < first:
                yield StreamReset(sequence=self._head, requested=since, first_available=first)
                last = self._head
        while not self._closed:
            events = self.recent_after(last, batch)
            if events is None:
                events = await read_events(last, batch)
                if (events and events[0].sequence != last + 1) or (not events and self._head > last):
                    # Neither the ring nor the durable log holds what follows ``last`` (it was
                    # trimmed, or the model was swapped past it): the subscriber must re-list.
                    first = events[0].sequence if events else self._head + 1
                    yield StreamReset(sequence=self._head, requested=last, first_available=first)
                    last = self._head
                    continue
            if not events:
                await self.wait_beyond(last)
                continue
            for event in events:
                last = event.sequence
                if event_filter.matches(event):
                    yield event
