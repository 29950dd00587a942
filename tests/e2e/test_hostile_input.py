"""Hostile input against the real server process: each item of the hardening issue, end to end.

Every answer is checked to be the error envelope (or findings) with its rule id, every body to
be strict JSON, and the server to stay responsive (``/health``) after each attack.
"""

from __future__ import annotations

import json
import select
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from nestor_catalog_server.sync import sign_payload
from tests.support.git import GitRepo, init_bare
from tests.support.server import ServerHandle, run_server

pytestmark = pytest.mark.e2e

SECRET = "hook-secret"
REDOS_PATTERN = "^(a+)+$"


def strict_json(response: httpx.Response) -> Any:
    """The body parsed as strict JSON: ``NaN``/``Infinity`` are refused."""

    def refuse(token: str) -> None:
        raise AssertionError(f"non-finite number {token} in {response.request.url}")

    return json.loads(response.content, parse_constant=refuse)


def definition(name: str, version: str, *, pattern: str = "^[a-z]+$", description: str = "A bucket") -> str:
    return f"""apiVersion: catalog.nestor.io/v1
kind: ResourceDefinition
metadata:
  name: {name}
  version: "{version}"
  provider: aws
  category: storage
  resource_type: s3
  description: "{description}"
  maintainers: [platform-team@company.com]
spec:
  supported_engines: [terraform]
  required_inputs:
    - name: bucket_name
      type: string
      description: "The bucket"
      validation:
        pattern: '{pattern}'
    - name: cpu_request
      type: number
      description: "CPUs"
      validation:
        min: 0.05
        max: 16
  engine_configs:
    terraform:
      module_source: "git::https://example.com/s3.git"
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    workdir = tmp_path_factory.mktemp("hostile")
    bare = init_bare(workdir / "remote.git")
    work = GitRepo.init(workdir / "work")
    work.write("resources/readme.txt", "definitions live here\n")
    work.commit("seed")
    work.push(bare)
    config = {
        "storage": {"type": "sqlite"},
        "logging": {"format": "json", "level": "warning"},
        "git": {
            "repositories": [
                {"name": "team", "url": str(bare), "path": "resources", "webhook_secret": SECRET, "poll_interval": "1h"}
            ]
        },
    }
    with run_server(config, workdir=workdir) as handle:
        handle.wait_ready()
        yield handle


@pytest.fixture(scope="module")
def client(server: ServerHandle) -> Iterator[httpx.Client]:
    with server.client(timeout=20.0) as http:
        yield http


def publish(client: httpx.Client, text: str, **headers: str) -> httpx.Response:
    return client.post(
        "/api/v1/resources", content=text.encode(), headers={"Content-Type": "application/yaml", **headers}
    )


def assert_healthy(client: httpx.Client) -> None:
    assert client.get("/health", timeout=5.0).status_code == 200


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = strict_json(response)
    assert set(body) == {"error"}, body
    return body["error"]  # type: ignore[no-any-return]


# -- 1. ReDoS


def test_a_catastrophic_pattern_is_matched_in_linear_time_by_any_reader(client: httpx.Client) -> None:
    assert publish(client, definition("redos-bucket", "1.0.0", pattern=REDOS_PATTERN)).status_code == 201
    # 39 "a"s and a "!": exponential on a backtracking engine (the worker sat at 95% CPU).
    for length in (25, 39, 5_000):
        values = {"bucket_name": "a" * length + "!", "cpu_request": 1}
        response = client.post("/api/v1/resources/redos-bucket/1.0.0/inputs:validate", json=values)
        assert response.status_code == 200
        body = strict_json(response)
        assert body["valid"] is False
        assert [f["rule"] for f in body["findings"]] == ["INPUT_PATTERN"]
        assert_healthy(client)


def test_a_dry_run_with_a_catastrophic_default_answers_at_once(client: httpx.Client) -> None:
    text = definition("redos-default", "1.0.0", pattern=REDOS_PATTERN).replace(
        "    - name: cpu_request\n",
        '      default: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!"\n    - name: cpu_request\n',
        1,
    )
    response = client.post("/api/v1/validate", content=text.encode())
    assert response.status_code == 200
    rules = {f["rule"] for f in strict_json(response)["findings"]}
    assert {"DEFAULT_VIOLATES_VALIDATION", "DEFAULT_ON_REQUIRED"} <= rules
    assert_healthy(client)


@pytest.mark.parametrize(
    ("pattern", "hint"),
    [("^(ab)\\1$", "backreferences"), ("^(?=[a-z])[a-z]+$", "lookahead"), ("^a++$", "possessive")],
)
def test_a_pattern_the_linear_engine_cannot_run_is_pattern_invalid(
    client: httpx.Client, pattern: str, hint: str
) -> None:
    response = client.post("/api/v1/validate", content=definition("bad-pattern", "1.0.0", pattern=pattern).encode())
    (finding,) = [f for f in strict_json(response)["findings"] if f["rule"] == "PATTERN_INVALID"]
    assert hint in finding["message"]
    assert (finding["line"], finding["column"]) == (18, 18)
    refused = publish(client, definition("bad-pattern", "1.0.0", pattern=pattern))
    assert refused.status_code == 422
    assert "PATTERN_INVALID" in {f["rule"] for f in error_of(refused)["details"]["validation_errors"]}


def test_a_string_past_the_pattern_input_limit_is_refused_unmatched(client: httpx.Client) -> None:
    assert publish(client, definition("long-input", "1.0.0")).status_code == 201
    values = {"bucket_name": "a" * 10_001, "cpu_request": 1}
    response = client.post("/api/v1/resources/long-input/1.0.0/inputs:validate", json=values)
    (finding,) = strict_json(response)["findings"]
    assert finding["rule"] == "PATTERN_INPUT_TOO_LONG"
    assert "validation.limits.pattern_input_max_length" in finding["message"]


# -- 2. build metadata


def test_build_metadata_cannot_shadow_a_published_version(client: httpx.Client) -> None:
    assert publish(client, definition("identity", "1.0.0")).status_code == 201
    evil = definition("identity", "1.0.0+evil", description="Changed")
    for response in (publish(client, evil), client.post("/api/v1/validate", content=evil.encode())):
        findings = (
            error_of(response)["details"]["validation_errors"]
            if response.status_code == 422
            else strict_json(response)["findings"]
        )
        (finding,) = [f for f in findings if f["rule"] == "VERSION_BUILD_METADATA"]
        assert (finding["field"], finding["line"]) == ("metadata.version", 5)
        assert "new version" in finding["message"]
    assert strict_json(client.get("/api/v1/resources/identity/latest"))["metadata"]["version"] == "1.0.0"
    versions = strict_json(client.get("/api/v1/resources/identity/versions"))
    assert "1.0.0+evil" not in json.dumps(versions)


# -- 3. and 5. bodies


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_finite_numbers_in_a_body_are_a_400(client: httpx.Client, token: str) -> None:
    assert publish(client, definition("finite", "1.0.0")).status_code in {200, 201}
    body = b'{"bucket_name": "abc", "cpu_request": ' + token.encode() + b"}"
    response = client.post(
        "/api/v1/resources/finite/1.0.0/inputs:validate", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "INVALID_REQUEST"
    assert error["details"]["body"] == "NUMBER_OUT_OF_RANGE"


def test_deeply_nested_bodies_are_a_400_everywhere(client: httpx.Client) -> None:
    assert publish(client, definition("nested", "1.0.0")).status_code in {200, 201}
    bomb = b"[" * 100_000
    for method, path in (
        ("POST", "/api/v1/resources/nested/1.0.0/inputs:validate"),
        ("PUT", "/api/v1/resources/nested/1.0.0/deprecation"),
    ):
        response = client.request(method, path, content=bomb, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, (path, response.text)
        assert error_of(response)["details"]["body"] == "NESTING_TOO_DEEP"
    signed = {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": sign_payload(SECRET, bomb),
    }
    response = client.post("/api/v1/webhooks/github/team", content=bomb, headers=signed)
    assert response.status_code == 400
    assert error_of(response)["details"]["reason"] == "payload_not_json"
    assert_healthy(client)


def test_a_moment_with_no_utc_equivalent_is_a_400_naming_the_parameter(client: httpx.Client) -> None:
    response = client.get("/api/v1/audit", params={"until": "0001-01-01T01:00:00+04:05"})
    assert response.status_code == 400
    assert error_of(response)["details"]["parameter"] == "until"


# -- 6. one path for posted definitions


def test_json_posted_to_publish_and_validate_gets_the_same_findings(client: httpx.Client) -> None:
    document = {"apiVersion": "catalog.nestor.io/v1", "kind": "ResourceDefinition", "metadata": {"name": "x"}}
    raw = json.dumps(document, indent=2).replace('"name": "x"', '"name": "x", "name": "y"').encode()
    headers = {"Content-Type": "application/json"}
    validated = strict_json(client.post("/api/v1/validate", content=raw, headers=headers))["findings"]
    published = error_of(client.post("/api/v1/resources", content=raw, headers=headers))["details"]["validation_errors"]
    assert [f for f in validated if f["severity"] == "error"] == published
    assert published[0]["rule"] == "DUPLICATE_KEY"


# -- 7. free text


def test_free_text_is_bounded(client: httpx.Client) -> None:
    assert publish(client, definition("chatty", "1.0.0")).status_code in {200, 201}
    response = client.put("/api/v1/resources/chatty/1.0.0/deprecation", json={"message": "x" * 500_000})
    assert response.status_code == 422
    (finding,) = error_of(response)["details"]["validation_errors"]
    assert finding["rule"] == "FIELD_TOO_LONG"
    assert "deprecation_message_max_length" in finding["message"]
    long_description = definition("chatty", "1.1.0", description="d" * 5_000)
    assert publish(client, long_description).status_code == 422


# -- 4. webhooks


def _raw_request(server: ServerHandle, head: bytes, timeout: float = 10.0) -> bytes:
    """Send ``head`` (request line and headers, no body) and return the response's first bytes."""
    with socket.create_connection((server.host, server.port), timeout=timeout) as sock:
        sock.sendall(head)
        return sock.recv(4096)


def test_an_unsigned_webhook_is_refused_before_its_body_is_sent(server: ServerHandle) -> None:
    """The server answers 401 while the announced 24 MiB body has not been sent at all: it
    was never going to be read (a server that read first would wait for it, and time out)."""
    for repo in ("team", "no-such-repo"):
        head = (
            f"POST /api/v1/webhooks/github/{repo} HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\n"
            f"Content-Type: application/json\r\nContent-Length: {24 << 20}\r\n\r\n"
        ).encode()
        answer = _raw_request(server, head)
        assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
        assert b"signature_missing" in answer


def test_an_unknown_repository_is_answered_as_a_bad_signature(client: httpx.Client, server: ServerHandle) -> None:
    body = b'{"ref": "refs/heads/main"}'
    headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": sign_payload("guess", body)}
    known = client.post("/api/v1/webhooks/github/team", content=body, headers=headers)
    unknown = client.post("/api/v1/webhooks/github/no-such-repo", content=body, headers=headers)
    assert known.status_code == unknown.status_code == 401
    strip = lambda error: {k: v for k, v in error.items() if k != "trace_id"}  # noqa: E731
    assert strip(error_of(known)) == strip(error_of(unknown))
    # Signed but unknown, before the body is read: the same answer too.
    head = (
        "POST /api/v1/webhooks/github/no-such-repo HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\n"
        f"X-Hub-Signature-256: {sign_payload('guess', body)}\r\nContent-Length: {24 << 20}\r\n\r\n"
    ).encode()
    assert _raw_request(server, head).startswith(b"HTTP/1.1 401")


def test_a_webhook_body_over_the_cap_is_a_413(client: httpx.Client) -> None:
    body = b" " * (25 * 1024 * 1024 + 1)
    headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": sign_payload(SECRET, body)}
    response = client.post("/api/v1/webhooks/github/team", content=body, headers=headers)
    assert response.status_code == 413


def test_a_replayed_delivery_syncs_once(client: httpx.Client) -> None:
    body = json.dumps({"ref": "refs/heads/main", "after": "a" * 40}).encode()
    headers = {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": "replay-" + uuid.uuid4().hex,
        "X-Hub-Signature-256": sign_payload(SECRET, body),
    }
    first = client.post("/api/v1/webhooks/github/team", content=body, headers=headers)
    assert first.status_code == 202
    again = client.post("/api/v1/webhooks/github/team", content=body, headers=headers)
    assert again.status_code == 200
    assert strict_json(again)["status"] == "duplicate"


def test_health_answers_while_a_large_validate_is_being_checked(server: ServerHandle, client: httpx.Client) -> None:
    """A body near ``service.max_body_size`` of many definitions keeps a worker busy for a
    while (loaded and validated off the event loop): ``/health`` on another connection is
    answered before that validate's response is ready. A server that checked the body on
    its event loop would answer the health check only after the validate."""
    documents = []
    size = 0
    while size < 900 * 1024:
        text = definition(f"bulk-bucket-{len(documents):05d}", "1.0.0", description="x" * 40)
        documents.append(text)
        size += len(text) + 4
    body = "---\n".join(documents).encode()
    head = (
        f"POST /api/v1/validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/yaml\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((server.host, server.port), timeout=120) as heavy:
        heavy.sendall(head + body)
        # Give the server time to read the body (loopback: milliseconds) and start checking
        # it (about a second of work). On a machine so slow that the health check still
        # arrives while the body is read, this test cannot fail: it never fails wrongly.
        time.sleep(0.2)
        health = client.get("/health", timeout=30.0)
        validate_ready_before_health = bool(select.select([heavy], [], [], 0)[0])
        answer = b""
        while chunk := heavy.recv(1 << 16):
            answer += chunk
    assert health.status_code == 200
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 200 OK", status_line
    result = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert result["definitions"] == len(documents)
    assert result["valid"] is True
    assert not validate_ready_before_health, "the health check waited for the validate"


def test_the_server_is_still_healthy(client: httpx.Client, tmp_path: Path) -> None:
    assert_healthy(client)
