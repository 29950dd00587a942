"""Trace ids: one per request, carried in a context variable so every log line can name it.

The id comes from the caller when it sends one (W3C ``traceparent``, else ``X-Request-ID``),
so a request can be followed across the orchestrator, the sidecar and the catalog; otherwise a
new random 32-hex id is made. Context variables follow ``await`` and ``asyncio`` tasks created
inside the request, and never leak between concurrent requests.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import Final

__all__ = [
    "current_trace_id",
    "new_trace_id",
    "reset_trace_id",
    "set_trace_id",
    "trace_context",
    "trace_id_from_headers",
]

_TRACE_ID: ContextVar[str | None] = ContextVar("nestor_catalog_trace_id", default=None)
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_NON_PRINTABLE = re.compile(r"[^\x20-\x7e]")
MAX_REQUEST_ID_LENGTH: Final = 128


def new_trace_id() -> str:
    """A random 32-hex id (the W3C trace-id shape), never all zeros (invalid in W3C).

    From ``random`` (reseeded in every forked worker), as OpenTelemetry's id generator does,
    not from ``secrets``: an id names a request in logs and traces and guards nothing, and
    ``os.urandom`` per request was 4% of a worker answering cached pages at 100,000
    definitions (py-spy)."""
    return f"{random.getrandbits(128) or 1:032x}"


def current_trace_id() -> str | None:
    """The trace id of the request (or task) being handled, if any."""
    return _TRACE_ID.get()


def set_trace_id(trace_id: str | None) -> Token[str | None]:
    """Set the current trace id; pass the returned token to ``reset_trace_id`` when done."""
    return _TRACE_ID.set(trace_id)


def reset_trace_id(token: Token[str | None]) -> None:
    _TRACE_ID.reset(token)


@contextmanager
def trace_context(trace_id: str | None = None) -> Iterator[str]:
    """Run a block under ``trace_id`` (a new one when ``None``); yields the id in effect."""
    effective = trace_id or new_trace_id()
    token = _TRACE_ID.set(effective)
    try:
        yield effective
    finally:
        _TRACE_ID.reset(token)


def trace_id_from_headers(headers: Mapping[str, str]) -> str:
    """The trace id a request carries, else a new one.

    A valid W3C ``traceparent`` gives its 32-hex trace id (an all-zero id, version ``ff`` or a
    malformed value is ignored, as the spec says); else ``X-Request-ID`` stripped of
    non-printable characters and cut to 128; else a new random id. Header names are matched
    case-insensitively, whatever mapping is passed.
    """
    traceparent = _header(headers, "traceparent")
    if traceparent is not None:
        trace_id = _traceparent_trace_id(traceparent)
        if trace_id is not None:
            return trace_id
    request_id = _header(headers, "x-request-id")
    if request_id is not None:
        cleaned = _NON_PRINTABLE.sub("", request_id).strip()[:MAX_REQUEST_ID_LENGTH]
        if cleaned:
            return cleaned
    return new_trace_id()


def _traceparent_trace_id(value: str) -> str | None:
    match = _TRACEPARENT.fullmatch(value.strip())
    if match is None:
        return None
    version, trace_id, parent_id, _flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest is not None):
        return None
    if trace_id == "0" * 32 or parent_id == "0" * 16:
        return None
    return trace_id


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    for key, candidate in headers.items():
        if key.lower() == name:
            return candidate
    return None
