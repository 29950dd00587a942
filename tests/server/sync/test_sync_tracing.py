"""A sync attempt as OpenTelemetry sees it (the real SDK, in-memory exporter): one
``sync_repository`` span per attempt with ``git.fetch``, ``sync.diff``, ``sync.load`` and
``sync.publish`` children, a link from the webhook's span to the sync it triggered, and the
attempt's trace id on its log lines, which carry the spec's fields."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from nestor_catalog_core import Catalog, MemoryStore
from nestor_catalog_server.observability import Tracing
from nestor_catalog_server.observability.logging import JsonFormatter
from nestor_catalog_server.sync import SyncManager, sign_payload
from tests.server.sync.definitions import definition as sync_definition
from tests.server.sync.harness import git_config, repository, wait_until
from tests.support.git import ServedRepo


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


async def test_a_sync_attempt_is_a_span_with_its_stages_and_a_link_to_its_webhook(
    tmp_path: Path,
    served_repo: ServedRepo,
    git_daemon_url: str,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    served_repo.work.write("resources/bucket.yaml", sync_definition("bucket"))
    served_repo.publish("seed")
    secret = "webhook-secret-for-platform"
    config = git_config(repository("platform", served_repo.url(git_daemon_url), webhook_secret=secret))
    tracing = Tracing(provider)
    async with Catalog(MemoryStore()) as catalog:
        manager = SyncManager(catalog, config, data_dir=tmp_path / "data", tracing=tracing)
        buffer = io.StringIO()
        handler = logging.StreamHandler(buffer)
        handler.setFormatter(JsonFormatter("catalog"))
        sync_log = logging.getLogger("nestor_catalog.sync")
        sync_log.addHandler(handler)
        caplog.set_level(logging.INFO, logger="nestor_catalog.sync")
        try:
            await manager.start()
            assert await manager.wait_ready(timeout=15)
            served_repo.work.write("resources/queue.yaml", sync_definition("queue"))
            head = served_repo.publish("a queue")
            body = json.dumps({"ref": "refs/heads/main", "after": head}).encode()
            headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": sign_payload(secret, body)}
            with tracing.span("POST /api/v1/webhooks/{provider}/{repo}", kind="server") as webhook:
                await manager.handle_webhook("github", "platform", headers, body)
            await wait_until(lambda: catalog.has("queue", "1.0.0"), what="the pushed commit")
            await wait_until(lambda: len(named(exporter.get_finished_spans(), "sync_repository")) == 2, what="2 syncs")
        finally:
            await manager.stop()
            sync_log.removeHandler(handler)
    spans = exporter.get_finished_spans()
    first, second = named(spans, "sync_repository")
    for attempt in (first, second):
        children = {
            s.name
            for s in spans
            if s.parent is not None and attempt.context and s.parent.span_id == attempt.context.span_id
        }
        assert {"git.fetch", "sync.diff", "sync.load", "sync.publish"} <= children, children
        assert attempt.attributes is not None
        assert attempt.attributes["nestor.repository"] == "platform"
    assert second.attributes is not None
    assert second.attributes["nestor.sync.reason"] == "webhook"
    assert webhook is not None
    assert [link.context.span_id for link in second.links] == [webhook.get_span_context().span_id]
    assert first.links == ()
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    synced = [line for line in lines if line.get("operation") == "sync_repository"]
    assert len(synced) == 2, lines
    assert [line["trace_id"] for line in synced] == [hex_trace(first), hex_trace(second)]
    for line in synced:
        assert {"operation", "repository", "resources_updated", "duration_ms", "trace_id"} <= set(line)


async def test_a_trigger_forwarded_by_another_replica_links_its_webhook(
    tmp_path: Path,
    served_repo: ServedRepo,
    git_daemon_url: str,
    provider: TracerProvider,
    exporter: InMemorySpanExporter,
) -> None:
    """A follower forwards a webhook's trigger with its ``traceparent`` (Redis or HTTP); the
    leader's sync links to that span."""
    from nestor_catalog_server.scaleout.cluster_sync import Trigger

    served_repo.work.write("resources/bucket.yaml", sync_definition("bucket"))
    served_repo.publish("seed")
    follower_tracing = Tracing(provider)
    with follower_tracing.span("POST /api/v1/webhooks/{provider}/{repo}", kind="server") as webhook:
        carrier: dict[str, str] = {}
        follower_tracing.inject(carrier)
    sent = Trigger(repository="platform", reason="webhook", origin="replica-b", traceparent=carrier["traceparent"])
    received = Trigger.from_json(sent.to_json())
    assert received == sent
    tracing = Tracing(provider)
    async with Catalog(MemoryStore()) as catalog:
        manager = SyncManager(
            catalog,
            git_config(repository("platform", served_repo.url(git_daemon_url))),
            data_dir=tmp_path,
            tracing=tracing,
        )
        assert received.traceparent is not None
        manager.trigger("platform", reason="webhook via replica-b", link=tracing.link_from(received.traceparent))
        try:
            await manager.start()
            assert await manager.wait_ready(timeout=15)
        finally:
            await manager.stop()
    [attempt] = named(exporter.get_finished_spans(), "sync_repository")
    assert webhook is not None
    assert [link.context.span_id for link in attempt.links] == [webhook.get_span_context().span_id]
    assert tracing.link_from("00-" + "0" * 32 + "-" + "0" * 16 + "-01") is None, "an invalid traceparent links nothing"
