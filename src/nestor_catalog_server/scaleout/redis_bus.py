"""Cross-replica event fan-out through a Redis stream, with polling of the durable log behind it.

Every replica's ``Catalog`` applies events in storage sequence order, whoever wrote them; the
bus only makes other replicas' events arrive sooner than the next poll would bring them.

- **Publishing.** A task follows this catalog's own event hub. Each event applied here that the
  stream has not carried yet (its sequence is above the highest id this replica has seen on the
  stream) is added with ``XADD <stream> MAXLEN ~ <stream_maxlen> <sequence>-1``: in practice the
  events this replica wrote, plus those another writer without Redis (``nestor-catalog sync``,
  a replica that was cut off) left in the store. Redis refuses an id not above the stream's
  top, so an event is on the stream at most once and always in sequence order; an add refused
  that way (two writers racing, the other one's later event got there first) is simply left
  out: the listeners fill such gaps from storage. Resource events also drop the version's
  read-through cache key in the same round trip.
- **Listening.** Another task reads the stream (``XREAD BLOCK``) from the catalog's revision on
  and hands each entry to ``Catalog.receive``: the next event is applied from its copy, a gap
  is read from storage first. SSE clients on every replica therefore see every event in order.
- **Polling.** ``follow()`` (the app's ``follow`` task) reads the store's log every
  ``STREAMING_POLL_INTERVAL`` seconds while the stream is healthy (a safety net) and every
  ``POLLING_INTERVAL`` while it is not: when Redis is down, events still arrive by polling.
  After a reconnection the listener catches up from storage first, then resumes the stream.

On each (re)connection the listener also checks that the stream belongs to this store: a
stream whose top id is above the store's last sequence was written for another store (the
table was recreated, or another deployment shares the Redis) and is deleted, so no event of
another catalog is ever applied.

``status`` is the ``redis`` entry of ``/ready`` and ``/api/v1/status``: ``ok`` (streaming),
``required: false`` (an outage degrades, it does not make the replica unready), ``mode``
(``streaming`` or ``polling``), ``last_error`` and counters.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Literal

from nestor_catalog_core import Catalog, CatalogError, StreamReset
from nestor_catalog_core.models import Event, format_time, utcnow
from nestor_catalog_server.scaleout._redis_link import RedisLink
from nestor_catalog_server.scaleout._tasks import raise_if_cancelling, stop_tasks

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["POLLING_INTERVAL", "STREAMING_POLL_INTERVAL", "Mode", "RedisEventBus"]

log = logging.getLogger("nestor_catalog_server.scaleout.bus")

Mode = Literal["streaming", "polling"]

#: Seconds between two reads of the store's event log while the stream is healthy.
STREAMING_POLL_INTERVAL: Final = 5.0
#: Seconds between two reads of the store's event log while Redis is down.
POLLING_INTERVAL: Final = 0.5
#: Entries one XREAD returns at most.
READ_BATCH: Final = 500
_FIELD: Final = b"e"
_RECONNECT_DELAYS: Final = (0.1, 0.25, 0.5, 1.0, 2.0)
_SMALLER_ID: Final = "equal or smaller than the target stream top item"


def entry_id(sequence: int) -> str:
    return f"{sequence}-1"


def entry_sequence(raw_id: bytes | str) -> int:
    text = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
    return int(text.partition("-")[0])


class RedisEventBus:
    """Fan-out of one catalog's events through the stream ``stream`` (see the module docstring).

    ``invalidate(event)`` names cache keys to delete when the event is published (the
    read-through cache's keys for the version it changes).
    """

    def __init__(
        self,
        catalog: Catalog,
        link: RedisLink,
        *,
        stream: str,
        maxlen: int,
        invalidate: Callable[[Event], Sequence[str]] | None = None,
        streaming_poll_interval: float = STREAMING_POLL_INTERVAL,
        polling_interval: float = POLLING_INTERVAL,
    ) -> None:
        self.catalog = catalog
        self.link = link
        self.stream = stream
        self.maxlen = maxlen
        self._invalidate = invalidate
        self._intervals = {"streaming": streaming_poll_interval, "polling": polling_interval}
        self._mode: Mode = "polling"
        self._mode_changed = asyncio.Event()
        self._top_seen = 0
        self._tasks: list[asyncio.Task[None]] = []
        self.status: dict[str, Any] = {
            "ok": False,
            "required": False,
            "mode": self._mode,
            "url": link.url,
            "stream": stream,
            "since": format_time(utcnow()),
            "last_error": None,
            "published": 0,
            "received": 0,
            "duplicates": 0,
            "gaps_filled": 0,
        }

    @property
    def mode(self) -> Mode:
        return self._mode

    @property
    def poll_interval(self) -> float:
        return self._intervals[self._mode]

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Start listening and publishing (``follow()`` is run by the caller, as the app's
        ``follow`` task)."""
        self._tasks = [
            asyncio.create_task(self._listen(), name="redis-listen"),
            asyncio.create_task(self._publish_applied(), name="redis-publish"),
        ]

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        await stop_tasks(tasks)

    # -- polling -------------------------------------------------------------------------------

    async def follow(self) -> None:
        """Read the store's event log forever: slowly while streaming, fast while not; a mode
        change wakes it at once."""
        while True:
            raise_if_cancelling()
            try:
                await self.catalog.catch_up()
            except CatalogError as exc:
                log.warning("catching up with the event log failed: %s", exc.message, extra={"error_code": exc.code})
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_interval):
                    await self._mode_changed.wait()

    def _set_mode(self, mode: Mode, error: BaseException | None = None) -> None:
        if error is not None:
            self.link.failed(error, "stream")
            self.status["last_error"] = self.link.last_error
        if mode == self._mode:
            return
        self._mode = mode
        self.status.update(ok=mode == "streaming", mode=mode, since=format_time(utcnow()))
        if mode == "streaming":
            self.link.recovered()
            log.info("events fan out through redis again", extra={"operation": "redis_stream", "redis": self.link.url})
        else:
            log.warning(
                "redis stream unavailable: events arrive by polling the store every %.2fs",
                self.poll_interval,
                extra={"operation": "redis_stream", "redis": self.link.url},
            )
        self._mode_changed.set()
        self._mode_changed = asyncio.Event()

    # -- listening -----------------------------------------------------------------------------

    async def _listen(self) -> None:
        failures = 0
        while True:
            raise_if_cancelling()
            try:
                await self._connect(self.link.blocking)
                self._set_mode("streaming")
                failures = 0
                await self._read_forever(self.link.blocking)
            except self.link.errors as exc:
                self._set_mode("polling", exc)
                await asyncio.sleep(_RECONNECT_DELAYS[min(failures, len(_RECONNECT_DELAYS) - 1)])
                failures += 1

    async def _connect(self, redis: Redis) -> None:
        """Check the stream against the store, then catch up from storage."""
        newest: Any = await redis.xrevrange(self.stream, count=1)
        top = entry_sequence(newest[0][0]) if newest else 0
        try:
            head = await self.catalog.store.last_sequence()
            if top > head:
                log.warning(
                    "redis stream %s is ahead of the store (%d > %d): it belongs to another store; deleting it",
                    self.stream,
                    top,
                    head,
                    extra={"operation": "redis_stream"},
                )
                await redis.delete(self.stream)
                top = 0
            await self.catalog.catch_up()
        except CatalogError as exc:
            log.warning("catching up before streaming failed: %s", exc.message, extra={"error_code": exc.code})
        self._top_seen = max(self._top_seen, top)

    async def _read_forever(self, redis: Redis) -> None:
        block_ms = max(1, round(self.link.block_timeout * 1000))
        while True:
            raise_if_cancelling()
            after = max(self._top_seen, self.catalog.revision)
            reply: Any = await redis.xread({self.stream: entry_id(after)}, count=READ_BATCH, block=block_ms)
            for _stream, entries in reply or ():
                for raw_id, fields in entries:
                    await self._deliver(entry_sequence(raw_id), fields)

    async def _deliver(self, sequence: int, fields: Mapping[bytes, bytes]) -> None:
        self._top_seen = max(self._top_seen, sequence)
        if sequence <= self.catalog.revision:
            return
        try:
            event = Event.from_dict(json.loads(fields[_FIELD]))
        except (KeyError, ValueError, TypeError) as exc:
            log.warning("unreadable stream entry %d (%s); reading the store instead", sequence, exc)
            event = None
        try:
            if event is None or event.sequence != sequence:
                await self.catalog.catch_up()
                return
            before = self.catalog.revision
            if not await self.catalog.receive(event):
                log.warning("stream entry %d is not in the store; ignored", sequence, extra={"operation": "redis"})
                return
            self.status["received"] += 1
            if sequence > before + 1:
                self.status["gaps_filled"] += 1
        except CatalogError as exc:
            log.warning("applying stream entry %d failed: %s", sequence, exc.message, extra={"error_code": exc.code})

    # -- publishing ----------------------------------------------------------------------------

    async def _publish_applied(self) -> None:
        async for item in self.catalog.subscribe(since=self.catalog.revision):
            raise_if_cancelling()
            if isinstance(item, StreamReset) or item.sequence <= self._top_seen or not self.link.available:
                continue
            await self._publish(item)

    async def _publish(self, event: Event) -> None:
        payload = json.dumps(event.to_dict(), separators=(",", ":"), ensure_ascii=False).encode()
        stale = list(self._invalidate(event)) if self._invalidate is not None else []

        async def send(redis: Redis) -> list[Any]:
            pipe = redis.pipeline(transaction=False)
            pipe.xadd(self.stream, {_FIELD: payload}, id=entry_id(event.sequence), maxlen=self.maxlen)
            if stale:
                pipe.delete(*stale)
            results: list[Any] = await pipe.execute(raise_on_error=False)
            return results

        results: list[Any] = await self.link.call("publish", send, [])
        if not results:
            return
        added = results[0]
        if isinstance(added, Exception):
            if _SMALLER_ID in str(added):
                self.status["duplicates"] += 1
            else:
                log.warning("XADD of event %d failed: %s", event.sequence, added, extra={"operation": "redis"})
            return
        self._top_seen = max(self._top_seen, event.sequence)
        self.status["published"] += 1
