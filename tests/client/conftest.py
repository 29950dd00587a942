"""Fixtures of the client tests: a real ``Catalog`` with a few definitions, the real app around
it (in-process through ``httpx.ASGITransport``, or over loopback sockets through uvicorn)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from nestor_catalog_client import AsyncCatalogClient, RetryPolicy
from nestor_catalog_core import Catalog
from nestor_catalog_server.app import create_app
from tests.client.helpers import LiveServer, app_running, app_settings, new_catalog, publish

#: What the ``catalog`` fixture holds: (name, versions, provider, category).
SEEDED = (
    ("aws-rds-mysql", ("1.0.0", "1.1.0", "1.2.0"), "aws", "database"),
    ("aws-s3-bucket", ("1.0.0",), "aws", "storage"),
    ("gcp-cloudsql-postgres", ("1.0.0", "2.0.0"), "gcp", "database"),
    ("azure-vnet", ("1.0.0",), "azure", "network"),
    ("kubernetes-redis", ("0.1.0",), "kubernetes", "cache"),
)

#: No waiting between retries: the tests check what is retried, not how long it waits.
NO_WAIT = RetryPolicy(retries=2, initial_delay=0.0, max_delay=0.0)


async def seed(catalog: Catalog) -> None:
    for name, versions, provider, category in SEEDED:
        for index, version in enumerate(versions):
            optional = [f"extra_{i}" for i in range(index)]
            await publish(catalog, name, version, provider=provider, category=category, optional=optional)


@pytest.fixture
async def catalog() -> AsyncIterator[Catalog]:
    catalog = await new_catalog()
    await seed(catalog)
    try:
        yield catalog
    finally:
        await catalog.close()


@pytest.fixture
async def client(catalog: Catalog) -> AsyncIterator[AsyncCatalogClient]:
    """The async client on the real app, in-process."""
    app = create_app(app_settings(), catalog=catalog)
    async with (
        app_running(app),
        AsyncCatalogClient("http://catalog.test", transport=httpx.ASGITransport(app), retries=NO_WAIT) as client,
    ):
        yield client


@pytest.fixture
async def live(catalog: Catalog) -> AsyncIterator[LiveServer]:
    """The real app over loopback sockets (SSE streams), in this test's loop."""
    async with LiveServer(catalog) as server:
        yield server
