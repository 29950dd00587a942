"""What tracing costs per request: the request middleware (``RequestObserver``) around the same
bare ASGI endpoint, with tracing off (the default) and on (the OpenTelemetry SDK with a
``BatchSpanProcessor``, exporting to nowhere), each beside the bare endpoint called directly in
the same run. Also the storage wrapper: ``TracedStore.get_version`` vs the memory store's.

Off, the middleware costs what it cost before tracing existed (one attribute check more); on,
the ceiling is the middleware off plus a bare SDK span (same parent, kind and attributes) made
in the same run: what remains above it is our wrapping. The absolute figure is the price of one
SERVER span per request, for operators choosing a sampler (``OTEL_TRACES_SAMPLER``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from opentelemetry import propagate
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind

from benchmarks._harness import Context, Row
from nestor_catalog_core import MemoryStore, Source, SourceKind
from nestor_catalog_core.models import AuditRecord, Event, EventType, StoredVersion, utcnow
from nestor_catalog_server.api.middleware import RequestObserver
from nestor_catalog_server.observability import Metrics, Tracing
from nestor_catalog_server.observability.traced_store import TracedStore

BODY = b'{"metadata":{"name":"aws-rds-mysql","version":"1.2.0"}}'


class _Nowhere(SpanExporter):
    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS


async def _endpoint(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": BODY})


def _scope() -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "path": "/api/v1/resources/aws-rds-mysql/1.2.0",
        "raw_path": b"/api/v1/resources/aws-rds-mysql/1.2.0",
        "headers": [(b"traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")],
        "path_template": "/api/v1/resources/{name}/{version}",
        "scheme": "http",
        "http_version": "1.1",
        "client": ("127.0.0.1", 50000),
    }


async def _per_call_us(call: Callable[[], Coroutine[Any, Any, Any]], number: int, rounds: int = 7) -> float:
    import statistics
    import time

    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(number):
            await call()
        samples.append((time.perf_counter() - start) / number * 1e6)
    return statistics.median(samples)


async def _measure(ctx: Context) -> list[Row]:
    number = ctx.scale(20_000, 2_000)
    metrics = Metrics(process_metrics=False)
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(_Nowhere()))

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    tracer = provider.get_tracer("bench")
    attributes = {"http.request.method": "GET", "url.path": "/x", "url.scheme": "http", "client.address": "127.0.0.1"}

    async def bare_span() -> None:
        parent = propagate.extract({"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
        with tracer.start_as_current_span("GET", context=parent, kind=SpanKind.SERVER, attributes=attributes) as span:
            span.update_name("GET /api/v1/resources/{name}/{version}")
            span.set_attributes({"http.route": "/x", "http.response.status_code": 200})

    async def bare_client_span() -> None:
        with tracer.start_as_current_span("storage.get_version", kind=SpanKind.CLIENT, attributes=attributes):
            pass

    off = RequestObserver(_endpoint, metrics, Tracing())
    on = RequestObserver(_endpoint, metrics, Tracing(provider))
    bare = await _per_call_us(lambda: _endpoint(_scope(), receive, send), number)
    ours_off = await _per_call_us(lambda: off(_scope(), receive, send), number)  # type: ignore[arg-type]
    ours_on = await _per_call_us(lambda: on(_scope(), receive, send), number)  # type: ignore[arg-type]
    span_floor = await _per_call_us(bare_span, number)
    client_span_floor = await _per_call_us(bare_client_span, number)

    store = MemoryStore()
    await store.open()
    now = utcnow()
    source = Source(kind=SourceKind.API, user="bench@example.com")
    version = StoredVersion(
        name="bench",
        version="1.0.0",
        digest="d" * 64,
        document=BODY,
        provider="aws",
        category="database",
        resource_type="mysql",
        source=source,
        published_at=now,
    )
    event = Event(type=EventType.RESOURCE_CREATED, time=now, name="bench", version="1.0.0")
    audit = AuditRecord(action="resource.created", resource="bench", version="1.0.0", user="bench", timestamp=now)
    try:
        await store.publish(version, event, audit)
        traced = TracedStore(store, Tracing(provider))
        plain_get = await _per_call_us(lambda: store.get_version("bench", "1.0.0"), number)
        traced_get = await _per_call_us(lambda: traced.get_version("bench", "1.0.0"), number)
    finally:
        await store.close()
        provider.shutdown()

    rows = [
        Row(
            benchmark="request middleware, tracing off",
            figure=ours_off,
            unit="us/request",
            ceiling=bare,
            ceiling_label="the bare ASGI endpoint",
            extra={"overhead_us": round(ours_off - bare, 2)},
        ),
        Row(
            benchmark="request middleware, tracing on (SDK, batch processor)",
            figure=ours_on,
            unit="us/request",
            ceiling=ours_off + span_floor,
            ceiling_label="middleware off + a bare SDK span with the same parent and attributes",
            extra={"span_cost_us": round(ours_on - ours_off, 2), "bare_span_us": round(span_floor, 2)},
        ),
    ]
    rows.append(
        Row(
            benchmark="storage call, traced (memory get_version)",
            figure=traced_get,
            unit="us/call",
            ceiling=plain_get + client_span_floor,
            ceiling_label="the call untraced + a bare SDK span",
        )
    )
    return rows


def run(ctx: Context) -> list[Row]:
    return asyncio.run(_measure(ctx))
