"""``GET /api/v1/events``: admission, then an ``EventStreamResponse`` (see the package docstring)."""

from __future__ import annotations

from typing import Annotated, Any, Final

from litestar import Controller, get
from litestar.di import Provide
from litestar.params import HeaderParameter, QueryParameter

from nestor_catalog_core import NotFoundError
from nestor_catalog_core.events import EventFilter
from nestor_catalog_server.api.schemas import error_specs
from nestor_catalog_server.api.sse.admission import StreamOptions, give_slot, parse_position, take_slot
from nestor_catalog_server.api.sse.frames import FrameCache
from nestor_catalog_server.api.sse.response import EventStreamResponse
from nestor_catalog_server.api.sse.stream import EventStream
from nestor_catalog_server.state import AppStateParam, provide_app_state

__all__ = ["EVENTS_PATH", "EventsController", "route_handlers"]

EVENTS_PATH: Final = "/api/v1/events"


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
        take_slot(app_state)
        try:
            stream = EventStream(app_state, self.frames, event_filter, position, StreamOptions.of(app_state))
        except BaseException:
            give_slot(app_state)
            raise
        return EventStreamResponse(stream)


#: What ``create_app`` registers.
route_handlers: list[type[Controller]] = [EventsController]
