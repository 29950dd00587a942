"""Adapter factories for the storage conformance suite.

Every test in ``test_conformance.py`` takes the ``store`` fixture (an opened store) and,
when it needs to close and reopen, the ``store_factory`` fixture. Adding an adapter is one
more ``StoreFactory`` in ``FACTORIES``. Every store runs on the test's ``clock`` (a
``ManualClock``): lease tests advance it instead of sleeping. DynamoDB runs against ``moto_server`` over HTTP
(``moto_endpoint``, one server per session), a new table per store.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Protocol
from urllib.parse import urlencode

import boto3
import pytest

from nestor_catalog_core.storage import ComponentStore, open_store
from tests.support.clock import ManualClock
from tests.support.moto import REGION, moto_or_skip, unique_table_name


class StoreFactory(Protocol):
    """Creates opened stores of one adapter for a test, and reopens them.

    ``durable``: data survives closing the store and opening a *new* instance on the same
    location (for memory, ``reopen`` can only reopen the same object).
    """

    durable: bool

    async def create(self) -> ComponentStore:
        """A new, empty, opened store."""
        ...

    async def reopen(self, store: ComponentStore) -> ComponentStore:
        """Close ``store`` and return an opened store on the same data."""
        ...

    async def another(self, store: ComponentStore) -> ComponentStore:
        """A second opened store on ``store``'s data, ``store`` left open: another writer
        (another process or replica; for memory, the same object)."""
        ...

    async def aclose(self) -> None:
        """Close every store this factory handed out (test teardown)."""
        ...


class _Tracking:
    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.stores: list[ComponentStore] = []

    def track(self, store: ComponentStore) -> ComponentStore:
        self.stores.append(store)
        return store

    async def aclose(self) -> None:
        for store in self.stores:
            await store.close()


class MemoryFactory(_Tracking):
    durable = False

    async def create(self) -> ComponentStore:
        store = open_store("memory://conformance", clock=self.clock)
        await store.open()
        return self.track(store)

    async def reopen(self, store: ComponentStore) -> ComponentStore:
        await store.close()
        await store.open()
        return store

    async def another(self, store: ComponentStore) -> ComponentStore:
        return store


class SQLiteFactory(_Tracking):
    durable = True

    def __init__(self, clock: ManualClock, directory: Path) -> None:
        super().__init__(clock)
        self.directory = directory
        self.created = 0

    async def create(self) -> ComponentStore:
        self.created += 1
        return await self._open(self.directory / f"catalog-{self.created}.db")

    async def reopen(self, store: ComponentStore) -> ComponentStore:
        await store.close()
        path = getattr(store, "path", None)
        assert isinstance(path, Path)
        return await self._open(path)

    async def another(self, store: ComponentStore) -> ComponentStore:
        path = getattr(store, "path", None)
        assert isinstance(path, Path)
        return await self._open(path)

    async def _open(self, path: Path) -> ComponentStore:
        store = open_store(f"sqlite:///{path}", clock=self.clock)
        await store.open()
        return self.track(store)


class DynamoDBFactory(_Tracking):
    """Each ``create`` makes a new table on the session's moto_server; ``aclose`` drops them."""

    durable = True

    def __init__(self, clock: ManualClock, endpoint: str) -> None:
        super().__init__(clock)
        self.endpoint = endpoint
        self.tables: list[str] = []

    def uri(self, table: str) -> str:
        return f"dynamodb://{table}?{urlencode({'region': REGION, 'endpoint': self.endpoint})}"

    async def create(self) -> ComponentStore:
        table = unique_table_name()
        self.tables.append(table)
        store = open_store(self.uri(table), create_table=True, clock=self.clock)
        await store.open()
        return self.track(store)

    async def reopen(self, store: ComponentStore) -> ComponentStore:
        await store.close()
        table = getattr(store, "table_name", None)
        assert isinstance(table, str)
        reopened = open_store(self.uri(table), clock=self.clock)
        await reopened.open()
        return self.track(reopened)

    async def another(self, store: ComponentStore) -> ComponentStore:
        table = getattr(store, "table_name", None)
        assert isinstance(table, str)
        second = open_store(self.uri(table), clock=self.clock)
        await second.open()
        return self.track(second)

    async def aclose(self) -> None:
        await super().aclose()
        client = boto3.client("dynamodb", region_name=REGION, endpoint_url=self.endpoint)
        for table in self.tables:
            client.delete_table(TableName=table)
        client.close()


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """The base URL of a moto_server shared by the session (each store uses its own table)."""
    with moto_or_skip() as server:
        yield server.endpoint


FACTORIES: dict[str, Callable[[pytest.FixtureRequest, ManualClock, Path], StoreFactory]] = {
    "memory": lambda _request, clock, _tmp: MemoryFactory(clock),
    "sqlite": lambda _request, clock, tmp: SQLiteFactory(clock, tmp),
    "dynamodb": lambda request, clock, _tmp: DynamoDBFactory(clock, request.getfixturevalue("moto_endpoint")),
}


@pytest.fixture
def clock() -> ManualClock:
    """The time every store of the test reads (``ManualClock.advance`` moves it)."""
    return ManualClock()


@pytest.fixture(params=sorted(FACTORIES))
async def store_factory(
    request: pytest.FixtureRequest, clock: ManualClock, tmp_path: Path
) -> AsyncIterator[StoreFactory]:
    factory = FACTORIES[request.param](request, clock, tmp_path)
    yield factory
    await factory.aclose()


@pytest.fixture
async def store(store_factory: StoreFactory) -> ComponentStore:
    return await store_factory.create()
