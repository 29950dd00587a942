"""``CatalogClient`` and ``AsyncCatalogClient`` are one API in two flavours: the same public
methods with the same parameters (names, kinds, defaults, annotations), differing only where
blocking and asyncio must (``close``/``aclose``, iterators, subscriptions)."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from nestor_catalog_client import AsyncCatalogClient, AsyncSubscription, CatalogClient, Subscription

#: sync name -> async name where the pair is spelled differently.
RENAMED = {"close": "aclose", "__enter__": "__aenter__", "__exit__": "__aexit__"}
#: annotations that must differ, sync -> async.
FLAVOURS = {
    "Iterator[Resource]": "AsyncIterator[Resource]",
    "Subscription": "AsyncSubscription",
    "httpx.BaseTransport | None": "httpx.AsyncBaseTransport | None",
}


def public_methods(cls: type) -> dict[str, Any]:
    return {
        name: member
        for name, member in inspect.getmembers(cls, callable)
        if (not name.startswith("_") or name in RENAMED or name in RENAMED.values() or name == "__init__")
        and name not in {"__aenter__", "__aexit__"} | {"__enter__", "__exit__"}
    }


def test_both_clients_have_the_same_methods() -> None:
    sync_names = {RENAMED.get(name, name) for name in public_methods(CatalogClient)}
    async_names = set(public_methods(AsyncCatalogClient))
    assert sync_names == async_names, (sorted(sync_names - async_names), sorted(async_names - sync_names))
    assert hasattr(CatalogClient, "__enter__")
    assert hasattr(AsyncCatalogClient, "__aenter__")


def _flavour(annotation: Any) -> Any:
    return FLAVOURS.get(annotation, annotation) if isinstance(annotation, str) else annotation


@pytest.mark.parametrize("name", sorted(public_methods(CatalogClient)))
def test_each_method_has_the_same_signature(name: str) -> None:
    sync = inspect.signature(getattr(CatalogClient, name))
    twin = getattr(AsyncCatalogClient, RENAMED.get(name, name))
    expected = [(p.name, p.kind, p.default, _flavour(p.annotation)) for p in sync.parameters.values()]
    actual = [(p.name, p.kind, p.default, p.annotation) for p in inspect.signature(twin).parameters.values()]
    assert actual == expected
    assert inspect.signature(twin).return_annotation == _flavour(sync.return_annotation)


@pytest.mark.parametrize("name", sorted(public_methods(CatalogClient)))
def test_async_methods_are_awaitable_or_async_iterators(name: str) -> None:
    twin = getattr(AsyncCatalogClient, RENAMED.get(name, name))
    if name in {"__init__", "forget", "subscribe"} or name == "base_url":
        assert not inspect.iscoroutinefunction(twin)
    elif name == "list_resources":
        assert inspect.isasyncgenfunction(twin)
    else:
        assert inspect.iscoroutinefunction(twin), f"AsyncCatalogClient.{twin.__name__} should be async"


def test_subscriptions_pair_up() -> None:
    assert {"close", "__enter__", "__iter__", "__next__"} <= set(dir(Subscription))
    assert {"aclose", "__aenter__", "__aiter__", "__anext__"} <= set(dir(AsyncSubscription))
    for prop in ("last_event_id", "connected", "state"):
        assert isinstance(getattr(Subscription, prop), property)
        assert isinstance(getattr(AsyncSubscription, prop), property)
