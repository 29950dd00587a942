from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

import nestor_catalog_server.observability as observability
from nestor_catalog_server.observability import UNMATCHED_ROUTE, Metrics

SPEC_FAMILIES = {
    "catalog_resources_total",
    "catalog_git_sync_duration",
    "catalog_api_requests",
    "catalog_sse_connections",
    "catalog_validation_errors",
}


def _samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, _ = metrics.render()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def test_public_names() -> None:
    assert sorted(observability.__all__) == sorted(
        [
            "UNMATCHED_ROUTE",
            "Tracing",
            "JsonFormatter",
            "Metrics",
            "TextFormatter",
            "configure_logging",
            "current_trace_id",
            "new_trace_id",
            "reset_trace_id",
            "set_trace_id",
            "trace_context",
            "trace_id_from_headers",
        ]
    )


def test_exposition_parses_and_has_the_spec_names() -> None:
    metrics = Metrics(version="0.1.0")
    metrics.observe_request("GET", "/api/v1/resources/{name}", 200, 0.004)
    metrics.observe_sync("platform-resources", "success", 1.25)
    metrics.validation_failed(["NAME_FORMAT"])
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain; version=0.0.4")
    families = {family.name: family for family in text_string_to_metric_families(body.decode())}
    assert set(families) >= SPEC_FAMILIES | {"catalog_api_request_duration_seconds", "process_cpu_seconds"}
    assert families["catalog_git_sync_duration"].type == "histogram"
    assert families["catalog_api_requests"].type == "counter"
    assert families["catalog_sse_connections"].type == "gauge"
    assert b"catalog_api_requests_total{" in body
    assert b"catalog_validation_errors_total{" in body


def test_two_instances_do_not_share_state() -> None:
    first, second = Metrics(process_metrics=False), Metrics(process_metrics=False)
    first.set_catalog_size(resources=3, versions=7)
    assert _samples(first)[("catalog_resources_total", ())] == 3
    assert _samples(first)[("catalog_resource_versions_total", ())] == 7
    assert _samples(second)[("catalog_resources_total", ())] == 0


def test_requests_are_labelled_by_route_template_and_bounded_method() -> None:
    metrics = Metrics(process_metrics=False)
    metrics.observe_request("get", "/api/v1/resources/{name}", 200, 0.01)
    metrics.observe_request("GET", "/api/v1/resources/{name}", 200, 0.02)
    metrics.observe_request("BREW", None, 404, 0.001)
    samples = _samples(metrics)
    ok = (("method", "GET"), ("route", "/api/v1/resources/{name}"), ("status", "200"))
    assert samples[("catalog_api_requests_total", ok)] == 2
    unmatched = (("method", "OTHER"), ("route", UNMATCHED_ROUTE), ("status", "404"))
    assert samples[("catalog_api_requests_total", unmatched)] == 1
    latency = (("method", "GET"), ("route", "/api/v1/resources/{name}"))
    assert samples[("catalog_api_request_duration_seconds_count", latency)] == 2
    assert abs(samples[("catalog_api_request_duration_seconds_sum", latency)] - 0.03) < 1e-9


def test_repeated_requests_and_events_keep_counting_and_invented_methods_stay_other() -> None:
    """The facade keeps the labelled children of the hot paths; the counts stay exact."""
    metrics = Metrics(process_metrics=False)
    for _ in range(3):
        metrics.observe_request("GET", "/api/v1/search", 200, 0.001)
        metrics.sse_event_sent("reset")
    for method in ("BREW", "MKCOL", "get"):
        metrics.observe_request(method, "/api/v1/search", 200, 0.001)
    assert metrics.sample("catalog_api_requests_total", method="GET", route="/api/v1/search", status="200") == 4
    assert metrics.sample("catalog_api_requests_total", method="OTHER", route="/api/v1/search", status="200") == 2
    assert metrics.sample("catalog_sse_events_sent_total", type="reset") == 3
    assert metrics.sample("catalog_sse_events_sent_total", type="resource.created") == 0


def test_sync_outcomes() -> None:
    metrics = Metrics(process_metrics=False)
    metrics.observe_sync("repo", "success", 2.0, finished_at=1_700_000_000.0)
    metrics.observe_sync("repo", "failure", 0.5)
    samples = _samples(metrics)
    assert samples[("catalog_git_sync_duration_count", (("outcome", "success"), ("repository", "repo")))] == 1
    assert samples[("catalog_git_sync_failures_total", (("repository", "repo"),))] == 1
    assert samples[("catalog_git_last_success_timestamp_seconds", (("repository", "repo"),))] == 1_700_000_000.0


def test_sse_connections_gauge_follows_open_streams() -> None:
    metrics = Metrics(process_metrics=False)
    with metrics.sse_connection():
        with metrics.sse_connection():
            assert _samples(metrics)[("catalog_sse_connections", ())] == 2
        metrics.sse_event_sent("resource.created")
    metrics.sse_disconnected("slow_consumer")
    samples = _samples(metrics)
    assert samples[("catalog_sse_connections", ())] == 0
    assert samples[("catalog_sse_events_sent_total", (("type", "resource.created"),))] == 1
    assert samples[("catalog_sse_disconnects_total", (("reason", "slow_consumer"),))] == 1


def test_other_counters() -> None:
    metrics = Metrics(process_metrics=False, service="catalog", version="1.2.3")
    metrics.validation_failed(["NAME_FORMAT", "NAME_FORMAT", "MIN_GT_MAX"])
    metrics.set_last_sequence(42)
    metrics.webhook_received("github", "push")
    metrics.auth_failed("token_expired")
    samples = _samples(metrics)
    assert samples[("catalog_validation_errors_total", (("rule", "NAME_FORMAT"),))] == 2
    assert samples[("catalog_validation_errors_total", (("rule", "MIN_GT_MAX"),))] == 1
    assert samples[("catalog_event_log_last_sequence", ())] == 42
    assert samples[("catalog_webhooks_total", (("outcome", "push"), ("provider", "github")))] == 1
    assert samples[("catalog_auth_failures_total", (("reason", "token_expired"),))] == 1
    assert samples[("catalog_build_info", (("service", "catalog"), ("version", "1.2.3")))] == 1


def test_openmetrics_on_request() -> None:
    metrics = Metrics(process_metrics=False)
    body, content_type = metrics.render("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")
    assert body.endswith(b"# EOF\n")
    plain, plain_type = metrics.render("text/html")
    assert plain_type.startswith("text/plain")
    assert not plain.endswith(b"# EOF\n")
