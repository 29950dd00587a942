"""OpenTelemetry traces (extra ``otel``), configured by the standard ``OTEL_*`` variables.

``Tracing`` is what the app hands its parts (the request middleware, sync, the store wrapper):
a tracer, or nothing at all. Disabled (the default, and always without the extra installed) it
costs one attribute check per request and never imports OpenTelemetry, so the server runs the
same without the ``otel`` extra.

``Tracing.from_environment(service)`` turns tracing on when ``OTEL_TRACES_EXPORTER`` names an
exporter (``otlp``, the default protocol http/protobuf, or ``console``) or an OTLP endpoint is
set (``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``), and
``OTEL_SDK_DISABLED`` is not true. Everything else is the SDK's own reading of the environment:
``OTEL_SERVICE_NAME`` (default ``service.name``), ``OTEL_RESOURCE_ATTRIBUTES``,
``OTEL_TRACES_SAMPLER``/``_ARG``, ``OTEL_EXPORTER_OTLP_*`` (endpoint, headers, timeout,
compression, certificates) and ``OTEL_BSP_*`` (batching). The provider it builds becomes the
process's global one too, so the client library inside the process (the sidecar's mirror)
propagates the same traces.

Spans: ``SERVER`` for every HTTP request (its parent from the caller's ``traceparent``), one
``sync_repository`` per sync attempt with ``git.fetch``, ``sync.diff``, ``sync.load`` and
``sync.publish`` children, ``storage.<call>`` for store calls, and a webhook's span linked from
the sync it triggers.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from nestor_catalog_core import __version__

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import Link, Span, Tracer

__all__ = ["TRACER_NAME", "Tracing"]

log = logging.getLogger("nestor_catalog_server.tracing")

TRACER_NAME: Final = "nestor_catalog_server"
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_ENDPOINTS: Final = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_KINDS: Final = ("internal", "server", "client", "producer", "consumer")


class Tracing:
    """A tracer from ``tracer_provider``, or no tracing at all (``Tracing()``).

    ``owned`` providers (built by ``from_environment``) are flushed and shut down by
    ``shutdown()``; a provider passed in (tests, an embedding application) is left alone.
    """

    def __init__(self, tracer_provider: Any | None = None, *, owned: bool = False) -> None:
        self._provider = tracer_provider
        self._owned = owned
        self._tracer: Tracer | None = None
        self._kinds: dict[str, Any] = {}
        if tracer_provider is not None:
            from opentelemetry import propagate
            from opentelemetry.trace import SpanKind

            self._tracer = tracer_provider.get_tracer(TRACER_NAME, __version__)
            self._kinds = {kind: SpanKind[kind.upper()] for kind in _KINDS}
            self._propagator = propagate.get_global_textmap()

    @property
    def enabled(self) -> bool:
        return self._tracer is not None

    @classmethod
    def from_environment(cls, service_name: str, environ: Mapping[str, str] | None = None) -> Tracing:
        """Tracing as the ``OTEL_*`` variables ask (see the module docstring); disabled when they
        ask for none, or when the ``otel`` extra is not installed (said once in the log)."""
        env = os.environ if environ is None else environ
        exporter = _exporter_name(env)
        if exporter is None:
            return cls()
        if importlib.util.find_spec("opentelemetry.sdk") is None:
            log.warning(
                "OTEL_* variables ask for traces but OpenTelemetry is not installed: install nestor-catalog[otel]",
                extra={"operation": "tracing"},
            )
            return cls()
        provider = _build_provider(service_name, exporter, env)
        from opentelemetry import trace

        trace.set_tracer_provider(provider)
        return cls(provider, owned=True)

    def shutdown(self) -> None:
        """Export what is buffered and stop the exporter (providers this object built only)."""
        if self._owned and self._provider is not None:
            self._provider.shutdown()

    def force_flush(self) -> None:
        if self._provider is not None and hasattr(self._provider, "force_flush"):
            self._provider.force_flush()

    @contextlib.contextmanager
    def span(
        self,
        name: str,
        *,
        kind: str = "internal",
        attributes: Mapping[str, Any] | None = None,
        links: Sequence[Link] = (),
        parent: Any | None = None,
    ) -> Iterator[Span | None]:
        """A span around the block (current while it runs), or ``None`` when disabled. An
        exception leaving the block is recorded on the span and marks it as an error."""
        if self._tracer is None:
            yield None
            return
        with self._tracer.start_as_current_span(
            name,
            context=parent,
            kind=self._kinds.get(kind, self._kinds["internal"]),
            attributes=attributes,
            links=links or None,
        ) as span:
            yield span

    def extract(self, headers: Mapping[str, str]) -> Any | None:
        """The parent context a request's ``traceparent``/``tracestate`` carry (None when disabled)."""
        if self._tracer is None:
            return None
        return self._propagator.extract(headers)

    def inject(self, headers: dict[str, str]) -> None:
        """Add the current span's ``traceparent`` to outgoing ``headers`` (nothing when disabled)."""
        if self._tracer is None:
            return
        self._propagator.inject(headers)

    def current_link(self) -> Link | None:
        """A link to the current span (a webhook's), for the span of the work it triggers."""
        if self._tracer is None:
            return None
        from opentelemetry import trace

        context = trace.get_current_span().get_span_context()
        return trace.Link(context, {"nestor.link": "trigger"}) if context.is_valid else None

    def link_from(self, traceparent: str) -> Link | None:
        """A link to the span a ``traceparent`` names (a webhook received by another replica)."""
        if self._tracer is None:
            return None
        from opentelemetry import propagate, trace

        context = trace.get_current_span(propagate.extract({"traceparent": traceparent})).get_span_context()
        return trace.Link(context, {"nestor.link": "forwarded trigger"}) if context.is_valid else None


def trace_id_of(span: Span | None) -> str | None:
    """The 32-hex trace id of a recording span (the ``trace_id`` of the log lines under it)."""
    if span is None:
        return None
    context = span.get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None


def _exporter_name(env: Mapping[str, str]) -> str | None:
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() in _TRUE:
        return None
    names = [name.strip().lower() for name in env.get("OTEL_TRACES_EXPORTER", "").split(",") if name.strip()]
    if names:
        return next((name for name in names if name != "none"), None)
    return "otlp" if any(env.get(name) for name in _ENDPOINTS) else None


def _build_provider(service_name: str, exporter: str, env: Mapping[str, str]) -> TracerProvider:
    from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

    attributes: dict[str, str] = {SERVICE_VERSION: __version__}
    if not env.get("OTEL_SERVICE_NAME"):
        attributes[SERVICE_NAME] = service_name
    provider = TracerProvider(resource=Resource.create(attributes))
    span_exporter: SpanExporter
    if exporter == "console":
        span_exporter = ConsoleSpanExporter()
    else:
        if exporter != "otlp":
            log.warning("unknown OTEL_TRACES_EXPORTER %r: using otlp", exporter, extra={"operation": "tracing"})
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        span_exporter = OTLPSpanExporter()
    provider.add_span_processor(BatchSpanProcessor(span_exporter))
    log.info(
        "tracing on: %s exporter",
        exporter,
        extra={"operation": "tracing", "endpoint": env.get(_ENDPOINTS[1]) or env.get(_ENDPOINTS[0])},
    )
    return provider
