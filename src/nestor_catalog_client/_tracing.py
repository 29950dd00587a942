"""OpenTelemetry in the client, when ``opentelemetry-api`` is installed (the ``otel`` extra).

Every request gets a ``CLIENT`` span (from the ``tracer_provider`` given to the client, else the
process's global one) and carries the W3C ``traceparent`` of the current context, so the
catalog's server span, and its log lines' ``trace_id``, continue the caller's trace. Without an
SDK configured the spans are no-ops that still forward an ambient ``traceparent``; without the
package nothing happens at all.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx

from nestor_catalog_core import __version__

try:
    from opentelemetry import propagate, trace
    from opentelemetry.trace import SpanKind, Status, StatusCode

    _AVAILABLE = True
except ImportError:  # pragma: no cover - the otel extra is optional
    _AVAILABLE = False

__all__ = ["RequestTracer"]

_TRACER_NAME = "nestor_catalog_client"


class RequestTracer:
    """Spans and ``traceparent`` for one client's requests."""

    def __init__(self, tracer_provider: Any | None = None) -> None:
        self._tracer: Any | None = None
        if not _AVAILABLE:
            return
        provider = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
        self._tracer = provider.get_tracer(_TRACER_NAME, __version__)

    @contextlib.contextmanager
    def request(self, request: httpx.Request) -> Iterator[_Outcome]:
        """A span around sending ``request``; the request gets the ``traceparent`` header."""
        if self._tracer is None:
            yield _Outcome(None)
            return
        url = request.url
        attributes = {
            "http.request.method": request.method,
            "url.full": str(url.copy_with(query=None)),
            "server.address": url.host,
            "server.port": url.port or (443 if url.scheme == "https" else 80),
        }
        with self._tracer.start_as_current_span(request.method, kind=SpanKind.CLIENT, attributes=attributes) as span:
            propagate.inject(request.headers)
            yield _Outcome(span)

    def inject(self, headers: dict[str, str]) -> None:
        """The current context's ``traceparent`` into ``headers`` (a stream's first request)."""
        if self._tracer is not None:
            propagate.inject(headers)


class _Outcome:
    """Records what came back on the request's span."""

    __slots__ = ("_span",)

    def __init__(self, span: Any | None) -> None:
        self._span = span

    def response(self, response: httpx.Response) -> None:
        if self._span is None:
            return
        self._span.set_attribute("http.response.status_code", response.status_code)
        if response.status_code >= 400:
            self._span.set_status(Status(StatusCode.ERROR))

    def failed(self, error: BaseException) -> None:
        if self._span is None:
            return
        self._span.record_exception(error)
        self._span.set_status(Status(StatusCode.ERROR, type(error).__name__))
