"""Discovery: ranked search and facets."""

from __future__ import annotations

from tests.server.api.conftest import Client


async def test_spec_search_for_mysql(client: Client) -> None:
    response = await client.get("/api/v1/search", params={"q": "mysql"})
    assert response.status_code == 200
    body = response.json()
    assert body["query"] == "mysql"
    assert body["items"][0]["metadata"]["name"] == "aws-rds-mysql"
    assert body["items"][0]["metadata"]["version"] == "2.0.0"
    assert body["total"] == len(body["items"])
    assert body["next_cursor"] is None
    assert isinstance(body["revision"], int)


async def test_spec_filtered_search(client: Client) -> None:
    body = (await client.get("/api/v1/search?q=database&provider=aws")).json()
    assert body["items"]
    assert {item["metadata"]["provider"] for item in body["items"]} == {"aws"}
    everywhere = (await client.get("/api/v1/search?q=database")).json()
    assert everywhere["total"] > body["total"]


async def test_exact_name_ranks_first(client: Client) -> None:
    body = (await client.get("/api/v1/search", params={"q": "kubernetes-redis"})).json()
    assert body["items"][0]["metadata"]["name"] == "kubernetes-redis"


async def test_search_pages_with_cursor_and_facets(client: Client) -> None:
    first = await client.get("/api/v1/search", params={"q": "redis", "limit": 1, "facets": "true"})
    body = first.json()
    assert len(body["items"]) == 1
    assert body["total"] > 1
    assert body["facets"]["category"]["cache"] >= 1
    assert first.headers["link"].startswith("</api/v1/search?")
    second = (
        await client.get("/api/v1/search", params={"q": "redis", "limit": 1, "cursor": body["next_cursor"]})
    ).json()
    assert second["items"][0]["metadata"]["name"] != body["items"][0]["metadata"]["name"]


async def test_a_cursor_from_another_query_is_400(client: Client) -> None:
    body = (await client.get("/api/v1/search", params={"q": "redis", "limit": 1})).json()
    response = await client.get("/api/v1/search", params={"q": "mysql", "limit": 1, "cursor": body["next_cursor"]})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "INVALID_REQUEST"
    garbage = await client.get("/api/v1/resources", params={"cursor": "%%%"})
    assert garbage.status_code == 400


async def test_search_needs_q(client: Client) -> None:
    for params in ({}, {"q": ""}, {"q": "   "}):
        response = await client.get("/api/v1/search", params=params)
        assert response.status_code == 400, params
        error = response.json()["error"]
        assert error["code"] == "INVALID_REQUEST"
        assert error["details"]["parameter"] == "q"


async def test_facets_endpoint(client: Client) -> None:
    response = await client.get("/api/v1/facets")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"total", "facets", "revision"}
    assert set(body["facets"]) == {"provider", "category", "resource_type", "engine"}
    assert sum(body["facets"]["provider"].values()) == body["total"]
    aws = (await client.get("/api/v1/facets", params={"provider": "aws"})).json()
    assert aws["facets"]["provider"] == {"aws": aws["total"]}
