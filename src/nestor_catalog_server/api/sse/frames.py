"""SSE frames: ``retry``, heartbeat comments, one event, a reset; and the frame cache that
encodes an event once for every stream of an app."""

from __future__ import annotations

import json
from collections import OrderedDict
from datetime import datetime
from typing import Final

from nestor_catalog_core.events import StreamReset
from nestor_catalog_core.models import Event, EventType

__all__ = ["FRAME_CACHE_SIZE", "FrameCache", "event_frame", "heartbeat_frame", "reset_frame", "retry_frame"]

#: Frames of this many recent events stay encoded for the next subscriber that sends them.
FRAME_CACHE_SIZE: Final = 1024


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
