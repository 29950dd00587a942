"""Observability: JSON logs with trace ids, and Prometheus metrics with the spec's names."""

from nestor_catalog_server.observability.logging import JsonFormatter, TextFormatter, configure_logging
from nestor_catalog_server.observability.metrics import UNMATCHED_ROUTE, Metrics
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
    "configure_logging",
    "current_trace_id",
    "new_trace_id",
    "reset_trace_id",
    "set_trace_id",
    "trace_context",
    "trace_id_from_headers",
]
