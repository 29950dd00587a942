"""The request middleware: access-log levels and fields, trace ids, HEAD."""

from __future__ import annotations

import logging

import pytest

from nestor_catalog_server.api.middleware import ACCESS_LOGGER, access_level, trace_id_of
from tests.server.api.conftest import Client

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.mark.parametrize(
    ("method", "path", "route", "status", "seconds", "level"),
    [
        ("GET", "/api/v1/resources/x/1.0.0", "/api/v1/resources/{name}/{version}", 200, 0.001, logging.DEBUG),
        ("GET", "/api/v1/resources/x/1.0.0", "/api/v1/resources/{name}/{version}", 304, 0.001, logging.DEBUG),
        ("GET", "/api/v1/resources/x", "/api/v1/resources/{name}", 404, 0.001, logging.INFO),
        ("POST", "/api/v1/resources", "/api/v1/resources", 201, 0.01, logging.INFO),
        ("DELETE", "/api/v1/resources/x/1.0.0", "/api/v1/resources/{name}/{version}", 200, 0.01, logging.INFO),
        ("GET", "/api/v1/search", "/api/v1/search", 500, 0.001, logging.ERROR),
        ("GET", "/api/v1/search", "/api/v1/search", 200, 2.0, logging.WARNING),
        ("GET", "/api/v1/events", "/api/v1/events", 200, 600.0, logging.DEBUG),
        ("GET", "/ready", "/ready", 503, 0.001, logging.DEBUG),
        ("GET", "/health", "/health", 200, 5.0, logging.DEBUG),
    ],
)
def test_access_levels(method: str, path: str, route: str, status: int, seconds: float, level: int) -> None:
    assert access_level(method, path, route, status, seconds) == level


def test_trace_id_from_raw_headers() -> None:
    assert trace_id_of([(b"traceparent", TRACEPARENT.encode())]) == "0af7651916cd43dd8448eb211c80319c"
    assert trace_id_of([(b"x-request-id", b"abc")]) == "abc"
    assert trace_id_of([(b"traceparent", b"garbage"), (b"x-request-id", b"fallback")]) == "fallback"
    generated = trace_id_of([(b"host", b"x")])
    assert len(generated) == 32
    assert generated != trace_id_of([])


async def test_access_log_record_carries_the_request(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER):
        await client.get("/api/v1/resources/no-such/1.0.0", headers={"traceparent": TRACEPARENT})
        await client.get("/api/v1/resources/aws-vpc/2.1.0")
    (record,) = [r for r in caplog.records if r.name == ACCESS_LOGGER]
    assert record.getMessage() == "GET /api/v1/resources/no-such/1.0.0 404"
    fields = vars(record)
    assert fields["operation"] == "http_request"
    assert fields["method"] == "GET"
    assert fields["route"] == "/api/v1/resources/{name}/{version}"
    assert fields["status"] == 404
    assert fields["duration_ms"] >= 0
    assert fields["client"]


async def test_debug_logs_every_request(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger=ACCESS_LOGGER):
        await client.get("/api/v1/resources/aws-vpc/2.1.0")
    assert [r.levelno for r in caplog.records if r.name == ACCESS_LOGGER] == [logging.DEBUG]


async def test_head_of_a_list_and_of_a_missing_resource(client: Client) -> None:
    listing = await client.head("/api/v1/resources")
    assert listing.status_code == 200
    assert listing.content == b""
    assert listing.headers["etag"].startswith('W/"r')
    missing = await client.head("/api/v1/resources/no-such")
    assert missing.status_code == 404
    assert missing.content == b""
