"""``GET /api/v1/events``: the catalog's event log as Server-Sent Events.

Wire format (lines end with ``\\n``; every frame ends with a blank line)::

    retry: 3000                                  first frame, no data line (no browser event)

    id: 42                                       one frame per event; id = event sequence
    event: resource.created
    data: {"apiVersion":...,"status":{...}}      compact JSON: the resource body, or the event's data

    id: 57                                       the requested position is gone (or ahead of the log):
    event: reset                                 re-list, then keep reading; later ids follow 57
    data: {"sequence":57,"reason":"...","requested":3,"first_available":40}

    : heartbeat 1767225600                       a comment after ``sse.heartbeat_interval`` of silence

Admission happens before anything streams, so refusals are ordinary error envelopes: ``sse.enabled``
false -> 404; a bad ``filter`` or a ``since``/``Last-Event-ID`` that is not an integer >= 0 -> 400;
``sse.max_connections`` open streams (or a shutdown in progress) -> 503 with ``Retry-After``.
``Last-Event-ID`` wins over ``since``; without either the stream starts at the head the catalog had
when the request was admitted, so every event published after admission is delivered.

Each admitted stream runs three small tasks: a writer that iterates ``CatalogReader.subscribe``
and sends each frame (one task step per event and subscriber), and two watchers (client
disconnect, ``AppState.shutdown``), plus one timer re-armed once per heartbeat interval, never per
event. The event source and the socket stay decoupled without a queue: the subscription is a
cursor over the hub's shared ring and the durable log, so a client that falls behind holds no
events of its own, it just reads older ones later (and the ASGI server's ``send`` applies
backpressure: since 2.8 granian bounds what it holds per response). ``sse.buffer_size`` bounds
how far behind a *stuck* client may fall: when the timer finds the writer blocked in ``send`` for
a whole heartbeat interval (the client stopped reading and its socket is full) while the catalog
is ``buffer_size`` or more events past the last one the client accepted, the stream is cut. A
client that reads slowly but steadily (a large replay) is never cut. Nothing is lost either way:
the client reconnects with ``Last-Event-ID`` and replays from the durable log.

An event's frame is encoded once and shared by every subscriber (a small per-app cache keyed by
sequence), so fanning an event out to a thousand streams costs a thousand socket writes, not a
thousand JSON encodings. Slots are counted in ``AppState.sse_connections`` and the
``catalog_sse_connections`` gauge from admission until the stream ends, however it ends.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import signal
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Final

from litestar import Controller, Request, get
from litestar.di import Provide
from litestar.params import HeaderParameter, QueryParameter
from litestar.response import Response
from litestar.response.base import ASGIResponse

from nestor_catalog_core import CatalogError, InvalidRequest, NotFoundError, ServiceUnavailable
from nestor_catalog_core.events import EventFilter, StreamReset
from nestor_catalog_core.models import Event, EventType
from nestor_catalog_server.api.schemas import error_specs
from nestor_catalog_server.state import AppState, AppStateParam, provide_app_state

if TYPE_CHECKING:
    from types import FrameType

    from litestar.app import Litestar
    from litestar.background_tasks import BackgroundTask, BackgroundTasks
    from litestar.datastructures import Cookie
    from litestar.enums import MediaType
    from litestar.types import HTTPResponseBodyEvent, Receive, Scope, Send, TypeEncodersMap

    from nestor_catalog_core import CatalogReader
    from nestor_catalog_server.observability import Metrics

__all__ = ["EVENTS_PATH", "EventsController", "route_handlers", "stop_streams_on_signals"]

log = logging.getLogger("nestor_catalog.server.events")

EVENTS_PATH: Final = "/api/v1/events"
#: Frames of this many recent events stay encoded for the next subscriber that sends them.
FRAME_CACHE_SIZE: Final = 1024
#: A ``since``/``Last-Event-ID`` longer than this is not a sequence (int64 has 19 digits).
_MAX_POSITION_DIGITS: Final = 19
#: Seconds a stream that is ending gets to tell its client so.
_CLOSE_TIMEOUT: Final = 1.0

_STREAM_HEADERS: Final = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_END_OF_BODY: Final[HTTPResponseBodyEvent] = {"type": "http.response.body", "body": b"", "more_body": False}


# --------------------------------------------------------------------------------------------- frames


def retry_frame(milliseconds: int) -> bytes:
    """The reconnection hint. No ``data`` line: a frame without data dispatches no browser event."""
    return b"retry: %d\n\n" % milliseconds


def heartbeat_frame(now: float) -> bytes:
    return b": heartbeat %d\n\n" % int(now)


def event_frame(event: Event) -> bytes:
    """``id``/``event``/``data`` for one event. Compact JSON never contains a raw line break
    (JSON escapes them), so ``data`` is always a single line."""
    data = json.dumps(event.data, separators=(",", ":"), ensure_ascii=False)
    return f"id: {event.sequence}\nevent: {event.type.value}\ndata: {data}\n\n".encode()


def reset_frame(reset: StreamReset) -> bytes:
    if reset.requested > reset.sequence:
        reason = (
            f"position {reset.requested} is ahead of this catalog's event log (head {reset.sequence}): "
            "the log was replaced or this replica is behind; re-list, then continue"
        )
    else:
        reason = (
            f"position {reset.requested} is older than the retained event log "
            f"(first available {reset.first_available}); re-list, then continue"
        )
    payload = {
        "sequence": reset.sequence,
        "reason": reason,
        "requested": reset.requested,
        "first_available": reset.first_available,
    }
    data = json.dumps(payload, separators=(",", ":"))
    return f"id: {reset.sequence}\nevent: reset\ndata: {data}\n\n".encode()


class FrameCache:
    """Encoded frames of recent events, keyed by sequence, shared by every stream of one app.

    An entry also records the event's type and time, so an event that reuses a sequence (a
    store replaced under a running server) is encoded afresh instead of served stale.
    """

    def __init__(self, capacity: int = FRAME_CACHE_SIZE) -> None:
        self._capacity = capacity
        self._frames: OrderedDict[int, tuple[EventType, datetime, bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._frames)

    def frame(self, event: Event) -> bytes:
        cached = self._frames.get(event.sequence)
        if cached is not None and cached[0] is event.type and cached[1] == event.time:
            return cached[2]
        frame = event_frame(event)
        self._frames[event.sequence] = (event.type, event.time, frame)
        if len(self._frames) > self._capacity:
            self._frames.popitem(last=False)
        return frame


# --------------------------------------------------------------------------------------------- admission


def parse_position(value: str | None, parameter: str) -> int | None:
    """An event sequence from a query parameter or header: ``None`` when absent (an empty
    ``Last-Event-ID`` is absent too, as browsers treat it); ``InvalidRequest`` unless it is an
    integer >= 0."""
    if value is None:
        return None
    text = value.strip()
    if not text and parameter == "Last-Event-ID":
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > _MAX_POSITION_DIGITS:
        raise InvalidRequest(
            f"{parameter} must be an event sequence (an integer >= 0), got {value!r}",
            details={"parameter": parameter, "value": value},
        )
    return int(text)


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """What one stream needs from the configuration, in the units it uses."""

    buffer_size: int
    heartbeat: float
    retry_ms: int

    @classmethod
    def of(cls, app_state: AppState) -> StreamOptions:
        sse = app_state.settings.sse
        return cls(
            buffer_size=sse.buffer_size,
            heartbeat=sse.heartbeat_interval.total_seconds(),
            retry_ms=math.ceil(sse.retry.total_seconds() * 1000),
        )


def _retry_after_seconds(app_state: AppState) -> int:
    return max(1, math.ceil(app_state.settings.sse.retry.total_seconds()))


def _take_slot(app_state: AppState) -> None:
    """Take a connection slot or refuse with 503; the caller must give it back."""
    sse = app_state.settings.sse
    if app_state.shutdown.is_set():
        app_state.metrics.sse_disconnected("shutdown")
        raise ServiceUnavailable(
            "the server is shutting down; reconnect to another replica or retry later",
            details={"retry_after": _retry_after_seconds(app_state)},
        )
    if app_state.sse_connections >= sse.max_connections:
        app_state.metrics.sse_disconnected("max_connections")
        raise ServiceUnavailable(
            f"too many event streams open ({sse.max_connections}); retry later",
            details={"max_connections": sse.max_connections, "retry_after": _retry_after_seconds(app_state)},
        )
    app_state.sse_connections += 1
    app_state.metrics.sse_connections.inc()


def _give_slot(app_state: AppState) -> None:
    app_state.sse_connections -= 1
    app_state.metrics.sse_connections.dec()


# --------------------------------------------------------------------------------------------- streaming


class _ClientGone(Exception):
    """``send`` failed: the ASGI server has no client to write to any more."""


class EventStream:
    """One admitted stream. ``serve`` runs it to the end; the response gives its slot back.

    One writer task reads the subscription and sends each frame, so an event costs one task
    step per subscriber. A timer per stream, re-armed once per heartbeat interval (never per
    event), sends heartbeats when the stream is idle and cuts it when the client is slow: the
    writer has been stuck in ``send`` for a whole interval (the socket is full) while the
    catalog moved ``sse.buffer_size`` or more events past what the client accepted.
    """

    def __init__(
        self,
        app_state: AppState,
        frames: FrameCache,
        event_filter: EventFilter,
        since: int,
        options: StreamOptions,
    ) -> None:
        self._state = app_state
        self._catalog: CatalogReader = app_state.catalog
        self._metrics: Metrics = app_state.metrics
        self._frames = frames
        self._filter = event_filter
        self._since = since
        self._options = options
        self._send: Send | None = None
        self._send_lock = asyncio.Lock()
        self._done: asyncio.Future[str] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._last_sent = 0.0
        self._send_started: float | None = None
        self._position = since
        self._sent_counters: dict[str, Any] = {}
        self._released = False

    def release(self) -> None:
        """Give the connection slot back (idempotent)."""
        if not self._released:
            self._released = True
            _give_slot(self._state)

    async def serve(self, send: Send, receive: Receive) -> str:
        """Stream until the client leaves, the server shuts down or the client is too slow;
        returns why it ended: ``client_closed``, ``shutdown``, ``slow_consumer`` or ``error``."""
        loop = asyncio.get_running_loop()
        self._send = send
        self._done = loop.create_future()
        self._last_sent = loop.time()
        self._timer = loop.call_later(self._options.heartbeat, self._tick)
        tasks = [
            asyncio.create_task(self._write(), name="sse-writer"),
            asyncio.create_task(self._watch_client(receive), name="sse-client"),
            asyncio.create_task(self._watch_shutdown(), name="sse-shutdown"),
        ]
        try:
            reason = await self._done
        finally:
            self._timer.cancel()
            if self._heartbeat_task is not None:
                tasks.append(self._heartbeat_task)
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks)
        if reason != "client_closed":
            self._metrics.sse_disconnected(reason)
        if reason in ("shutdown", "error"):
            with suppress(Exception):
                async with asyncio.timeout(_CLOSE_TIMEOUT):
                    await send(_END_OF_BODY)
        return reason

    def _finish(self, reason: str) -> None:
        if self._done is not None and not self._done.done():
            self._done.set_result(reason)

    # -- sending --------------------------------------------------------------------------------

    async def _send_frames(self, frames: bytes) -> None:
        """Send under the stream's lock (the writer and a heartbeat never interleave); a failing
        ``send`` means the ASGI server lost the client and raises ``_ClientGone``."""
        assert self._send is not None
        loop = asyncio.get_running_loop()
        async with self._send_lock:
            self._send_started = loop.time()
            try:
                await self._send({"type": "http.response.body", "body": frames, "more_body": True})
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                raise _ClientGone from exc
            finally:
                self._send_started = None
            self._last_sent = loop.time()

    async def _write(self) -> None:
        try:
            await self._send_frames(retry_frame(self._options.retry_ms))
            await self._stream_events()
            self._finish("shutdown")  # the subscription ended: the hub closed with the catalog
        except _ClientGone as gone:
            log.debug("event stream send failed: %r", gone.__cause__)
            self._finish("client_closed")
        except CatalogError as exc:
            log.warning("event stream failed reading the event log: %s", exc.message, extra={"code": exc.code})
            self._finish("error")
        except Exception:
            log.exception("event stream failed")
            self._finish("error")

    async def _stream_events(self) -> None:
        """Send every event of the subscription until it ends (the hub closed)."""
        since = self._since
        head = self._catalog.hub.head
        if since > head:
            first = await self._catalog.first_sequence()
            await self._send_item(StreamReset(sequence=head, requested=since, first_available=first))
            since = head
        events = self._catalog.subscribe(self._filter, since=since)
        try:
            async for item in events:
                await self._send_item(item)
        finally:
            if isinstance(events, AsyncGenerator):
                await events.aclose()

    async def _send_item(self, item: Event | StreamReset) -> None:
        if isinstance(item, StreamReset):
            self._position = item.sequence
            await self._send_frames(reset_frame(item))
            self._count("reset")
        else:
            self._position = item.sequence
            await self._send_frames(self._frames.frame(item))
            self._count(item.type.value)

    def _count(self, event_type: str) -> None:
        counter = self._sent_counters.get(event_type)
        if counter is None:
            counter = self._sent_counters[event_type] = self._metrics.sse_events_sent.labels(type=event_type)
        counter.inc()

    # -- the timer: heartbeats and slow clients -------------------------------------------------

    def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        interval = self._options.heartbeat
        started = self._send_started
        if started is not None:
            if now - started < interval:
                next_check = started + interval
            elif self._catalog.hub.head - self._position >= self._options.buffer_size:
                self._finish("slow_consumer")
                return
            else:
                next_check = now + interval
        elif now >= self._last_sent + interval:
            if self._heartbeat_task is None or self._heartbeat_task.done():
                self._heartbeat_task = asyncio.create_task(self._send_heartbeat(), name="sse-heartbeat")
            next_check = now + interval
        else:
            next_check = self._last_sent + interval
        self._timer = loop.call_at(next_check, self._tick)

    async def _send_heartbeat(self) -> None:
        try:
            await self._send_frames(heartbeat_frame(time.time()))
        except _ClientGone as gone:
            log.debug("event stream heartbeat failed: %r", gone.__cause__)
            self._finish("client_closed")

    # -- the watchers ----------------------------------------------------------------------------

    async def _watch_client(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self._finish("client_closed")
                return

    async def _watch_shutdown(self) -> None:
        await self._state.shutdown.wait()
        self._finish("shutdown")


class _EventStreamASGIResponse(ASGIResponse):
    """Sends the headers, then runs the stream; the slot is released however it ends
    (client gone, shutdown, slow consumer, cancellation, an error in ``send``)."""

    __slots__ = ("_stream",)

    _should_set_content_length = False

    def __init__(self, stream: EventStream, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.start_response(send)
            await self._stream.serve(send, receive)
        finally:
            self._stream.release()


class EventStreamResponse(Response[bytes]):
    """The handler's return value: headers for ``text/event-stream`` around an ``EventStream``."""

    def __init__(self, stream: EventStream) -> None:
        super().__init__(content=b"", media_type="text/event-stream", headers=dict(_STREAM_HEADERS))
        self.stream = stream

    def to_asgi_response(
        self,
        app: Litestar | None,
        request: Request[Any, Any, Any],
        *,
        background: BackgroundTask | BackgroundTasks | None = None,
        cookies: Iterable[Cookie] | None = None,
        encoded_headers: Iterable[tuple[bytes, bytes]] | None = None,
        headers: dict[str, str] | None = None,
        is_head_response: bool = False,
        media_type: MediaType | str | None = None,
        status_code: int | None = None,
        type_encoders: TypeEncodersMap | None = None,
    ) -> ASGIResponse:
        merged = {**headers, **self.headers} if headers else dict(self.headers)
        return _EventStreamASGIResponse(
            self.stream,
            cookies=[*self.cookies, *(cookies or ())],
            headers=merged,
            media_type="text/event-stream",
            status_code=200,
        )


# --------------------------------------------------------------------------------------------- shutdown


def stop_streams_on_signals(
    app_state: AppState, signals: Iterable[int] = (signal.SIGTERM, signal.SIGINT)
) -> Callable[[], None]:
    """Set ``app_state.shutdown`` the moment the process gets one of ``signals``; returns a
    function that puts the previous handlers back.

    Call it from the lifespan's startup (it must run in the main thread, where the ASGI server's
    event loop runs). Why: granian (like most ASGI servers) answers SIGTERM by draining open
    connections *before* it runs the lifespan shutdown, and an event stream never ends on its
    own, so without this a graceful stop waits until the process is killed. The previous
    handler still runs afterwards (asyncio's, the server's), so the server's own shutdown
    proceeds as before; a default disposition is re-raised. Outside the main thread it does
    nothing and returns a no-op.
    """
    if threading.current_thread() is not threading.main_thread():
        log.debug("not in the main thread: event streams end at lifespan shutdown only")
        return lambda: None
    loop = asyncio.get_running_loop()
    previous: dict[int, Any] = {}

    def handle(signum: int, frame: FrameType | None) -> None:
        with suppress(RuntimeError):  # the loop is already closed
            loop.call_soon_threadsafe(app_state.shutdown.set)
        before = previous.get(signum, signal.SIG_DFL)
        if callable(before):
            before(signum, frame)
        elif before == signal.SIG_DFL:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    for signum in signals:
        previous[signum] = signal.getsignal(signum)
        signal.signal(signum, handle)

    def restore() -> None:
        for signum, before in previous.items():
            if signal.getsignal(signum) is handle:
                signal.signal(signum, before)

    return restore


# --------------------------------------------------------------------------------------------- routes


class EventsController(Controller):
    """The SSE endpoint. One instance per app holds the app's frame cache."""

    path = EVENTS_PATH
    tags = ["events"]
    dependencies = {"app_state": Provide(provide_app_state, sync_to_thread=False)}

    def __init__(self, owner: Any) -> None:
        super().__init__(owner)
        self.frames = FrameCache()

    @get(
        "",
        media_type="text/event-stream",
        summary="Live catalog events (Server-Sent Events)",
        description=(
            "Streams the event log: `id:` is the event sequence, `event:` its type, `data:` the resource "
            "body (resource events) or the event's data. Resume with `Last-Event-ID` (wins) or `?since=`; "
            "a position older than retention gets `event: reset`. The first frame is `retry:`; "
            "comments (`: heartbeat <unix time>`) keep idle streams alive. 503 with `Retry-After` when "
            "`sse.max_connections` streams are open; a client whose buffer overflows is disconnected "
            "and resumes with `Last-Event-ID`."
        ),
        response_description="An endless text/event-stream (see the description for its frames)",
        responses=error_specs(400, 404, 503),
        cache=False,
    )
    async def stream_events(
        self,
        app_state: AppStateParam,
        filters: Annotated[
            list[str] | None,
            QueryParameter(
                name="filter",
                required=False,
                description="KEY:VALUE, repeatable (all must match); keys provider, category, name, "
                "type (resource type), event (event types, comma-separated).",
            ),
        ] = None,
        since: Annotated[
            str | None, QueryParameter(name="since", required=False, description="Replay events after this sequence.")
        ] = None,
        last_event_id: Annotated[
            str | None, HeaderParameter(name="Last-Event-ID", required=False, description="Resume after this sequence.")
        ] = None,
    ) -> EventStreamResponse:
        if not app_state.settings.sse.enabled:
            raise NotFoundError("live events are disabled on this server (sse.enabled: false)")
        event_filter = EventFilter.parse(filters or ())
        position = parse_position(last_event_id, "Last-Event-ID")
        if position is None:
            position = parse_position(since, "since")
        if position is None:
            position = app_state.catalog.hub.head  # "from now" means from admission, not first read
        _take_slot(app_state)
        try:
            stream = EventStream(app_state, self.frames, event_filter, position, StreamOptions.of(app_state))
        except BaseException:
            _give_slot(app_state)
            raise
        return EventStreamResponse(stream)


#: What ``create_app`` registers.
route_handlers: list[type[Controller]] = [EventsController]
