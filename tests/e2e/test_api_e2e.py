"""Every endpoint of the HTTP API against a real server process serving the examples: the
spec's curl examples, the DESIGN.md additions, error codes, caching headers and JSON logs."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.e2e.conftest import example_names
from tests.support.server import ServerHandle

pytestmark = pytest.mark.e2e

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture(scope="module")
def http(examples_server: ServerHandle) -> Iterator[httpx.Client]:
    with examples_server.client() as client:
        yield client


def names(response: httpx.Response) -> list[str]:
    return [item["metadata"]["name"] for item in response.json()["items"]]


# --------------------------------------------------------------------------------------------- the spec's examples


def test_list_all_resources(http: httpx.Client, examples_dir: Path) -> None:
    response = http.get("/api/v1/resources")
    assert response.status_code == 200
    assert set(names(response)) == example_names(examples_dir)
    assert response.json()["total"] == len(names(response))


def test_list_by_provider_and_category(http: httpx.Client) -> None:
    aws = http.get("/api/v1/resources?provider=aws")
    assert {i["metadata"]["provider"] for i in aws.json()["items"]} == {"aws"}
    databases = http.get("/api/v1/resources?category=database")
    assert {i["metadata"]["category"] for i in databases.json()["items"]} == {"database"}


def test_latest_and_specific_version(http: httpx.Client) -> None:
    latest = http.get("/api/v1/resources/aws-rds-mysql")
    assert latest.json()["metadata"]["version"] == "2.0.0"
    specific = http.get("/api/v1/resources/aws-rds-mysql/1.2.0")
    assert specific.json()["metadata"]["version"] == "1.2.0"
    assert specific.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert specific.json()["status"]["source"]["kind"] == "local"


def test_versions_and_latest_paths(http: httpx.Client) -> None:
    versions = http.get("/api/v1/resources/aws-rds-mysql/versions").json()
    assert [v["version"] for v in versions["versions"]] == ["2.0.0", "1.2.0", "1.1.0", "1.0.0"]
    latest = http.get("/api/v1/resources/aws-rds-mysql/latest")
    assert latest.headers["x-resource-version"] == "2.0.0"


def test_search_examples(http: httpx.Client) -> None:
    mysql = http.get("/api/v1/search?q=mysql")
    assert names(mysql)[0] == "aws-rds-mysql"
    filtered = http.get("/api/v1/search?q=database&provider=aws")
    assert filtered.json()["items"]
    assert {i["metadata"]["provider"] for i in filtered.json()["items"]} == {"aws"}


def test_health_ready_metrics_status(http: httpx.Client) -> None:
    assert http.get("/health").json() == {"status": "ok"}
    ready = http.get("/ready").json()
    assert ready["status"] == "ready"
    assert ready["checks"]["storage"] == {"ok": True, "type": "sqlite"}
    assert ready["checks"]["sync"]["ok"] is True
    metrics = http.get("/metrics").text
    for name in ("catalog_resources_total", "catalog_git_sync_duration", "catalog_api_requests_total"):
        assert name in metrics
    assert "catalog_api_request_duration_seconds_bucket" in metrics
    status = http.get("/api/v1/status").json()
    assert status["service"] == "catalog"
    assert status["counts"]["resources"] >= 19
    (source,) = status["repositories"]
    assert source["name"] == "examples"
    assert source["state"] == "idle"
    assert status["storage"]["type"] == "sqlite"


# --------------------------------------------------------------------------------------------- additions


def test_constraints(http: httpx.Client) -> None:
    assert http.get("/api/v1/resources/aws-rds-mysql", params={"constraint": "^1.1"}).json()["metadata"]["version"] == (
        "1.2.0"
    )
    assert http.get("/api/v1/resources/aws-rds-mysql", params={"constraint": "~> 2.0"}).status_code == 200
    assert http.get("/api/v1/resources/aws-rds-mysql", params={"constraint": "^9"}).status_code == 404
    assert http.get("/api/v1/resources/aws-rds-mysql", params={"constraint": ">>1"}).status_code == 400


def test_pagination_facets_and_schemas(http: httpx.Client) -> None:
    first = http.get("/api/v1/resources", params={"limit": 3, "facets": "true"})
    assert len(names(first)) == 3
    assert 'rel="next"' in first.headers["link"]
    assert first.json()["facets"]["provider"]
    second = http.get(first.headers["link"][1 : first.headers["link"].index(">")])
    assert set(names(second)).isdisjoint(names(first))
    assert http.get("/api/v1/facets").json()["total"] >= 19
    assert http.get("/api/v1/schema").json()["title"]
    inputs = http.get("/api/v1/resources/aws-rds-mysql/1.2.0/schema")
    assert inputs.headers["content-type"] == "application/schema+json"
    check = http.post(
        "/api/v1/resources/aws-rds-mysql/1.2.0/inputs:validate",
        json={"instance_class": "db.t3.micro", "allocated_storage": 10},
    )
    assert check.json()["valid"] is False


def test_validate_dry_run(http: httpx.Client, examples_server: ServerHandle) -> None:
    text = (examples_server.config_path.parent / "examples" / "aws-vpc-2.1.0.yaml").read_bytes()
    same = http.post("/api/v1/validate", content=text, headers={"Content-Type": "application/yaml"})
    assert same.json()["valid"] is True
    document = yaml.safe_load(text)
    document["metadata"]["description"] = "edited in place"
    edited = http.post(
        "/api/v1/validate", content=yaml.safe_dump(document).encode(), headers={"Content-Type": "text/yaml"}
    )
    assert edited.json()["valid"] is False
    assert "IMMUTABLE_VERSION" in {f["rule"] for f in edited.json()["findings"]}


def test_audit_and_sync_routes(http: httpx.Client) -> None:
    audit = http.get("/api/v1/audit", params={"resource": "aws-rds-mysql", "limit": 2})
    assert audit.status_code == 200
    assert len(audit.json()["items"]) == 2
    assert audit.json()["next_cursor"]
    assert audit.json()["items"][0]["resource"] == "aws-rds-mysql"
    older = http.get(
        "/api/v1/audit", params={"resource": "aws-rds-mysql", "limit": 2, "cursor": audit.json()["next_cursor"]}
    )
    assert older.json()["items"][0]["id"] != audit.json()["items"][0]["id"]
    assert http.get("/api/v1/sync/examples").json()["name"] == "examples"
    assert http.post("/api/v1/sync/examples").status_code == 202
    assert http.get("/api/v1/audit", params={"since": "not-a-date"}).status_code == 400


def test_openapi_and_docs(http: httpx.Client) -> None:
    document = http.get("/api/v1/openapi.json").json()
    assert "/api/v1/resources/{name}/{version}" in document["paths"]
    assert http.get("/docs").status_code == 200


# --------------------------------------------------------------------------------------------- errors and caching


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/api/v1/resources?limit=0", 400, "INVALID_REQUEST"),
        ("GET", "/api/v1/resources/aws-rds-mysql/1.x", 400, "INVALID_VERSION"),
        ("GET", "/api/v1/search", 400, "INVALID_REQUEST"),
        ("GET", "/api/v1/resources/nope", 404, "RESOURCE_NOT_FOUND"),
        ("GET", "/api/v1/nope", 404, "NOT_FOUND"),
        ("PATCH", "/api/v1/resources", 405, "METHOD_NOT_ALLOWED"),
        ("DELETE", "/api/v1/resources/aws-rds-mysql/1.0.0", 409, "OWNERSHIP_CONFLICT"),
        ("POST", "/api/v1/resources", 422, "VALIDATION_FAILED"),
    ],
)
def test_error_envelopes(http: httpx.Client, method: str, path: str, status: int, code: str) -> None:
    response = http.request(method, path, content=b"kind: [", headers={"traceparent": TRACEPARENT})
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"code", "message", "service", "details", "trace_id"}
    assert error["code"] == code
    assert error["service"] == "catalog"
    assert error["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert response.headers["x-request-id"] == error["trace_id"]
    assert "Traceback" not in response.text


def test_body_over_the_limit_is_413(http: httpx.Client) -> None:
    response = http.post("/api/v1/validate", content=b"#" * (1024 * 1024 + 1), headers={"Content-Type": "text/yaml"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    assert response.headers["connection"] == "close"
    assert http.get("/health").status_code == 200, "the client opens a new connection after a 413"


def test_conditional_requests(http: httpx.Client) -> None:
    for path in ("/api/v1/resources/aws-vpc/2.1.0", "/api/v1/resources/aws-vpc", "/api/v1/resources"):
        first = http.get(path)
        again = http.get(path, headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304, path
        assert again.content == b""
    deprecated = http.get("/api/v1/resources/kubernetes-redis/1.0.0")
    assert re.fullmatch(r"@[0-9]+", deprecated.headers["deprecation"])  # RFC 9745
    assert deprecated.headers["sunset"].endswith("GMT")
    assert 'rel="successor-version"' in deprecated.headers["link"]


def test_json_log_lines_carry_the_trace_id(http: httpx.Client, examples_server: ServerHandle) -> None:
    http.get("/api/v1/resources/not-there", headers={"traceparent": TRACEPARENT})
    record = examples_server.wait_for_log(
        lambda r: r.get("logger") == "nestor_catalog_server.access" and r.get("path") == "/api/v1/resources/not-there"
    )
    assert record["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert record["level"] == "info"
    assert record["service"] == "catalog"
    assert record["status"] == 404
    assert record["timestamp"].endswith("Z")
    assert {"method", "route", "duration_ms"} <= set(record)
    assert json.loads(json.dumps(record)) == record


def test_a_saved_edit_shows_up(http: httpx.Client, examples_server: ServerHandle) -> None:
    folder = examples_server.config_path.parent / "examples"
    document = yaml.safe_load((folder / "aws-vpc-2.1.0.yaml").read_text())
    document["metadata"]["version"] = "2.1.1"
    document["metadata"]["description"] = "A patch saved while the server runs"
    (folder / "aws-vpc-2.1.1.yaml").write_text(yaml.safe_dump(document))
    deadline = time.monotonic() + 15
    while http.get("/api/v1/resources/aws-vpc/2.1.1").status_code != 200:
        assert time.monotonic() < deadline, "the edit never reached the catalog"
        time.sleep(0.05)
    assert http.get("/api/v1/resources/aws-vpc").headers["x-resource-version"] == "2.1.1"
