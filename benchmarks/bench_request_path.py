"""Per-request costs of the server's building blocks: auth, trace ids, logging, metrics, webhooks.

Each figure is microseconds per call of our code, beside a ceiling measured in the same run that
does the bare library work our code wraps:

- ``TokenVerifier.verify`` (header check, key choice, claim checks, principal) vs a bare
  ``jwt.decode`` of the same token with the same key and options, for HS256, RS256 and ES256:
  on first use (cache off) and for a token reused across requests (remembered until ``exp``);
- a JSON log line (``JsonFormatter`` with five ``extra`` fields and a trace id) vs ``json.dumps``
  of the same dict;
- ``Metrics.observe_request`` vs the bare ``Counter.inc`` + ``Histogram.observe`` it makes;
- ``verify_and_parse`` of a real GitHub push payload vs ``hmac`` + ``compare_digest`` +
  ``json.loads`` of the same body;
- ``trace_id_from_headers`` with a ``traceparent`` (no ceiling: a regex match).

The goal is that our layer costs at most 2x the library work it wraps (it runs on every request);
the log line has no goal: its ceiling leaves out building the record's dict, which is most of it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from prometheus_client import CollectorRegistry, Counter, Histogram

from benchmarks._harness import Context, Row, median_us
from nestor_catalog_server.auth import TokenVerifier
from nestor_catalog_server.config import AuthConfig
from nestor_catalog_server.observability import JsonFormatter, Metrics, trace_context, trace_id_from_headers
from nestor_catalog_server.sync.webhooks import sign_payload, verify_and_parse

GOAL_RATIO = 2.0
SECRET = "a-benchmark-hmac-secret-of-at-least-32-bytes"
PAYLOAD = Path(__file__).resolve().parent.parent / "tests" / "server" / "sync" / "payloads" / "github-push.json"


def _row(name: str, ours: float, ceiling: float, label: str) -> Row:
    return Row(
        benchmark=name,
        figure=ours,
        unit="us/call",
        ceiling=ceiling,
        ceiling_label=label,
        goal=f"<= {GOAL_RATIO:g}x ceiling",
        met=ours <= GOAL_RATIO * ceiling,
    )


def _claims() -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "bench", "aud": "catalog", "iss": "bench", "iat": now, "exp": now + 3600, "groups": ["x"]}


def _token_rows(ctx: Context) -> list[Row]:
    rows = []
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    folder = ctx.workdir / "bench_request_path"
    folder.mkdir(parents=True, exist_ok=True)
    cases: list[tuple[str, Any, Any, dict[str, Any]]] = [("HS256", SECRET, SECRET.encode(), {"hs256_secret": SECRET})]
    for alg, private in (("RS256", rsa_key), ("ES256", ec_key)):
        pem = folder / f"{alg}.pem"
        public = private.public_key()
        pem.write_bytes(
            public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        cases.append((alg, private, public, {"public_keys": [str(pem)]}))
    number = ctx.scale(2000, 200)
    for alg, signing_key, verify_key, keys in cases:
        settings = AuthConfig.model_validate({"enabled": True, "audience": "catalog", "issuer": "bench", **keys})
        cold = TokenVerifier(settings, cache_size=0)
        warm = TokenVerifier(settings)
        token = jwt.encode(_claims(), signing_key, algorithm=alg)

        def bare(token: str = token, key: Any = verify_key, alg: str = alg) -> Any:
            return jwt.decode(token, key, algorithms=[alg], audience="catalog", issuer="bench", leeway=30.0)

        ceiling = median_us(bare, number=number // 4)
        ours = median_us(lambda token=token, verifier=cold: verifier.verify(token), number=number // 4)
        rows.append(_row(f"verify {alg} token (first use)", ours, ceiling, "bare jwt.decode"))
        cached = median_us(lambda token=token, verifier=warm: verifier.verify(token), number=number * 10)
        rows.append(_row(f"verify {alg} token (reused)", cached, ceiling, "bare jwt.decode"))
    return rows


def _log_row(ctx: Context) -> Row:
    formatter = JsonFormatter("catalog")
    extra = {
        "operation": "sync_repository",
        "repository": "platform-resources",
        "resources_updated": 5,
        "duration_ms": 1250,
        "outcome": "success",
    }
    record = logging.LogRecord("nestor_catalog_server.sync", logging.INFO, __file__, 1, "repository synced", (), None)
    record.__dict__.update(extra)
    entry = {
        "timestamp": "2024-01-15T10:30:45.120Z",
        "level": "info",
        "service": "catalog",
        "logger": record.name,
        "message": "repository synced",
        **extra,
        "trace_id": "abc123",
    }
    number = ctx.scale(20000, 2000)
    with trace_context("abc123"):
        ours = median_us(lambda: formatter.format(record), number=number)
    ceiling = median_us(lambda: json.dumps(entry), number=number)
    return Row(
        benchmark="JSON log line (5 extra fields)",
        figure=ours,
        unit="us/call",
        ceiling=ceiling,
        ceiling_label="json.dumps of the finished dict",
        goal="informational (a log line per request at most)",
    )


def _metrics_row(ctx: Context) -> Row:
    metrics = Metrics(process_metrics=False)
    registry = CollectorRegistry()
    counter = Counter("bare_requests", "", ["method", "route", "status"], registry=registry)
    histogram = Histogram("bare_latency", "", ["method", "route"], registry=registry)

    def bare() -> None:
        counter.labels(method="GET", route="/api/v1/resources/{name}", status="200").inc()
        histogram.labels(method="GET", route="/api/v1/resources/{name}").observe(0.002)

    number = ctx.scale(20000, 2000)
    ours = median_us(lambda: metrics.observe_request("GET", "/api/v1/resources/{name}", 200, 0.002), number=number)
    ceiling = median_us(bare, number=number)
    return _row("metrics per request", ours, ceiling, "bare Counter.inc + Histogram.observe")


def _webhook_row(ctx: Context) -> Row:
    body = PAYLOAD.read_bytes()
    headers = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "d", "X-Hub-Signature-256": sign_payload(SECRET, body)}
    signature = headers["X-Hub-Signature-256"].removeprefix("sha256=")

    def bare() -> Any:
        expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        hmac.compare_digest(expected, signature)
        return json.loads(body)

    number = ctx.scale(5000, 500)
    ours = median_us(lambda: verify_and_parse("github", headers, body, SECRET, branch="main"), number=number)
    ceiling = median_us(bare, number=number)
    return _row("GitHub push webhook verify+parse", ours, ceiling, "bare hmac + compare_digest + json.loads")


def _trace_row(ctx: Context) -> Row:
    headers = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
    figure = median_us(lambda: trace_id_from_headers(headers), number=ctx.scale(20000, 2000))
    return Row(benchmark="trace id from traceparent", figure=figure, unit="us/call")


def run(ctx: Context) -> list[Row]:
    steps: list[Callable[[Context], Row | list[Row]]] = [_token_rows, _log_row, _metrics_row, _webhook_row, _trace_row]
    rows: list[Row] = []
    for step in steps:
        result = step(ctx)
        rows.extend(result if isinstance(result, list) else [result])
    return rows
