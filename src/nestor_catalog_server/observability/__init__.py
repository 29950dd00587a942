"""Observability: JSON logs with trace ids, Prometheus metrics with the spec's names, and
OpenTelemetry traces (extra ``otel``, configured by ``OTEL_*``)."""

from nestor_catalog_server.observability.logging import JsonFormatter, TextFormatter, configure_logging
from nestor_catalog_server.observability.metrics import UNMATCHED_ROUTE, Metrics
from nestor_catalog_server.observability.otel import Tracing
from nestor_catalog_server.observability.tracing import (
    current_trace_id,
    new_trace_id,
    reset_trace_id,
    set_trace_id,
    trace_context,
    trace_id_from_headers,
)

__all__ = [
    "UNMATCHED_ROUTE",
    "JsonFormatter",
    "Metrics",
    "TextFormatter",
    "Tracing",
    "configure_logging",
    "current_trace_id",
    "new_trace_id",
    "reset_trace_id",
    "set_trace_id",
    "trace_context",
    "trace_id_from_headers",
]
