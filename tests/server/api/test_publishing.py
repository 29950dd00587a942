"""Writes over HTTP: publish, deprecate, withdraw, restore; ownership, immutability,
compatibility and validation refusals; read-only mirrors; body limits and media types."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from nestor_catalog_core import Catalog, MemoryStore, Source, SourceKind
from nestor_catalog_core.models import parse_time
from nestor_catalog_server.config import Settings
from nestor_catalog_server.observability import Metrics
from tests.server.api.builders import as_yaml, definition
from tests.server.api.conftest import Client, make_settings

YAML = {"Content-Type": "application/yaml"}


async def test_publish_yaml_creates_a_version_owned_by_the_api(client: Client, catalog: Catalog) -> None:
    response = await client.post("/api/v1/resources", content=as_yaml(definition()), headers=YAML)
    assert response.status_code == 201
    (result,) = response.json()["results"]
    assert result["outcome"] == "created"
    assert result["resource"]["metadata"]["name"] == "team-queue"
    assert result["resource"]["status"]["source"] == {"kind": "api", "user": "anonymous"}
    assert isinstance(result["warnings"], list)
    assert catalog.entry("team-queue", "1.0.0").stored.source.owner == "api"
    fetched = await client.get("/api/v1/resources/team-queue/1.0.0")
    assert fetched.status_code == 200


async def test_publish_json_and_several_documents(client: Client) -> None:
    response = await client.post("/api/v1/resources", json=definition("json-queue"))
    assert response.status_code == 201
    both = as_yaml(definition("multi-queue", "1.0.0"), definition("multi-queue", "1.1.0", description="More"))
    response = await client.post("/api/v1/resources", content=both, headers=YAML)
    assert response.status_code == 201
    assert [r["outcome"] for r in response.json()["results"]] == ["created", "created"]


async def test_publishing_the_same_content_again_is_200_unchanged(client: Client) -> None:
    body = as_yaml(definition())
    assert (await client.post("/api/v1/resources", content=body, headers=YAML)).status_code == 201
    again = await client.post("/api/v1/resources", content=body, headers=YAML)
    assert again.status_code == 200
    assert again.json()["results"][0]["outcome"] == "unchanged"


async def test_invalid_definition_is_422_with_every_finding(client: Client, metrics: Metrics) -> None:
    bad = definition(maintainers=["not-an-email"])
    bad["spec"]["required_inputs"] = [{"name": "QueueName", "type": "string", "description": "x"}]  # type: ignore[index]
    response = await client.post("/api/v1/resources", content=as_yaml(bad), headers=YAML)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_FAILED"
    findings = error["details"]["validation_errors"]
    assert {"MAINTAINER_EMAIL", "INPUT_NAME_SNAKE_CASE"} <= {f["rule"] for f in findings}
    snake = next(f for f in findings if f["rule"] == "INPUT_NAME_SNAKE_CASE")
    assert snake["field"] == "spec.required_inputs[0].name"
    assert snake["file"] == "<request>"
    assert snake["line"] is not None
    assert set(snake) == {"rule", "severity", "field", "message", "file", "line", "column"}
    assert metrics.sample("catalog_validation_errors_total", rule="MAINTAINER_EMAIL") == 1


async def test_yaml_syntax_error_points_at_the_line(client: Client) -> None:
    response = await client.post("/api/v1/resources", content=b"metadata: [unclosed\n", headers=YAML)
    assert response.status_code == 422
    (finding,) = response.json()["error"]["details"]["validation_errors"]
    assert finding["rule"] == "YAML_SYNTAX"
    assert finding["line"] >= 1


async def test_changing_a_published_version_is_409_immutable(client: Client) -> None:
    await client.post("/api/v1/resources", content=as_yaml(definition()), headers=YAML)
    changed = as_yaml(definition(description="Other content, same version"))
    response = await client.post("/api/v1/resources", content=changed, headers=YAML)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "IMMUTABLE_VERSION"
    assert error["details"]["version"] == "1.0.0"


async def test_a_too_small_bump_is_409_incompatible(client: Client) -> None:
    await client.post("/api/v1/resources", content=as_yaml(definition()), headers=YAML)
    breaking = definition(version="1.0.1")
    breaking["spec"]["required_inputs"] = []  # type: ignore[index]
    response = await client.post("/api/v1/resources", content=as_yaml(breaking), headers=YAML)
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "INCOMPATIBLE_CHANGE"
    assert error["details"]["required"] == "major"
    assert error["details"]["changes"]


async def test_a_git_owned_name_is_409_ownership_conflict(client: Client) -> None:
    response = await client.post(
        "/api/v1/resources", content=as_yaml(definition("aws-rds-mysql", "3.0.0")), headers=YAML
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "OWNERSHIP_CONFLICT"
    for method, path in (
        ("PUT", "/api/v1/resources/aws-rds-mysql/1.0.0/deprecation"),
        ("DELETE", "/api/v1/resources/aws-rds-mysql/1.0.0/deprecation"),
        ("DELETE", "/api/v1/resources/aws-rds-mysql/1.0.0"),
        ("POST", "/api/v1/resources/aws-rds-mysql/1.0.0/restore"),
    ):
        answer = await client.request(method, path, json={"message": "use 2.x"})
        assert answer.status_code == 409, (method, path)
        error = answer.json()["error"]
        assert error["code"] == "OWNERSHIP_CONFLICT"
        assert error["details"]["owner"] == "git:examples"


async def test_deprecate_then_clear(client: Client) -> None:
    await client.post("/api/v1/resources", content=as_yaml(definition()), headers=YAML)
    response = await client.put(
        "/api/v1/resources/team-queue/1.0.0/deprecation",
        json={"message": "use the FIFO queue", "replacement": "team-queue@^2", "sunset": "2030-01-31"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"]["deprecated"] is True
    assert body["metadata"]["deprecation"] == {
        "message": "use the FIFO queue",
        "replacement": "team-queue@^2",
        "sunset": "2030-01-31",
    }
    exact = await client.get("/api/v1/resources/team-queue/1.0.0")
    deprecated_at = int(parse_time(body["status"]["updated_at"]).timestamp())
    assert exact.headers["deprecation"] == f"@{deprecated_at}"  # RFC 9745: when it was deprecated
    assert exact.headers["sunset"] == "Thu, 31 Jan 2030 00:00:00 GMT"
    cleared = await client.delete("/api/v1/resources/team-queue/1.0.0/deprecation")
    assert cleared.status_code == 200
    assert cleared.json()["status"]["deprecated"] is False
    assert "deprecation" not in cleared.json()["metadata"]


async def test_bad_deprecation_bodies_are_400(client: Client) -> None:
    await client.post("/api/v1/resources", content=as_yaml(definition()), headers=YAML)
    for body in ({"replacement": "x"}, {"message": "m", "sunset": "soon"}, {"message": "m", "extra": 1}):
        response = await client.put("/api/v1/resources/team-queue/1.0.0/deprecation", json=body)
        assert response.status_code == 400, body
        assert response.json()["error"]["code"] == "INVALID_REQUEST"
        assert response.json()["error"]["details"]["errors"]


async def test_withdraw_and_restore(client: Client) -> None:
    await client.post("/api/v1/resources", content=as_yaml(definition()), headers=YAML)
    withdrawn = await client.delete("/api/v1/resources/team-queue/1.0.0")
    assert withdrawn.status_code == 200
    assert withdrawn.json()["status"]["withdrawn"] is True
    assert (await client.get("/api/v1/resources/team-queue")).json()["error"]["code"] == "NO_MATCHING_VERSION"
    restored = await client.post("/api/v1/resources/team-queue/1.0.0/restore")
    assert restored.status_code == 200
    assert restored.json()["status"]["withdrawn"] is False
    assert (await client.get("/api/v1/resources/team-queue")).status_code == 200


async def test_writes_to_a_missing_version_are_404(client: Client) -> None:
    response = await client.delete("/api/v1/resources/no-such/1.0.0")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "RESOURCE_NOT_FOUND"


async def test_unsupported_media_type_is_400(client: Client) -> None:
    response = await client.post("/api/v1/resources", content=b"<xml/>", headers={"Content-Type": "application/xml"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "INVALID_REQUEST"
    assert error["details"]["content_type"] == "application/xml"


async def test_a_body_over_max_body_size_is_413(tmp_path: Path, app_client: Callable[[Settings], Client]) -> None:
    settings = make_settings(tmp_path, service={"max_body_size": "1KiB"})
    async with app_client(settings) as client:
        response = await client.post("/api/v1/resources", content=b"#" * 2048, headers=YAML)
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_read_only_catalog_answers_405_with_allow(
    tmp_path: Path, examples_dir: Path, app_client: Callable[..., Client]
) -> None:
    from nestor_catalog_core import CatalogSettings

    mirror = Catalog(MemoryStore(), CatalogSettings(read_only=True))
    await mirror.start()
    try:
        async with app_client(make_settings(tmp_path), reader=mirror) as client:
            response = await client.post("/api/v1/resources", content=as_yaml(definition()), headers=YAML)
            assert response.status_code == 405
            assert response.headers["allow"] == "GET, HEAD"
            assert response.json()["error"]["code"] == "READ_ONLY"
            source = Source(kind=SourceKind.API)
            assert source.owner == "api"
    finally:
        await mirror.close()
