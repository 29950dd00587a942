"""A sunset is announced once on every store (memory, SQLite, DynamoDB through moto_server): the
audit lookup that makes ``announce_sunsets`` idempotent uses each adapter's own audit query."""

from __future__ import annotations

from nestor_catalog_core import Catalog, EventType
from tests.core.catalog.test_catalog import GIT
from tests.core.catalog.test_sunset import YESTERDAY, deprecated
from tests.core.storage.conftest import StoreFactory


async def test_announced_once_across_a_reopen(store_factory: StoreFactory) -> None:
    store = await store_factory.create()
    catalog = Catalog(store)
    await catalog.start()
    await catalog.publish(deprecated("1.1.0", YESTERDAY), source=GIT)
    [event] = await catalog.announce_sunsets()
    assert event.type is EventType.RESOURCE_SUNSET
    assert await catalog.announce_sunsets() == []
    if store_factory.durable:
        reopened = Catalog(await store_factory.reopen(store))
        await reopened.start()
        assert await reopened.announce_sunsets() == []
        assert reopened.get("aws-rds-mysql", "1.1.0").sunset
