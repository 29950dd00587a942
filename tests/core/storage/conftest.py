"""Adapter factories for the storage conformance suite.

Every test in ``test_conformance.py`` takes the ``store`` fixture (an opened store) and,
when it needs to close and reopen, the ``store_factory`` fixture. Adding an adapter is one
more ``StoreFactory`` in ``FACTORIES`` (DynamoDB: a factory that starts ``moto_server``
on a free port and opens ``dynamodb://<table>?endpoint=...``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Protocol

import pytest

from nestor_catalog_core.storage import ComponentStore, open_store


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

    async def aclose(self) -> None:
        """Close every store this factory handed out (test teardown)."""
        ...


class _Tracking:
    def __init__(self) -> None:
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
        store = open_store("memory://conformance")
        await store.open()
        return self.track(store)

    async def reopen(self, store: ComponentStore) -> ComponentStore:
        await store.close()
        await store.open()
        return store


class SQLiteFactory(_Tracking):
    durable = True

    def __init__(self, directory: Path) -> None:
        super().__init__()
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

    async def _open(self, path: Path) -> ComponentStore:
        store = open_store(f"sqlite:///{path}")
        await store.open()
        return self.track(store)


FACTORIES: dict[str, Callable[[Path], StoreFactory]] = {
    "memory": lambda _tmp: MemoryFactory(),
    "sqlite": lambda tmp: SQLiteFactory(tmp),
}


@pytest.fixture(params=sorted(FACTORIES))
async def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StoreFactory]:
    factory = FACTORIES[request.param](tmp_path)
    yield factory
    await factory.aclose()


@pytest.fixture
async def store(store_factory: StoreFactory) -> ComponentStore:
    return await store_factory.create()
