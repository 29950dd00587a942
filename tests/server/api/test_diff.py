"""``GET /api/v1/resources/{name}/diff``: the compatibility engine's report between two
published versions, against the examples (aws-rds-mysql 1.0.0, 1.1.0, 1.2.0, 2.0.0)."""

from __future__ import annotations

from nestor_catalog_core import Catalog, CompatReport
from nestor_catalog_core.versions import compare
from tests.server.api.conftest import Client

DIFF = "/api/v1/resources/aws-rds-mysql/diff"


async def test_explicit_versions_answer_the_engines_report(client: Client, catalog: Catalog) -> None:
    response = await client.get(DIFF, params={"from": "1.1.0", "to": "1.2.0"})
    assert response.status_code == 200
    body = response.json()
    expected = compare(
        catalog.entry("aws-rds-mysql", "1.1.0").definition(), catalog.entry("aws-rds-mysql", "1.2.0").definition()
    )
    assert body == expected.to_dict()
    assert set(body) == {"name", "old_version", "new_version", "declared", "required", "ok", "changes"}
    assert body["old_version"] == "1.1.0"
    assert body["new_version"] == "1.2.0"
    assert body["declared"] == "minor"
    assert body["changes"], "1.1.0 -> 1.2.0 changes something"
    for change in body["changes"]:
        assert set(change) == {"rule", "field", "old", "new", "needs", "message"}
        assert change["needs"] in {"patch", "minor", "major"}
    assert CompatReport.from_dict(body).to_dict() == body


async def test_defaults_are_latest_and_the_version_before_it(client: Client) -> None:
    body = (await client.get(DIFF)).json()
    assert (body["old_version"], body["new_version"]) == ("1.2.0", "2.0.0")
    assert body["declared"] == "major"
    only_to = (await client.get(DIFF, params={"to": "1.1.0"})).json()
    assert (only_to["old_version"], only_to["new_version"]) == ("1.0.0", "1.1.0")
    only_from = (await client.get(DIFF, params={"from": "1.0.0"})).json()
    assert (only_from["old_version"], only_from["new_version"]) == ("1.0.0", "2.0.0")


async def test_a_downgrade_is_listed_and_not_ok(client: Client) -> None:
    body = (await client.get(DIFF, params={"from": "2.0.0", "to": "1.0.0"})).json()
    assert body["declared"] == "none"
    assert body["ok"] is False


async def test_the_same_version_has_no_changes(client: Client) -> None:
    body = (await client.get(DIFF, params={"from": "1.2.0", "to": "1.2.0"})).json()
    assert body["changes"] == []
    assert body["required"] == "none"


async def test_etag_is_the_pair_of_versions(client: Client) -> None:
    first = await client.get(DIFF, params={"from": "1.1.0", "to": "1.2.0"})
    etag = first.headers["etag"]
    again = await client.get(DIFF, params={"from": "1.1.0", "to": "1.2.0"}, headers={"If-None-Match": etag})
    assert again.status_code == 304
    other = await client.get(DIFF, params={"from": "1.0.0", "to": "1.2.0"})
    assert other.headers["etag"] != etag


async def test_errors_use_the_envelope(client: Client) -> None:
    first = await client.get("/api/v1/resources/aws-lambda-function/diff")
    assert first.status_code == 404
    assert first.json()["error"]["code"] == "NO_MATCHING_VERSION"
    assert "first version" in first.json()["error"]["message"]
    missing = await client.get(DIFF, params={"from": "9.9.9"})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "RESOURCE_NOT_FOUND"
    bad = await client.get(DIFF, params={"to": "latest"})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "INVALID_VERSION"
    unknown = await client.get("/api/v1/resources/no-such-thing/diff")
    assert unknown.status_code == 404


async def test_a_version_named_diff_is_not_shadowed_for_other_routes(client: Client) -> None:
    # /{name}/diff is a static segment: exact versions and version lists still route.
    assert (await client.get("/api/v1/resources/aws-rds-mysql/1.2.0")).status_code == 200
    assert (await client.get("/api/v1/resources/aws-rds-mysql/versions")).status_code == 200


async def test_in_the_openapi_document(client: Client) -> None:
    document = (await client.get("/api/v1/openapi.json")).json()
    operation = document["paths"]["/api/v1/resources/{name}/diff"]["get"]
    params = {p["name"] for p in operation["parameters"]}
    assert {"name", "from", "to"} <= params
    assert "200" in operation["responses"]
