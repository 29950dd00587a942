"""The one request middleware: trace id, ``X-Request-ID``, metrics, access log, HEAD and, when
tracing is on, the request's OpenTelemetry SERVER span.

It wraps the whole Litestar app (outside routing and the exception handlers), so 404s, 405s and
errors are counted, logged and tagged like every other response. Per request it does only what
cannot be skipped: one scan of the raw headers for ``traceparent``/``X-Request-ID`` (else a new
random id), a context variable for the log records, one header appended to the response, one
counter and one histogram sample (labelled by route template, never by raw path; the labelled
children are looked up once per method/route/status) and, when its level is enabled, one
access-log record on ``nestor_catalog_server.access``.

Access-log levels (``access_level``): a read answered 2xx/3xx is ``debug`` (a read-heavy
catalog serves thousands a second, and a JSON line costs more than the read itself); writes and
4xx answers are ``info``; 5xx answers are ``error``; any request slower than
``SLOW_REQUEST_SECONDS`` (live event streams excepted) is ``warning``. So ``logging.level: info``
keeps what an operator investigates and ``debug`` logs every request.

``HEAD`` is served by the ``GET`` handler of the same path with the body dropped, so every
readable URL answers ``HEAD`` with the same headers, as HTTP caches expect.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final, cast

from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send

from nestor_catalog_server.observability import (
    Metrics,
    new_trace_id,
    reset_trace_id,
    set_trace_id,
)
from nestor_catalog_server.observability import trace_id_from_headers as _trace_id_from_headers
from nestor_catalog_server.observability.otel import Tracing
from nestor_catalog_server.observability.otel import trace_id_of as otel_trace_id

if TYPE_CHECKING:
    from opentelemetry.trace import Span

__all__ = ["ACCESS_LOGGER", "QUIET_PATHS", "SLOW_REQUEST_SECONDS", "RequestObserver", "access_level", "trace_id_of"]

ACCESS_LOGGER: Final = "nestor_catalog_server.access"
#: Probes and scrapes: always debug, whatever they answer (a failing probe is seen on /ready itself).
QUIET_PATHS: Final = frozenset({"/health", "/ready", "/metrics"})
#: A request slower than this logs a warning.
SLOW_REQUEST_SECONDS: Final = 1.0
_READS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_STREAMING_ROUTES: Final = frozenset({"/api/v1/events"})
_TRACE_HEADERS: Final = frozenset({b"traceparent", b"x-request-id"})
_REQUEST_ID: Final = b"x-request-id"

access_log = logging.getLogger(ACCESS_LOGGER)


def trace_id_of(raw_headers: Iterable[tuple[bytes, bytes]], default: str | None = None) -> str:
    """The request's trace id from its raw ASGI headers (``traceparent``, else ``X-Request-ID``),
    else ``default`` (the request span's trace id when tracing is on), else a new one; the header
    names are lower-case bytes per the ASGI spec."""
    found: dict[str, str] | None = None
    for name, value in raw_headers:
        if name in _TRACE_HEADERS:
            if found is None:
                found = {}
            found[name.decode("latin-1")] = value.decode("latin-1")
    if found is None:
        return default or new_trace_id()
    return _trace_id_from_headers(found)


def access_level(method: str, path: str, route: str | None, status: int, seconds: float) -> int:
    """The level of a request's access-log record (see the module docstring)."""
    if path in QUIET_PATHS:
        return logging.DEBUG
    if status >= 500:
        return logging.ERROR
    if seconds >= SLOW_REQUEST_SECONDS and route not in _STREAMING_ROUTES:
        return logging.WARNING
    if status >= 400 or method not in _READS:
        return logging.INFO
    return logging.DEBUG


class RequestObserver:
    """ASGI middleware around the whole app; see the module docstring."""

    def __init__(self, app: ASGIApp, metrics: Metrics, tracing: Tracing | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self.tracing = tracing or Tracing()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # type: ignore[comparison-overlap]  # lifespan scopes pass through too
            await self.app(scope, receive, send)
            return
        if self.tracing.enabled:
            await self._observe_traced(cast(HTTPScope, scope), receive, send)
        else:
            await self._observe(cast(HTTPScope, scope), receive, send)

    async def _observe_traced(self, scope: HTTPScope, receive: Receive, send: Send) -> None:
        """``_observe`` inside a SERVER span whose parent is the caller's ``traceparent``."""
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        attributes: dict[str, Any] = {
            "http.request.method": scope["method"],
            "url.path": scope["path"],
            "url.scheme": scope.get("scheme", "http"),
            "network.protocol.version": scope.get("http_version", "1.1"),
        }
        client = scope.get("client")
        if client:
            attributes["client.address"] = client[0]
        if "user-agent" in headers:
            attributes["user_agent.original"] = headers["user-agent"]
        parent = self.tracing.extract(headers)
        with self.tracing.span(scope["method"], kind="server", parent=parent, attributes=attributes) as span:
            await self._observe(scope, receive, send, span)

    async def _observe(self, scope: HTTPScope, receive: Receive, send: Send, span: Span | None = None) -> None:
        started = time.perf_counter()
        trace_id = trace_id_of(scope["headers"], otel_trace_id(span))
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
            if span is not None:
                _finish_span(span, method, route, status or 500)
            self.metrics.observe_request(method, route, status or 500, elapsed)
            _log_access(scope, method, route, status or 500, elapsed)
            reset_trace_id(token)


def _finish_span(span: Span, method: str, route: str | None, status: int) -> None:
    """Name the span after the route template (``GET /api/v1/resources/{name}``) and record the
    status; a 5xx answer marks it as an error (4xx are the caller's, per the HTTP conventions)."""
    if route:
        span.update_name(f"{method} {route}")
        span.set_attributes({"http.route": route, "http.response.status_code": status})
    else:
        span.set_attribute("http.response.status_code", status)
    if status >= 500:
        from opentelemetry.trace import Status, StatusCode

        span.set_status(Status(StatusCode.ERROR))


def _log_access(scope: HTTPScope, method: str, route: str | None, status: int, elapsed: float) -> None:
    level = access_level(method, scope["path"], route, status, elapsed)
    if not access_log.isEnabledFor(level):
        return
    path = scope.get("raw_path", b"").decode("latin-1") or scope["path"]
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
