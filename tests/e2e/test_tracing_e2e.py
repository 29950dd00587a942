"""Traces from a real server process, configured by the standard ``OTEL_*`` variables alone and
exported over OTLP/HTTP (protobuf) to a collector this test serves on loopback; and the same
server without OpenTelemetry installed at all (the ``otel`` extra is optional)."""

from __future__ import annotations

import contextlib
import gzip
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.e2e.conftest import copy_examples, examples_config
from tests.support.server import run_server

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


class Collector:
    """An OTLP/HTTP traces endpoint: every span it receives, with its resource's attributes."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.lock = threading.RLock()  # predicates of wait_for may read the spans too

    def receive(self, body: bytes) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        with self.lock:
            for resource_spans in request.resource_spans:
                resource = {kv.key: kv.value.string_value for kv in resource_spans.resource.attributes}
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        self.spans.append(
                            {
                                "name": span.name,
                                "trace_id": span.trace_id.hex(),
                                "span_id": span.span_id.hex(),
                                "parent_span_id": span.parent_span_id.hex(),
                                "kind": span.kind,
                                "attributes": {kv.key: _value(kv.value) for kv in span.attributes},
                                "resource": resource,
                                "scope": scope.scope.name,
                            }
                        )

    def wait_for(self, predicate: Any, timeout: float = 20.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                found = [span for span in self.spans if predicate(span)]
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"no such span within {timeout}s; got {[s['name'] for s in self.spans]}")
            time.sleep(0.05)


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


@contextlib.contextmanager
def collector() -> Iterator[tuple[str, Collector]]:
    received = Collector()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path == "/v1/traces":
                received.receive(body)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def test_a_server_exports_its_traces_over_otlp(examples_dir: Path, tmp_path: Path) -> None:
    folder = copy_examples(examples_dir, tmp_path / "examples")
    with collector() as (endpoint, received):
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_SERVICE_NAME": "catalog-under-test",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }
        with run_server(examples_config(folder, tmp_path), env=env, workdir=tmp_path) as server:
            server.wait_ready()
            with server.client() as client:
                response = client.get("/api/v1/resources/aws-rds-mysql", headers={"traceparent": TRACEPARENT})
                assert response.status_code == 200
                assert response.headers["x-request-id"] == TRACE_ID
            [request] = received.wait_for(lambda s: s["trace_id"] == TRACE_ID and s["kind"] == 2)
            assert request["name"] == "GET /api/v1/resources/{name}"
            assert request["parent_span_id"] == "b7ad6b7169203331"
            assert request["attributes"]["http.response.status_code"] == 200
            assert request["resource"]["service.name"] == "catalog-under-test"
            assert request["resource"]["deployment.environment"] == "test"
            [sync] = received.wait_for(lambda s: s["name"] == "sync_repository")[:1]
            stages = received.wait_for(lambda s: s["trace_id"] == sync["trace_id"] and s["name"].startswith("sync."))
            assert {"sync.diff", "sync.load", "sync.publish"} <= {s["name"] for s in stages}
            storage = received.wait_for(
                lambda s: s["name"].startswith("storage.") and s["trace_id"] == sync["trace_id"]
            )
            assert storage[0]["attributes"]["db.system"] == "sqlite"
            synced = server.wait_for_log(lambda r: r.get("operation") == "sync_repository")
            assert synced["trace_id"] == sync["trace_id"], "the sync's log line names its trace"


def test_the_sidecars_mirror_continues_its_traces_upstream(examples_dir: Path, tmp_path: Path) -> None:
    """The mirror's requests are CLIENT spans in the sidecar whose ``traceparent`` the upstream's
    SERVER spans continue: one trace across the two processes."""
    folder = copy_examples(examples_dir, tmp_path / "examples")
    with collector() as (endpoint, received):
        otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
        upstream_env = {**otel, "OTEL_SERVICE_NAME": "upstream"}
        sidecar_env = {**otel, "OTEL_SERVICE_NAME": "sidecar"}
        with run_server(
            examples_config(folder, tmp_path / "up"), env=upstream_env, workdir=tmp_path / "up"
        ) as upstream:
            upstream.wait_ready()
            sidecar_config = {
                "storage": {"type": "memory"},
                "logging": {"format": "json"},
                "service": {"upstream": upstream.url, "data_dir": str(tmp_path / "side" / "data")},
            }
            with run_server(sidecar_config, env=sidecar_env, workdir=tmp_path / "side") as sidecar:
                sidecar.wait_ready()

                def continued(span: dict[str, Any]) -> bool:
                    if span["resource"].get("service.name") != "upstream" or span["kind"] != 2:
                        return False
                    with received.lock:
                        clients = [
                            s
                            for s in received.spans
                            if s["resource"].get("service.name") == "sidecar" and s["kind"] == 3
                        ]
                    return any(
                        c["span_id"] == span["parent_span_id"] and c["trace_id"] == span["trace_id"] for c in clients
                    )

                [first, *_] = received.wait_for(continued)
                assert first["name"].startswith("GET /api/v1/")


def test_the_server_runs_without_opentelemetry_installed(examples_dir: Path, tmp_path: Path) -> None:
    """``opentelemetry`` made unimportable (as when the extra is not installed), with OTEL_* set."""
    blocker = tmp_path / "no-otel"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\n"
        "for name in ('opentelemetry', 'opentelemetry.sdk', 'opentelemetry.trace'):\n"
        "    sys.modules[name] = None\n"
    )
    folder = copy_examples(examples_dir, tmp_path / "examples")
    env = {"PYTHONPATH": str(blocker), "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
    with run_server(examples_config(folder, tmp_path), env=env, workdir=tmp_path) as server:
        server.wait_ready()
        with server.client() as client:
            assert (
                client.get("/api/v1/resources/aws-rds-mysql", headers={"traceparent": TRACEPARENT}).status_code == 200
            )
        warning = server.wait_for_log(lambda r: "OpenTelemetry is not installed" in r.get("message", ""))
        assert "nestor-catalog[otel]" in warning["message"]
        access = server.wait_for_log(lambda r: r.get("operation") == "sync_repository")
        assert len(access["trace_id"]) == 32
        script = (
            "import sys\n"
            "sys.modules['opentelemetry'] = None\n"
            "from nestor_catalog_client import CatalogClient\n"
            f"with CatalogClient({server.url!r}) as client:\n"
            "    assert client.get_resource('aws-rds-mysql').name == 'aws-rds-mysql'\n"
            "assert not any(name.startswith('opentelemetry') and sys.modules[name] for name in sys.modules)\n"
            "print('ok')\n"
        )
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "ok"


@pytest.fixture(autouse=True)
def _no_inherited_otel(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
