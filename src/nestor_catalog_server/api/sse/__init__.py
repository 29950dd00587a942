"""``GET /api/v1/events``: the catalog's event log as Server-Sent Events.

The package: ``frames`` (encoding and the shared frame cache), ``admission`` (positions,
connection slots, per-stream options), ``stream`` (the engine that runs one stream),
``response`` (the Litestar response that hands the socket to it) and ``controller`` (the route).

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

from nestor_catalog_server.api.sse.admission import parse_position
from nestor_catalog_server.api.sse.controller import EVENTS_PATH, EventsController, route_handlers
from nestor_catalog_server.api.sse.frames import FrameCache, event_frame

__all__ = ["EVENTS_PATH", "EventsController", "FrameCache", "event_frame", "parse_position", "route_handlers"]
