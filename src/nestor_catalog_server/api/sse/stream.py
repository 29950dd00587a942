"""The engine of one admitted stream: a writer task, two watchers and one timer (see the
package docstring for how slow and stuck clients are told apart)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator
from contextlib import suppress
from typing import TYPE_CHECKING, Final

from nestor_catalog_core import CatalogError
from nestor_catalog_core.events import EventFilter, StreamReset
from nestor_catalog_core.models import Event
from nestor_catalog_server.api.sse.admission import StreamOptions, give_slot
from nestor_catalog_server.api.sse.frames import FrameCache, heartbeat_frame, reset_frame, retry_frame
from nestor_catalog_server.state import AppState

if TYPE_CHECKING:
    from litestar.types import HTTPResponseBodyEvent, Receive, Send

    from nestor_catalog_core import CatalogReader
    from nestor_catalog_server.observability import Metrics

__all__ = ["EventStream"]

log = logging.getLogger("nestor_catalog.server.events")

#: Seconds a stream that is ending gets to tell its client so.
_CLOSE_TIMEOUT: Final = 1.0
_END_OF_BODY: Final[HTTPResponseBodyEvent] = {"type": "http.response.body", "body": b"", "more_body": False}


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
        self._released = False

    def release(self) -> None:
        """Give the connection slot back (idempotent)."""
        if not self._released:
            self._released = True
            give_slot(self._state)

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
            self._metrics.sse_event_sent("reset")
        else:
            self._position = item.sequence
            await self._send_frames(self._frames.frame(item))
            self._metrics.sse_event_sent(item.type.value)

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
