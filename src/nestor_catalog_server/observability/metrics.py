"""Prometheus metrics with the spec's names, in a registry owned by each ``Metrics``.

No module-level collectors: two apps in one process (tests, a sidecar beside a server) each
build their own ``Metrics`` and never clash. Families, as scraped (counters carry the
``_total`` sample suffix, so ``catalog_validation_errors`` is scraped as
``catalog_validation_errors_total``):

- ``catalog_resources_total`` (gauge): distinct resource names served;
  ``catalog_resource_versions_total`` (gauge): published versions, withdrawn ones excluded.
- ``catalog_git_sync_duration`` (histogram, seconds; ``repository``, ``outcome``);
  ``catalog_git_sync_failures_total`` (``repository``);
  ``catalog_git_last_success_timestamp_seconds`` (gauge, ``repository``);
  ``catalog_git_sync_stage_failures_total`` (``repository``, ``stage``, ``reason``): every failed,
  interrupted or postponed sync by the stage that failed; ``catalog_git_sync_held`` (gauge,
  ``repository``): 1 while the withdraw guard holds a sync; ``catalog_git_repository_reachable``
  (gauge, ``repository``): 1 when the last fetch reached the source, 0 when it failed;
  ``catalog_git_last_fetch_timestamp_seconds`` (gauge, ``repository``).
- ``catalog_api_requests_total`` (``method``, ``route``, ``status``) and
  ``catalog_api_request_duration_seconds`` (histogram; ``method``, ``route``). ``route`` is the
  route template (``/api/v1/resources/{name}``), never the raw path, to bound cardinality.
- ``catalog_sse_connections`` (gauge), ``catalog_sse_events_sent_total`` (``type``),
  ``catalog_sse_disconnects_total`` (``reason``).
- ``catalog_validation_errors_total`` (``rule``).
- ``catalog_event_log_last_sequence`` (gauge), ``catalog_webhooks_total`` (``provider``,
  ``outcome``), ``catalog_auth_failures_total`` (``reason``), ``catalog_build_info``.
- Process, platform and GC collectors (``process_*``, ``python_*``) unless turned off.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, choose_encoder

__all__ = ["HTTP_METHODS", "UNMATCHED_ROUTE", "Metrics"]

#: Methods counted under their own name; anything else is counted as ``OTHER``.
HTTP_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: The ``route`` label of requests no route matched (404s, scans).
UNMATCHED_ROUTE: Final = "<unmatched>"

_REQUEST_BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SYNC_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class Metrics:
    """The catalog's collectors and the helpers that feed them; ``render()`` is the ``/metrics`` body.

    The helpers are the one way to write a metric, in production and in tests. The hot ones
    (``observe_request`` per request, ``sse_event_sent`` per event and stream) keep the
    labelled children they made, so a request costs a dict lookup, an ``inc`` and an
    ``observe``, not a ``labels()`` call per metric.
    """

    def __init__(self, *, service: str = "catalog", version: str = "unknown", process_metrics: bool = True) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.resources = Gauge("catalog_resources_total", "Distinct resource names in the catalog.", registry=registry)
        self.resource_versions = Gauge(
            "catalog_resource_versions_total", "Published resource versions, withdrawn excluded.", registry=registry
        )
        self.git_sync_duration = Histogram(
            "catalog_git_sync_duration",
            "Duration of git synchronizations in seconds.",
            ["repository", "outcome"],
            buckets=_SYNC_BUCKETS,
            registry=registry,
        )
        self.git_sync_failures = Counter(
            "catalog_git_sync_failures", "Failed git synchronizations.", ["repository"], registry=registry
        )
        self.git_last_success = Gauge(
            "catalog_git_last_success_timestamp_seconds",
            "Unix time of the last successful synchronization.",
            ["repository"],
            registry=registry,
        )
        self.git_sync_stage_failures = Counter(
            "catalog_git_sync_stage_failures",
            "Failed, interrupted or postponed synchronizations, by the stage that failed.",
            ["repository", "stage", "reason"],
            registry=registry,
        )
        self.git_sync_held = Gauge(
            "catalog_git_sync_held",
            "1 while the withdraw guard holds a sync of the repository.",
            ["repository"],
            registry=registry,
        )
        self.git_reachable = Gauge(
            "catalog_git_repository_reachable",
            "1 when the last fetch reached the repository, 0 when it failed.",
            ["repository"],
            registry=registry,
        )
        self.git_last_fetch = Gauge(
            "catalog_git_last_fetch_timestamp_seconds",
            "Unix time of the last successful fetch.",
            ["repository"],
            registry=registry,
        )
        self.api_requests = Counter(
            "catalog_api_requests", "HTTP API requests.", ["method", "route", "status"], registry=registry
        )
        self.api_request_duration = Histogram(
            "catalog_api_request_duration_seconds",
            "HTTP API request latency in seconds.",
            ["method", "route"],
            buckets=_REQUEST_BUCKETS,
            registry=registry,
        )
        self.sse_connections = Gauge("catalog_sse_connections", "Open Server-Sent Events streams.", registry=registry)
        self.sse_events_sent = Counter(
            "catalog_sse_events_sent", "Events written to SSE streams.", ["type"], registry=registry
        )
        self.sse_disconnects = Counter(
            "catalog_sse_disconnects",
            "SSE streams closed or refused by the server, by reason.",
            ["reason"],
            registry=registry,
        )
        self.validation_errors = Counter(
            "catalog_validation_errors", "Validation error findings, by rule id.", ["rule"], registry=registry
        )
        self.event_log_last_sequence = Gauge(
            "catalog_event_log_last_sequence", "Sequence of the newest event in the event log.", registry=registry
        )
        self.webhooks = Counter(
            "catalog_webhooks",
            "Webhook deliveries, by provider and outcome.",
            ["provider", "outcome"],
            registry=registry,
        )
        self.auth_failures = Counter(
            "catalog_auth_failures", "Rejected authentications, by reason.", ["reason"], registry=registry
        )
        self.build_info = Gauge(
            "catalog_build_info", "Always 1; labels say what runs.", ["service", "version"], registry=registry
        )
        self.build_info.labels(service=service, version=version).set(1)
        self._request_series: dict[tuple[str, str | None, int], tuple[Any, Any]] = {}
        self._sse_sent: dict[str, Any] = {}
        if process_metrics:
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
            GCCollector(registry=registry)

    # ----------------------------------------------------------------------------------------- feeding

    def observe_request(self, method: str, route: str | None, status: int, seconds: float) -> None:
        """Count one HTTP request; ``route`` is the matched template (``None`` when nothing matched)."""
        key = (method, route, status)
        series = self._request_series.get(key)
        if series is None:
            series = self._request_children(method, route, status)
            if method in HTTP_METHODS:  # what a client invents as a method is never kept
                self._request_series[key] = series
        series[0].inc()
        series[1].observe(seconds)

    def _request_children(self, method: str, route: str | None, status: int) -> tuple[Any, Any]:
        method = method.upper()
        method = method if method in HTTP_METHODS else "OTHER"
        route = route or UNMATCHED_ROUTE
        return (
            self.api_requests.labels(method=method, route=route, status=str(status)),
            self.api_request_duration.labels(method=method, route=route),
        )

    def observe_sync(self, repository: str, outcome: str, seconds: float, *, finished_at: float | None = None) -> None:
        """Record one sync of ``repository``; ``outcome`` is ``success``, ``unchanged``, ``held`` or
        ``failure``."""
        self.git_sync_duration.labels(repository=repository, outcome=outcome).observe(seconds)
        if outcome == "failure":
            self.git_sync_failures.labels(repository=repository).inc()
        elif outcome == "held":
            return
        elif finished_at is not None:
            self.git_last_success.labels(repository=repository).set(finished_at)
        else:
            self.git_last_success.labels(repository=repository).set_to_current_time()

    def sync_failed(self, repository: str, stage: str, reason: str) -> None:
        """A sync of ``repository`` failed (or was interrupted or postponed) at ``stage``."""
        self.git_sync_stage_failures.labels(repository=repository, stage=stage, reason=reason).inc()

    def set_sync_held(self, repository: str, held: bool) -> None:
        self.git_sync_held.labels(repository=repository).set(1 if held else 0)

    def observe_fetch(self, repository: str, reachable: bool) -> None:
        """A fetch of ``repository`` reached it (or did not)."""
        self.git_reachable.labels(repository=repository).set(1 if reachable else 0)
        if reachable:
            self.git_last_fetch.labels(repository=repository).set_to_current_time()

    def set_catalog_size(self, resources: int, versions: int) -> None:
        self.resources.set(resources)
        self.resource_versions.set(versions)

    def set_last_sequence(self, sequence: int) -> None:
        self.event_log_last_sequence.set(sequence)

    def sse_opened(self) -> None:
        """An SSE stream took a connection slot; ``sse_closed`` when it gives it back."""
        self.sse_connections.inc()

    def sse_closed(self) -> None:
        self.sse_connections.dec()

    @contextmanager
    def sse_connection(self) -> Iterator[None]:
        """Counts an open SSE stream for the duration of the block."""
        self.sse_opened()
        try:
            yield
        finally:
            self.sse_closed()

    def sse_event_sent(self, event_type: str) -> None:
        """One frame of ``event_type`` (or ``reset``) written to one stream."""
        counter = self._sse_sent.get(event_type)
        if counter is None:
            counter = self._sse_sent[event_type] = self.sse_events_sent.labels(type=event_type)
        counter.inc()

    def sse_disconnected(self, reason: str) -> None:
        """``slow_consumer``, ``max_connections`` (refused), ``shutdown``..."""
        self.sse_disconnects.labels(reason=reason).inc()

    def validation_failed(self, rules: Iterable[str]) -> None:
        """Count error findings, one rule id per finding."""
        for rule in rules:
            self.validation_errors.labels(rule=rule).inc()

    def webhook_received(self, provider: str, outcome: str) -> None:
        """``outcome``: ``push``, ``ping``, ``ignored``, ``unauthorized``, ``invalid``..."""
        self.webhooks.labels(provider=provider, outcome=outcome).inc()

    def auth_failed(self, reason: str) -> None:
        self.auth_failures.labels(reason=reason).inc()

    # ----------------------------------------------------------------------------------------- reading

    def sample(self, name: str, **labels: str) -> float:
        """The value of one sample as scraped (``catalog_webhooks_total``, labels as keywords);
        0 for a series never written."""
        value = self.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value

    # ----------------------------------------------------------------------------------------- exposition

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """The exposition body and its content type; OpenMetrics when ``accept`` asks for it."""
        if not accept:
            return generate_latest(self.registry), CONTENT_TYPE_PLAIN_0_0_4
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type
