"""OpenTelemetry traces with the real SDK and its in-memory exporter: the server's request
spans (continuing the caller's ``traceparent``), storage spans beneath them, the client's spans
and ``traceparent``, and the ``OTEL_*`` variables that turn tracing on. Sync spans:
``tests/server/sync/test_sync_tracing.py``; a real process exporting over OTLP:
``tests/e2e/test_tracing_e2e.py``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from litestar.testing import AsyncTestClient
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from nestor_catalog_client import AsyncCatalogClient
from nestor_catalog_server.app import create_app
from nestor_catalog_server.observability import Metrics, Tracing
from tests.server.api.builders import as_yaml, definition
from tests.server.api.conftest import make_settings

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


def named(spans: tuple[ReadableSpan, ...] | list[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]


def hex_trace(span: ReadableSpan) -> str:
    assert span.context is not None
    return f"{span.context.trace_id:032x}"


async def test_a_request_span_continues_the_callers_trace(
    tmp_path: Path, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    app = create_app(make_settings(tmp_path), metrics=Metrics(process_metrics=False), tracing=Tracing(provider))
    async with AsyncTestClient(app=app) as client:
        created = await client.post(
            "/api/v1/resources", content=as_yaml(definition("traced-queue")), headers={"Content-Type": "text/yaml"}
        )
        assert created.status_code == 201
        response = await client.get("/api/v1/resources/traced-queue", headers={"traceparent": TRACEPARENT})
        assert response.status_code == 200
        assert response.headers["x-request-id"] == TRACE_ID
        missing = await client.get("/api/v1/resources/no-such-thing")
        assert missing.status_code == 404
    spans = exporter.get_finished_spans()
    [read] = [s for s in named(spans, "GET /api/v1/resources/{name}") if hex_trace(s) == TRACE_ID]
    assert read.kind is SpanKind.SERVER
    assert read.parent is not None
    assert read.parent.span_id == 0x00F067AA0BA902B7
    assert read.attributes is not None
    assert read.attributes["http.route"] == "/api/v1/resources/{name}"
    assert read.attributes["http.response.status_code"] == 200
    [post] = named(spans, "POST /api/v1/resources")
    assert post.parent is None, "no traceparent: a new trace"
    writes = [s for s in spans if s.name.startswith("storage.publish")]
    assert writes, [s.name for s in spans]
    assert all(
        w.parent is not None and post.context is not None and w.parent.span_id == post.context.span_id for w in writes
    )
    assert writes[0].attributes is not None
    assert writes[0].attributes["db.system"] == "memory"
    [not_found] = [s for s in spans if s.attributes and s.attributes.get("http.response.status_code") == 404]
    assert not_found.status.status_code is StatusCode.UNSET, "a 4xx is the caller's error, not the server's"


async def test_the_client_sends_traceparent_under_its_own_span(
    tmp_path: Path, provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    app = create_app(make_settings(tmp_path), metrics=Metrics(process_metrics=False), tracing=Tracing(provider))
    tracer = provider.get_tracer("orchestrator")
    async with AsyncTestClient(app=app):  # runs the lifespan
        transport = httpx.ASGITransport(app=app)
        async with AsyncCatalogClient("http://catalog", transport=transport, tracer_provider=provider) as client:
            with tracer.start_as_current_span("deploy") as deploy:
                await client.publish(as_yaml(definition("client-queue")).decode())
                resource = await client.get_resource("client-queue", "1.0.0")
            assert resource.name == "client-queue"
    spans = exporter.get_finished_spans()
    trace_id = f"{deploy.get_span_context().trace_id:032x}"
    clients = [s for s in spans if s.kind is SpanKind.CLIENT and s.name in {"GET", "POST"}]
    servers = [s for s in spans if s.kind is SpanKind.SERVER]
    assert {hex_trace(s) for s in clients + servers} == {trace_id}, "one trace from the orchestrator to storage"
    for server in servers:
        assert server.parent is not None
        assert server.parent.span_id in {c.context.span_id for c in clients if c.context is not None}
    [get] = [c for c in clients if c.name == "GET"]
    assert get.attributes is not None
    assert get.attributes["http.response.status_code"] == 200


def test_disabled_tracing_does_nothing() -> None:
    tracing = Tracing()
    assert not tracing.enabled
    with tracing.span("anything") as span:
        assert span is None
    headers: dict[str, str] = {}
    tracing.inject(headers)
    assert headers == {}
    assert tracing.current_link() is None


@pytest.mark.parametrize(
    ("environ", "enabled"),
    [
        ({}, False),
        ({"OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
    ],
)
def test_the_standard_variables_turn_tracing_on(
    environ: dict[str, str], enabled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from opentelemetry import trace

    monkeypatch.setattr(trace, "set_tracer_provider", lambda provider: None)  # keep the process's global
    tracing = Tracing.from_environment("catalog", environ)
    try:
        assert tracing.enabled is enabled
    finally:
        tracing.shutdown()
