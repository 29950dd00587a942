"""Live catalog events over SSE that survive disconnects.

``StreamState`` is the I/O-free part: it says what each (re)connection request carries
(``Last-Event-ID``, filters, the read timeout), judges the response, parses bytes into typed
items and decides how long to wait before reconnecting. ``Subscription`` (sync) and
``AsyncSubscription`` only move bytes, through the callables the client hands them
(``EventStreamIO``/``AsyncEventStreamIO``): this module knows nothing of the clients.

What a subscriber can rely on:

- items are ``Event`` (core model; ``sequence`` is the SSE id) or ``StreamReset``;
- after a disconnect, a 5xx, a 429 or a silent connection the stream reconnects with
  ``Last-Event-ID`` and exponential backoff, and the server replays what was missed: no event
  is lost and none is repeated;
- a silent connection is one where no byte (event or heartbeat comment) arrived for
  ``heartbeat_timeout`` seconds (by default 2.5 heartbeat intervals);
- a ``StreamReset`` means the position was older than the server's retention: events were
  missed, so re-list (``client.list_resources()``) and keep iterating; the stream continues
  from ``reset.sequence``;
- errors that retrying cannot fix (401, 403, 400 for a bad filter) raise the core exception.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Self

import httpx

from nestor_catalog_client._errors import error_from_response
from nestor_catalog_client._retry import parse_retry_after
from nestor_catalog_client._sse import SSEFrame, SSEParser, frame_item
from nestor_catalog_core import CatalogError, Event, EventFilter, EventType, ServiceUnavailable, StreamReset

__all__ = [
    "AsyncEventStreamIO",
    "AsyncSubscription",
    "EventStreamIO",
    "ReconnectPolicy",
    "StreamState",
    "Subscription",
    "SubscriptionItem",
    "heartbeat_timeout_for",
]

log = logging.getLogger("nestor_catalog.client")

SubscriptionItem = Event | StreamReset

#: The server's default ``sse.heartbeat_interval`` (the spec's config), used when the server
#: does not publish its own in ``/api/v1/status``.
DEFAULT_HEARTBEAT_INTERVAL: Final = 30.0
#: How many heartbeat intervals of silence make a connection dead.
HEARTBEAT_MISSES: Final = 2.5
_RETRY_STATUSES: Final = frozenset({429, 502, 503, 504})
_LIFECYCLE_EVENTS: Final = frozenset(
    {EventType.RESOURCE_DEPRECATED, EventType.RESOURCE_DELETED, EventType.RESOURCE_SUNSET}
)


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """Waits between reconnections: ``initial * 2**n`` jittered, capped at ``max_delay``, never
    shorter than the server's ``retry:`` hint. ``max_attempts`` consecutive failures (None:
    never give up) raise ``ServiceUnavailable``; any received frame resets the count."""

    initial_delay: float = 0.5
    max_delay: float = 30.0
    max_attempts: int | None = None

    def delay(self, attempt: int, server_hint: float | None, jitter: float) -> float:
        base = max(self.initial_delay, server_hint or 0.0)
        ceiling = min(self.max_delay, base * 2.0 ** min(attempt, 32))
        return ceiling / 2 + jitter * ceiling / 2


class StreamState:
    """Position, health and parsing of one subscription across its connections."""

    def __init__(
        self,
        *,
        event_filter: EventFilter,
        since: int | None,
        heartbeat_timeout: float | None,
        reconnect: ReconnectPolicy,
        jitter: Callable[[], float],
    ) -> None:
        self.event_filter = event_filter
        self.last_event_id: int | None = since
        self.heartbeat_timeout = heartbeat_timeout
        self.reconnect = reconnect
        self._jitter = jitter
        self.connected = False
        self.connections = 0
        self.failures = 0
        self.heartbeats = 0
        self.malformed = 0
        self.last_activity: float | None = None
        self.last_heartbeat_time: float | None = None
        self.last_error: CatalogError | None = None
        self.server_retry: float | None = None
        self._parser = SSEParser()

    @classmethod
    def create(
        cls,
        *,
        provider: str | None,
        category: str | None,
        name: str | None,
        types: Iterable[str | EventType] | None,
        since: int | None,
        resource_type: str | None,
        heartbeat_timeout: float | None,
        reconnect: ReconnectPolicy | None,
    ) -> StreamState:
        """The state of a new subscription from the clients' ``subscribe`` arguments."""
        return cls(
            event_filter=EventFilter.of(
                provider=provider, category=category, name=name, resource_type=resource_type, types=types
            ),
            since=since,
            heartbeat_timeout=heartbeat_timeout,
            reconnect=reconnect or ReconnectPolicy(),
            jitter=random.random,
        )

    @property
    def needs_heartbeat_interval(self) -> bool:
        return self.heartbeat_timeout is None

    def learn_heartbeat_interval(self, status: dict[str, Any] | None) -> None:
        self.heartbeat_timeout = heartbeat_timeout_for(status)

    # -- connections ------------------------------------------------------------------------

    def request_params(self) -> tuple[tuple[str, str], ...]:
        """The query of the next connection: the filters as ``filter=`` expressions."""
        return tuple(("filter", expression) for expression in self.event_filter.to_expressions())

    def request_headers(self) -> dict[str, str]:
        """The stream's own headers of the next connection (``Last-Event-ID`` once an event
        was seen); the client adds authentication and tracing."""
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = str(self.last_event_id)
        return headers

    def read_timeout(self, default: float | None) -> float | None:
        """How long a connection may stay silent: the heartbeat timeout once known."""
        return self.heartbeat_timeout if self.heartbeat_timeout is not None else default

    @staticmethod
    def is_stream(response: httpx.Response) -> bool:
        return response.status_code == 200 and response.headers.get("content-type", "").startswith("text/event-stream")

    def opened(self) -> None:
        self.connected = True
        self.connections += 1
        self._parser = SSEParser()
        self.last_activity = time.monotonic()

    def refused(self, response: httpx.Response) -> float:
        """A non-stream answer (body read): the wait before retrying, or raise when retrying
        cannot help."""
        error = error_from_response(response)
        if response.status_code not in _RETRY_STATUSES:
            if response.status_code == 200:
                error = ServiceUnavailable(
                    f"/api/v1/events answered {response.headers.get('content-type')!r}, not an event stream",
                    details={"url": str(response.request.url)},
                )
            self.last_error = error
            raise error
        hint = parse_retry_after(response.headers.get("retry-after"))
        delay = self._failed(error, None)
        return max(delay, hint) if hint is not None and hint <= self.reconnect.max_delay else delay

    def ended(self, exc: BaseException | None) -> float:
        """The connection ended (``exc`` None: the server closed it): the wait before reconnecting."""
        if exc is None:
            error: CatalogError = ServiceUnavailable("the event stream was closed by the server")
        elif isinstance(exc, httpx.ReadTimeout):
            error = ServiceUnavailable(
                f"no event or heartbeat for {self.heartbeat_timeout}s: the connection is presumed dead",
                details={"heartbeat_timeout": self.heartbeat_timeout},
            )
        else:
            error = ServiceUnavailable(f"event stream failed: {type(exc).__name__}: {exc}")
        return self._failed(error, exc)

    def _failed(self, error: CatalogError, exc: BaseException | None) -> float:
        self.connected = False
        self.last_error = error
        attempt = self.failures
        self.failures += 1
        limit = self.reconnect.max_attempts
        if limit is not None and self.failures > limit:
            raise ServiceUnavailable(
                f"event stream gave up after {limit} reconnection attempt(s): {error.message}",
                details={"attempts": self.failures, "last_event_id": self.last_event_id},
            ) from exc
        delay = self.reconnect.delay(attempt, self.server_retry, float(self._jitter()))
        log.info("event stream interrupted (%s); reconnecting in %.2fs", error.message, delay)
        return delay

    # -- bytes to items ---------------------------------------------------------------------

    def feed(self, chunk: bytes) -> list[SubscriptionItem]:
        self.last_activity = time.monotonic()
        items: list[SubscriptionItem] = []
        for frame in self._parser.feed(chunk):
            item = self._frame(frame)
            if item is not None:
                items.append(item)
        return items

    def _frame(self, frame: SSEFrame) -> SubscriptionItem | None:
        if frame.retry is not None:
            self.server_retry = frame.retry / 1000
        if frame.is_heartbeat:
            self.failures = 0
            self.heartbeats += 1
            self.last_heartbeat_time = _heartbeat_time(frame)
        try:
            item = frame_item(frame, requested=self.last_event_id)
        except (ValueError, KeyError, TypeError) as exc:
            self.malformed += 1
            log.warning("skipping a malformed event frame (id %s, event %s): %s", frame.id, frame.event, exc)
            return None
        if item is not None:
            self.failures = 0
            self.last_event_id = item.sequence
        elif frame.id is not None and frame.id.isdigit():
            self.last_event_id = int(frame.id)
        return item


def heartbeat_timeout_for(status: dict[str, Any] | None) -> float:
    """Seconds of silence after which a stream from this server is dead: 2.5 times the
    heartbeat interval its ``/api/v1/status`` publishes (``sse.heartbeat_interval``, seconds),
    or 2.5 times the default interval when it publishes none."""
    interval = DEFAULT_HEARTBEAT_INTERVAL
    sse = status.get("sse") if isinstance(status, dict) else None
    value = sse.get("heartbeat_interval") if isinstance(sse, dict) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        interval = float(value)
    return interval * HEARTBEAT_MISSES


def _heartbeat_time(frame: SSEFrame) -> float | None:
    for comment in frame.comments:
        parts = comment.split()
        if len(parts) == 2 and parts[0] == "heartbeat":
            try:
                return float(parts[1])
            except ValueError:
                return None
    return None


@dataclass(frozen=True, slots=True)
class EventStreamIO:
    """What a sync subscription needs from its client: open a connection for the stream's
    current position (``stream=True``), read ``/api/v1/status`` (None when it fails) and drop a
    cached version whose lifecycle an event changed."""

    connect: Callable[[StreamState], httpx.Response]
    status: Callable[[], dict[str, Any] | None]
    forget: Callable[[str, str], None]


@dataclass(frozen=True, slots=True)
class AsyncEventStreamIO:
    """``EventStreamIO`` for the async client."""

    connect: Callable[[StreamState], Awaitable[httpx.Response]]
    status: Callable[[], Awaitable[dict[str, Any] | None]]
    forget: Callable[[str, str], None]


def _forget_changed(forget: Callable[[str, str], None], item: SubscriptionItem) -> None:
    if isinstance(item, Event) and item.type in _LIFECYCLE_EVENTS and item.name and item.version:
        forget(item.name, item.version)


class _SubscriptionBase:
    _state: StreamState

    @property
    def last_event_id(self) -> int | None:
        """The sequence of the last event (or reset) received: where a resume starts."""
        return self._state.last_event_id

    @property
    def connected(self) -> bool:
        return self._state.connected

    @property
    def state(self) -> StreamState:
        """Connection health: ``connections``, ``heartbeats``, ``last_activity``, ``last_error``..."""
        return self._state


class Subscription(_SubscriptionBase):
    """A sync iterator of events; use it in a ``with`` block or ``close()`` it when done."""

    def __init__(self, io: EventStreamIO, state: StreamState) -> None:
        self._io = io
        self._state = state
        self._iterator = self._run()

    def __iter__(self) -> Iterator[SubscriptionItem]:
        return self._iterator

    def __next__(self) -> SubscriptionItem:
        return next(self._iterator)

    def close(self) -> None:
        self._iterator.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> Generator[SubscriptionItem, None, None]:
        state, io = self._state, self._io
        if state.needs_heartbeat_interval:
            state.learn_heartbeat_interval(io.status())
        while True:
            try:
                response = io.connect(state)
            except httpx.TransportError as exc:
                time.sleep(state.ended(exc))
                continue
            try:
                delay = yield from self._consume(response)
            finally:
                state.connected = False
                response.close()
            time.sleep(delay)

    def _consume(self, response: httpx.Response) -> Generator[SubscriptionItem, None, float]:
        state = self._state
        if not state.is_stream(response):
            response.read()
            return state.refused(response)
        state.opened()
        try:
            for chunk in response.iter_bytes():
                for item in state.feed(chunk):
                    _forget_changed(self._io.forget, item)
                    yield item
        except httpx.TransportError as exc:
            return state.ended(exc)
        return state.ended(None)


class AsyncSubscription(_SubscriptionBase):
    """An async iterator of events; use it in an ``async with`` block or ``aclose()`` it."""

    def __init__(self, io: AsyncEventStreamIO, state: StreamState) -> None:
        self._io = io
        self._state = state
        self._iterator = self._run()

    def __aiter__(self) -> AsyncIterator[SubscriptionItem]:
        return self._iterator

    async def __anext__(self) -> SubscriptionItem:
        return await anext(self._iterator)

    async def aclose(self) -> None:
        await self._iterator.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _run(self) -> AsyncGenerator[SubscriptionItem, None]:
        state, io = self._state, self._io
        if state.needs_heartbeat_interval:
            state.learn_heartbeat_interval(await io.status())
        while True:
            try:
                response = await io.connect(state)
            except httpx.TransportError as exc:
                await asyncio.sleep(state.ended(exc))
                continue
            delay: float | None = None
            try:
                if not state.is_stream(response):
                    await response.aread()
                    delay = state.refused(response)
                else:
                    state.opened()
                    try:
                        async for chunk in response.aiter_bytes():
                            for item in state.feed(chunk):
                                _forget_changed(io.forget, item)
                                yield item
                    except httpx.TransportError as exc:
                        delay = state.ended(exc)
                    else:
                        delay = state.ended(None)
            finally:
                state.connected = False
                await response.aclose()
            await asyncio.sleep(delay)
