"""Dry runs (``POST /api/v1/validate``) and the definition schema (``GET /api/v1/schema``)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import yaml

from nestor_catalog_core import Catalog, definition_json_schema
from tests.server.api.builders import as_yaml, definition
from tests.server.api.conftest import Client

YAML = {"Content-Type": "application/yaml"}


async def test_a_valid_file_is_valid(client: Client, catalog: Catalog) -> None:
    revision = catalog.revision
    response = await client.post("/api/v1/validate", content=as_yaml(definition()), headers=YAML)
    assert response.status_code == 200
    body = response.json()
    assert body == {"valid": True, "files": 1, "definitions": 1, "findings": body["findings"]}
    assert not [f for f in body["findings"] if f["severity"] == "error"]
    assert catalog.revision == revision
    assert not catalog.has("team-queue")


async def test_every_finding_with_its_position(client: Client, examples_dir: Path) -> None:
    text = (examples_dir / "invalid" / "input-policies.yaml").read_bytes()
    response = await client.post("/api/v1/validate", content=text, headers=YAML)
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False
    errors = [f for f in body["findings"] if f["severity"] == "error"]
    assert len(errors) >= 2
    assert all(f["file"] == "<request>" and f["line"] and f["column"] for f in errors)


async def test_syntax_errors_are_findings_not_failures(client: Client) -> None:
    response = await client.post("/api/v1/validate", content=b"a: [\n", headers=YAML)
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False
    assert body["definitions"] == 0
    assert body["findings"][0]["rule"] == "YAML_SYNTAX"


async def test_json_bodies(client: Client) -> None:
    response = await client.post("/api/v1/validate", json=definition())
    assert response.json()["valid"] is True


async def test_switches_default_to_the_server_config(client: Client) -> None:
    document = definition(maintainers=["not-an-email"])
    strict = (await client.post("/api/v1/validate", content=as_yaml(document), headers=YAML)).json()
    assert "MAINTAINER_EMAIL" in {f["rule"] for f in strict["findings"]}
    lax = (await client.post("/api/v1/validate?policies=false", content=as_yaml(document), headers=YAML)).json()
    assert "MAINTAINER_EMAIL" not in {f["rule"] for f in lax["findings"]}
    unknown = definition(colour="blue")
    strict_unknown = (await client.post("/api/v1/validate", content=as_yaml(unknown), headers=YAML)).json()
    assert strict_unknown["valid"] is False
    relaxed = (await client.post("/api/v1/validate?strict=false", content=as_yaml(unknown), headers=YAML)).json()
    assert relaxed["valid"] is True


async def test_compatibility_against_the_published_versions(client: Client, examples_dir: Path) -> None:
    published = yaml.safe_load((examples_dir / "aws-rds-mysql-2.0.0.yaml").read_text())
    changed = dict(published, metadata={**published["metadata"], "description": "changed in place"})
    immutable = (await client.post("/api/v1/validate", content=as_yaml(changed), headers=YAML)).json()
    assert immutable["valid"] is False
    (finding,) = [f for f in immutable["findings"] if f["rule"] == "IMMUTABLE_VERSION"]
    assert finding["field"] == "metadata.version"
    assert finding["line"] == 5  # apiVersion, kind, metadata:, name, version

    breaking = dict(published, metadata={**published["metadata"], "version": "2.0.1"})
    breaking["spec"] = {**published["spec"], "outputs": []}
    report = (await client.post("/api/v1/validate", content=as_yaml(breaking), headers=YAML)).json()
    assert report["valid"] is False
    rules = {f["rule"] for f in report["findings"] if f["severity"] == "error"}
    assert "BUMP_TOO_SMALL" in rules
    skipped = (
        await client.post("/api/v1/validate?compatibility=false", content=as_yaml(breaking), headers=YAML)
    ).json()
    assert skipped["valid"] is True


async def test_identical_republish_is_fine(client: Client, examples_dir: Path) -> None:
    text = (examples_dir / "aws-rds-mysql-2.0.0.yaml").read_bytes()
    body = (await client.post("/api/v1/validate", content=text, headers=YAML)).json()
    assert body["valid"] is True


async def test_definition_schema(client: Client) -> None:
    response = await client.get("/api/v1/schema")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/schema+json"
    assert response.json() == definition_json_schema()


async def test_definition_schema_answers_at_the_path_of_its_id(client: Client) -> None:
    schema = definition_json_schema()
    path = urlsplit(schema["$id"]).path
    assert path == "/catalog.nestor.io/v1/resource-definition.schema.json"
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/schema+json"
    assert response.content == (await client.get("/api/v1/schema")).content
