"""List filters in the clients: core's ``ListFilters`` is what the clients send (its
``to_query``), given as it is (``list_page(ListFilters(...))``), as keywords
(``list_page(provider="aws")``, the ``Filters`` sugar) or both (the keywords replace its fields)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import fields
from typing import Any, get_type_hints

import httpx
import pytest

from nestor_catalog_client import AsyncCatalogClient, Filters
from nestor_catalog_core import Catalog, InvalidRequest, ListFilters
from nestor_catalog_server.app import create_app
from tests.client.conftest import NO_WAIT
from tests.client.helpers import app_running, app_settings


def test_the_keyword_filters_are_the_fields_of_list_filters() -> None:
    """``Filters`` (for ``**keywords``) cannot drift from ``ListFilters``: the same names in the
    same order, each of the field's type, none required."""
    keywords = get_type_hints(Filters)
    assert list(keywords) == [field.name for field in fields(ListFilters)]
    assert keywords == get_type_hints(ListFilters)
    assert Filters.__required_keys__ == frozenset()


class Recording(httpx.ASGITransport):
    """The real app in-process, keeping each request's query as sent."""

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.queries: list[list[tuple[str, str]]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.queries.append(list(request.url.params.multi_items()))
        return await super().handle_async_request(request)


@pytest.fixture
async def recorded(catalog: Catalog) -> AsyncIterator[tuple[AsyncCatalogClient, Recording]]:
    app = create_app(app_settings(), catalog=catalog)
    transport = Recording(app)
    async with (
        app_running(app),
        AsyncCatalogClient("http://catalog.test", transport=transport, retries=NO_WAIT) as client,
    ):
        yield client, transport


def names(items: Any) -> list[str]:
    return [resource.name for resource in items]


async def test_a_list_filters_and_keywords_send_the_same_query(recorded: tuple[AsyncCatalogClient, Recording]) -> None:
    client, sent = recorded
    filters = ListFilters(provider="aws", category="database", deprecated=False)
    typed = await client.list_page(filters, limit=5)
    keywords = await client.list_page(provider="aws", category="database", deprecated=False, limit=5)
    assert names(typed.items) == names(keywords.items) == ["aws-rds-mysql"]
    assert sent.queries[0] == sent.queries[1] == [*filters.to_query(), ("limit", "5")]
    assert sent.queries[0][:3] == [("provider", "aws"), ("category", "database"), ("deprecated", "false")]


async def test_search_facets_and_list_resources_take_a_list_filters(
    recorded: tuple[AsyncCatalogClient, Recording],
) -> None:
    client, sent = recorded
    gcp = ListFilters(provider="gcp")
    assert names((await client.search("database", gcp)).items) == ["gcp-cloudsql-postgres"]
    assert sent.queries[-1][:2] == [("q", "database"), ("provider", "gcp")]
    assert (await client.facets(ListFilters(provider="aws"))).facets["category"] == {"database": 1, "storage": 1}
    assert sent.queries[-1] == [("provider", "aws")]
    databases = [resource async for resource in client.list_resources(ListFilters(category="database"), page_size=1)]
    assert names(databases) == ["aws-rds-mysql", "gcp-cloudsql-postgres"]
    assert (await client.list_page(filters=ListFilters(deprecated=True))).total == 0


async def test_keywords_replace_the_fields_of_a_list_filters(recorded: tuple[AsyncCatalogClient, Recording]) -> None:
    client, sent = recorded
    aws_storage = ListFilters(provider="aws", category="storage")
    assert names((await client.list_page(aws_storage)).items) == ["aws-s3-bucket"]
    assert names((await client.list_page(aws_storage, category="database")).items) == ["aws-rds-mysql"]
    assert sent.queries[-1][:2] == [("provider", "aws"), ("category", "database")]
    assert names((await client.list_page(aws_storage, provider=None, category="database")).items) == [
        "aws-rds-mysql",
        "gcp-cloudsql-postgres",
    ]


async def test_filters_that_cannot_be_sent_are_refused_before_sending(
    recorded: tuple[AsyncCatalogClient, Recording],
) -> None:
    client, sent = recorded
    with pytest.raises(InvalidRequest, match=r"unknown filter\(s\) \['colour'\]: use \['category', "):
        await client.list_page(ListFilters(provider="aws"), colour="red")  # type: ignore[call-arg]
    with pytest.raises(InvalidRequest, match="unknown filter"):
        await client.facets(colour="red")  # type: ignore[call-arg]
    with pytest.raises(InvalidRequest, match="filters must be a ListFilters, not dict"):
        await client.search("mysql", {"provider": "aws"})  # type: ignore[arg-type]
    assert sent.queries == []
