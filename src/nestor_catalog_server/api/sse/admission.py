"""Admission of an event stream, before anything streams (so refusals are error envelopes):
the requested position, a connection slot (503 when ``sse.max_connections`` are open or the
server is shutting down) and the options one stream runs with."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from nestor_catalog_core import InvalidRequest, ServiceUnavailable
from nestor_catalog_server.state import AppState

__all__ = ["StreamOptions", "give_slot", "parse_position", "retry_after_seconds", "take_slot"]

#: A ``since``/``Last-Event-ID`` longer than this is not a sequence (int64 has 19 digits).
_MAX_POSITION_DIGITS: Final = 19


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


def retry_after_seconds(app_state: AppState) -> int:
    return max(1, math.ceil(app_state.settings.sse.retry.total_seconds()))


def take_slot(app_state: AppState) -> None:
    """Take a connection slot or refuse with 503; the caller must give it back."""
    sse = app_state.settings.sse
    if app_state.shutdown.is_set():
        app_state.metrics.sse_disconnected("shutdown")
        raise ServiceUnavailable(
            "the server is shutting down; reconnect to another replica or retry later",
            details={"retry_after": retry_after_seconds(app_state)},
        )
    if app_state.sse_connections >= sse.max_connections:
        app_state.metrics.sse_disconnected("max_connections")
        raise ServiceUnavailable(
            f"too many event streams open ({sse.max_connections}); retry later",
            details={"max_connections": sse.max_connections, "retry_after": retry_after_seconds(app_state)},
        )
    app_state.sse_connections += 1
    app_state.metrics.sse_opened()


def give_slot(app_state: AppState) -> None:
    app_state.sse_connections -= 1
    app_state.metrics.sse_closed()
