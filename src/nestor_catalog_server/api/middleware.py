"""The one request middleware: trace id, ``X-Request-ID``, metrics, access log and HEAD.

It wraps the whole Litestar app (outside routing and the exception handlers), so 404s, 405s and
errors are counted, logged and tagged like every other response. Per request it does only what
cannot be skipped: one scan of the raw headers for ``traceparent``/``X-Request-ID`` (else a new
random id), a context variable for the log records, one header appended to the response, one
counter and one histogram sample (labelled by route template, never by raw path), and one
access-log record when the ``nestor_catalog_server.access`` logger is enabled for it
(``/health``, ``/ready`` and ``/metrics`` log at debug: probes would drown everything else).

``HEAD`` is served by the ``GET`` handler of the same path with the body dropped, so every
readable URL answers ``HEAD`` with the same headers, as HTTP caches expect.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Final, cast

from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send

from nestor_catalog_server.observability import Metrics, new_trace_id, reset_trace_id, set_trace_id
from nestor_catalog_server.observability import trace_id_from_headers as _trace_id_from_headers

__all__ = ["ACCESS_LOGGER", "QUIET_PATHS", "RequestObserver", "trace_id_of"]

ACCESS_LOGGER: Final = "nestor_catalog_server.access"
#: Paths logged at debug instead of info (liveness/readiness probes and scrapes).
QUIET_PATHS: Final = frozenset({"/health", "/ready", "/metrics"})
_TRACE_HEADERS: Final = frozenset({b"traceparent", b"x-request-id"})
_REQUEST_ID: Final = b"x-request-id"

access_log = logging.getLogger(ACCESS_LOGGER)


def trace_id_of(raw_headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The request's trace id from its raw ASGI headers (``traceparent``, else ``X-Request-ID``),
    else a new one; the header names are lower-case bytes per the ASGI spec."""
    found: dict[str, str] | None = None
    for name, value in raw_headers:
        if name in _TRACE_HEADERS:
            if found is None:
                found = {}
            found[name.decode("latin-1")] = value.decode("latin-1")
    if found is None:
        return new_trace_id()
    return _trace_id_from_headers(found)


class RequestObserver:
    """ASGI middleware around the whole app; see the module docstring."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # type: ignore[comparison-overlap]  # lifespan scopes pass through too
            await self.app(scope, receive, send)
            return
        await self._observe(cast(HTTPScope, scope), receive, send)

    async def _observe(self, scope: HTTPScope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        trace_id = trace_id_of(scope["headers"])
        token = set_trace_id(trace_id)
        method = scope["method"]
        head = method == "HEAD"
        if head:
            scope["method"] = "GET"
        request_id = (_REQUEST_ID, trace_id.encode("latin-1", "replace"))
        status = 0

        async def send_tagged(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers")
                if isinstance(headers, list):
                    headers.append(request_id)
                else:
                    message["headers"] = [*(headers or ()), request_id]
            elif head and message["type"] == "http.response.body" and message.get("body"):
                message = {"type": "http.response.body", "body": b"", "more_body": message.get("more_body", False)}
            await send(message)

        try:
            await self.app(cast(Scope, scope), receive, send_tagged)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("path_template") or None
            self.metrics.observe_request(method, route, status or 500, elapsed)
            _log_access(scope, method, route, status or 500, elapsed)
            reset_trace_id(token)


def _log_access(scope: HTTPScope, method: str, route: str | None, status: int, elapsed: float) -> None:
    path = scope.get("raw_path", b"").decode("latin-1") or scope["path"]
    level = logging.DEBUG if scope["path"] in QUIET_PATHS else logging.INFO
    if not access_log.isEnabledFor(level):
        return
    client = scope.get("client")
    access_log.log(
        level,
        "%s %s %d",
        method,
        path,
        status,
        extra={
            "operation": "http_request",
            "method": method,
            "path": path,
            "route": route,
            "status": status,
            "duration_ms": round(elapsed * 1000, 3),
            "client": client[0] if client else None,
        },
    )
