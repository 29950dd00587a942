"""Server-Sent Events, parsed incrementally and without I/O.

Our own parser rather than httpx-sse's because a subscriber must see comment lines: the
server's heartbeats are comments (``: heartbeat <unix time>``), and counting them is how a
client tells a quiet stream from a dead one. The parser follows the WHATWG rules: lines end
with CRLF, LF or CR (even split across chunks), a leading BOM is dropped, ``data`` lines join
with ``\\n``, one space after the colon is removed, an ``id`` holding NUL is ignored and
``retry`` takes digits only.
"""

from __future__ import annotations

import codecs
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from nestor_catalog_core import Event, EventType, StreamReset
from nestor_catalog_core.models import RESOURCE_EVENTS, parse_time

__all__ = ["SSEFrame", "SSEParser", "frame_item"]


@dataclass(frozen=True, slots=True)
class SSEFrame:
    """One block of fields ended by a blank line. ``data`` is None when no ``data`` line came
    (such a block dispatches no event, but its ``id`` and ``retry`` still count)."""

    event: str | None = None
    data: str | None = None
    id: str | None = None
    retry: int | None = None
    comments: tuple[str, ...] = ()

    @property
    def is_heartbeat(self) -> bool:
        return any(comment.startswith("heartbeat") for comment in self.comments)


@dataclass
class _Pending:
    event: str | None = None
    data: list[str] = field(default_factory=list)
    id: str | None = None
    retry: int | None = None
    comments: list[str] = field(default_factory=list)
    touched: bool = False

    def frame(self) -> SSEFrame:
        return SSEFrame(
            event=self.event,
            data="\n".join(self.data) if self.data else None,
            id=self.id,
            retry=self.retry,
            comments=tuple(self.comments),
        )


class SSEParser:
    """Feed bytes as they arrive; get the complete frames they finish."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._pending = _Pending()
        self._started = False
        self._after_cr = False

    def feed(self, chunk: bytes) -> list[SSEFrame]:
        text = self._decoder.decode(chunk)
        if not text:
            return []
        if not self._started:
            self._started = True
            text = text.removeprefix("\ufeff")
        if self._after_cr:
            self._after_cr = False
            text = text.removeprefix("\n")
        buffer = self._buffer + text
        frames: list[SSEFrame] = []
        start = 0
        while (end := _line_end(buffer, start)) >= 0:
            line = buffer[start:end]
            start = end + 1
            if buffer[end] == "\r":
                if start == len(buffer):
                    self._after_cr = True
                elif buffer[start] == "\n":
                    start += 1
            frame = self._line(line)
            if frame is not None:
                frames.append(frame)
        self._buffer = buffer[start:]
        return frames

    def _line(self, line: str) -> SSEFrame | None:
        pending = self._pending
        if not line:
            if not pending.touched:
                return None
            self._pending = _Pending()
            return pending.frame()
        pending.touched = True
        if line.startswith(":"):
            pending.comments.append(line[1:].removeprefix(" "))
            return None
        name, colon, value = line.partition(":")
        if colon:
            value = value.removeprefix(" ")
        if name == "data":
            pending.data.append(value)
        elif name == "event":
            pending.event = value
        elif name == "id":
            if "\x00" not in value:
                pending.id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            pending.retry = int(value)
        return None


def _line_end(text: str, start: int) -> int:
    lf = text.find("\n", start)
    cr = text.find("\r", start, lf if lf >= 0 else len(text))
    return cr if cr >= 0 else lf


def frame_item(frame: SSEFrame, *, requested: int | None) -> Event | StreamReset | None:
    """The typed item a frame carries: an ``Event``, a ``StreamReset`` for ``event: reset``,
    or None (no data, an unknown event type from a newer server, a comment).

    ``requested`` is the position the client asked for (its Last-Event-ID), kept in the reset.
    Raises ``ValueError`` for a frame whose id or JSON is malformed.
    """
    if frame.data is None:
        return None
    if frame.event == "reset":
        payload = _json_object(frame.data)
        sequence = int(payload.get("sequence", frame.id or 0))
        first = payload.get("first_available")
        return StreamReset(
            sequence=sequence,
            requested=requested if requested is not None else -1,
            first_available=int(first) if first is not None else sequence + 1,
        )
    try:
        kind = EventType(frame.event or "message")
    except ValueError:
        return None
    if frame.id is None:
        raise ValueError(f"{kind.value} frame without an id")
    return event_from_data(kind, int(frame.id), _json_object(frame.data))


def event_from_data(kind: EventType, sequence: int, data: dict[str, Any]) -> Event:
    """An ``Event`` from an SSE frame's parts. Resource events take name, version and the
    filter attributes from the body's metadata and their time from its status; other events
    take what their data names (``resource_name``, ``version``, ``time``), else the time of
    receipt."""
    metadata = data.get("metadata")
    if kind in RESOURCE_EVENTS and isinstance(metadata, dict):
        status = data.get("status")
        status = status if isinstance(status, dict) else {}
        return Event(
            type=kind,
            time=_time(status.get("updated_at") or status.get("published_at")),
            data=data,
            name=metadata.get("name"),
            version=metadata.get("version"),
            provider=metadata.get("provider"),
            category=metadata.get("category"),
            resource_type=metadata.get("resource_type"),
            sequence=sequence,
        )
    name = data.get("resource_name", data.get("name"))
    version = data.get("version")
    return Event(
        type=kind,
        time=_time(data.get("time")),
        data=data,
        name=name if isinstance(name, str) else None,
        version=version if isinstance(version, str) else None,
        provider=_str_or_none(data.get("provider")),
        category=_str_or_none(data.get("category")),
        resource_type=_str_or_none(data.get("resource_type")),
        sequence=sequence,
    )


def _json_object(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("SSE data is not a JSON object")
    return value


def _time(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            return parse_time(value)
        except ValueError:
            pass
    return datetime.now(UTC)


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
