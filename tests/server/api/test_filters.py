"""The list filters of ``/resources``, ``/search`` and ``/facets``: read once per request by
``ListFilters.from_query`` (the form the clients write with ``to_query``) and documented in the
OpenAPI document as one query parameter per ``ListFilters`` field."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import pytest

from nestor_catalog_core import Catalog, Deprecation, ListFilters, Source, SourceKind
from tests.server.api.conftest import Client

ROUTES = ("/api/v1/resources", "/api/v1/search", "/api/v1/facets")
API = Source(kind=SourceKind.API, user="platform-team@company.com")


def names(body: dict[str, Any]) -> list[str]:
    return [item["metadata"]["name"] for item in body["items"]]


async def test_a_query_from_to_query_selects_what_the_filters_select(client: Client) -> None:
    filters = ListFilters(provider="kubernetes", resource_type="redis", deprecated=False)
    body = (await client.get("/api/v1/resources", params=filters.to_query())).json()
    assert names(body) == ["kubernetes-redis"]
    counts = (await client.get("/api/v1/facets", params=filters.to_query())).json()
    assert counts["total"] == 1


async def test_flags_read_in_any_case_or_as_digits(client: Client, catalog: Catalog) -> None:
    async def listed(flag: str) -> list[str]:
        return names((await client.get("/api/v1/resources", params={"deprecated": flag, "limit": "1000"})).json())

    latest = catalog.latest("kubernetes-redis")
    await catalog.deprecate(latest.name, latest.version, Deprecation(message="use valkey"), source=API)
    assert await listed("true") == ["kubernetes-redis"]
    for spelling in ("TRUE", "True", "1"):
        assert await listed(spelling) == ["kubernetes-redis"]
    current = await listed("false")
    assert current
    assert "kubernetes-redis" not in current
    for spelling in ("FALSE", "False", "0"):
        assert await listed(spelling) == current


@pytest.mark.parametrize("route", ROUTES)
async def test_a_bad_flag_is_a_400_naming_the_parameter(client: Client, route: str) -> None:
    response = await client.get(route, params={"q": "mysql", "deprecated": "maybe"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "INVALID_REQUEST"
    assert error["message"] == "invalid query parameter 'deprecated': expected true or false, got 'maybe'"
    assert error["details"]["parameter"] == "deprecated"
    assert error["details"]["parameters"][0]["in"] == "query"


async def test_empty_values_are_no_filter_and_the_last_repeat_counts(client: Client) -> None:
    every = (await client.get("/api/v1/resources", params={"limit": "1000"})).json()
    empty = (await client.get("/api/v1/resources", params={"limit": "1000", "provider": "", "engine": ""})).json()
    assert names(empty) == names(every)
    repeated = (await client.get("/api/v1/resources?provider=aws&provider=gcp&limit=1000")).json()
    assert {item["metadata"]["provider"] for item in repeated["items"]} == {"gcp"}


async def test_the_document_lists_one_parameter_per_field(client: Client) -> None:
    document = (await client.get("/api/v1/openapi.json")).json()
    expected = [field.name for field in fields(ListFilters)]
    for route in ROUTES:
        parameters = document["paths"][route]["get"]["parameters"]
        assert [p["name"] for p in parameters[: len(expected)]] == expected, route
        assert all(p["in"] == "query" and not p["required"] for p in parameters[: len(expected)])
        deprecated = next(p for p in parameters if p["name"] == "deprecated")
        assert {"type": "boolean"} in deprecated["schema"]["oneOf"]
        provider = next(p for p in parameters if p["name"] == "provider")
        assert {"type": "string"} in provider["schema"]["oneOf"]
