"""The OpenAPI document and the docs UI describe the real API."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

from tests.server.api.conftest import Client

ROOT = Path(__file__).resolve().parents[3]

PATHS = {
    "/api/v1/resources": {"get", "post"},
    "/api/v1/resources/{name}": {"get"},
    "/api/v1/resources/{name}/latest": {"get"},
    "/api/v1/resources/{name}/versions": {"get"},
    "/api/v1/resources/{name}/diff": {"get"},
    "/api/v1/resources/{name}/{version}": {"get", "delete"},
    "/api/v1/resources/{name}/{version}/schema": {"get"},
    "/api/v1/resources/{name}/{version}/inputs:validate": {"post"},
    "/api/v1/resources/{name}/{version}/deprecation": {"put", "delete"},
    "/api/v1/resources/{name}/{version}/restore": {"post"},
    "/api/v1/search": {"get"},
    "/api/v1/facets": {"get"},
    "/api/v1/schema": {"get"},
    "/catalog.nestor.io/v1/resource-definition.schema.json": {"get"},
    "/api/v1/validate": {"post"},
    "/api/v1/audit": {"get"},
    "/api/v1/sync": {"get"},
    "/api/v1/sync/{repo}": {"get", "post"},
    "/api/v1/webhooks/{provider}/{repo}": {"post"},
    "/api/v1/status": {"get"},
    "/health": {"get"},
    "/ready": {"get"},
    "/metrics": {"get"},
}


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


async def test_document_lists_every_path(client: Client) -> None:
    response = await client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "nestor-catalog"
    for path, methods in PATHS.items():
        assert path in document["paths"], path
        assert methods <= set(document["paths"][path]), path


async def test_errors_are_described_as_the_envelope(client: Client) -> None:
    document = (await client.get("/api/v1/openapi.json")).json()
    operation = document["paths"]["/api/v1/resources/{name}/{version}"]["get"]
    for status in ("400", "404", "500"):
        schema = resolve(document, operation["responses"][status]["content"]["application/json"]["schema"])
        error = resolve(document, schema["properties"]["error"])
        assert set(error["required"]) == {"code", "message", "service", "details", "trace_id"}
    assert "304" in operation["responses"]


async def test_raw_byte_bodies_are_described(client: Client) -> None:
    document = (await client.get("/api/v1/openapi.json")).json()
    ok = document["paths"]["/api/v1/resources/{name}/{version}"]["get"]["responses"]["200"]
    body = resolve(document, ok["content"]["application/json"]["schema"])
    assert {"apiVersion", "kind", "metadata", "spec", "status"} <= set(body["properties"])
    page = document["paths"]["/api/v1/resources"]["get"]["responses"]["200"]
    listing = resolve(document, page["content"]["application/json"]["schema"])
    assert {"items", "total", "next_cursor", "revision"} <= set(listing["properties"])
    parameters = {p["name"] for p in document["paths"]["/api/v1/resources"]["get"]["parameters"]}
    assert {"provider", "category", "resource_type", "engine", "limit", "cursor", "facets"} <= parameters


async def test_docs_ui_is_served(client: Client) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "swagger" in response.text.lower()


async def test_every_error_response_is_the_envelope(client: Client) -> None:
    """No operation keeps Litestar's default 400 body ({status_code, detail, extra}): the server
    never sends it."""
    document = (await client.get("/api/v1/openapi.json")).json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if not status.startswith(("4", "5")) or "content" not in response:
                    continue
                schema = resolve(document, response["content"]["application/json"]["schema"])
                assert set(schema["properties"]) == {"error"}, (method, path, status)


async def test_the_document_passes_spectral_oas_with_no_errors_or_warnings(client: Client, tmp_path: Path) -> None:
    """Stoplight Spectral (npm, tools/node) with its spectral:oas ruleset, as API linters run it:
    no errors (severity 0) and no warnings (severity 1: every operation has a description, every
    tag is defined, the info block has its contact and description, ...)."""
    spectral = ROOT / "tools/node/node_modules/.bin/spectral"
    assert spectral.exists(), "run `make tools` (scripts/ensure-tools installs tools/node)"
    document = tmp_path / "openapi.json"
    document.write_bytes((await client.get("/api/v1/openapi.json")).content)
    ruleset = tmp_path / ".spectral.yaml"
    ruleset.write_text('extends: ["spectral:oas"]\n')
    command = [str(spectral), "lint", "--ruleset", str(ruleset), "--format", "json", "--quiet", str(document)]
    result = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=120, check=False)
    problems = json.loads(result.stdout or "[]")
    errors = [p for p in problems if p["severity"] == 0]
    assert not errors, json.dumps(errors, indent=1)[:4000]
    warnings = [p for p in problems if p["severity"] == 1]
    assert not warnings, json.dumps(warnings, indent=1)[:4000]


async def test_metrics_sends_one_charset(client: Client) -> None:
    response = await client.get("/metrics")
    assert response.headers["content-type"].count("charset") == 1
