from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from nestor_catalog_core import ConfigError
from nestor_catalog_core.storage import (
    MemoryStore,
    SQLiteStore,
    StoreRegistry,
    available_schemes,
    open_store,
)
from nestor_catalog_core.storage.registry import default_registry


def test_builtin_schemes() -> None:
    assert available_schemes() == ["dynamodb", "memory", "sqlite"]


@pytest.mark.parametrize("uri", ["memory://", "memory://catalog-tests", "MEMORY://x"])
def test_memory_uris(uri: str) -> None:
    store = open_store(uri)
    assert isinstance(store, MemoryStore)
    assert store.name == uri.partition("://")[2]


def test_memory_uri_rejects_paths_and_options() -> None:
    with pytest.raises(ConfigError, match=r"take only a name"):
        open_store("memory://name/extra")
    with pytest.raises(ConfigError, match=r"unknown memory:// storage option\(s\) size; valid options: \(none\)"):
        open_store("memory://?size=3")
    with pytest.raises(ConfigError, match="unknown memory:// storage option"):
        open_store("memory://", size=3)


def test_sqlite_absolute_uri(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/catalog.db")
    assert isinstance(store, SQLiteStore)
    assert store.path == tmp_path / "catalog.db"
    assert (store.synchronous, store.busy_timeout) == ("normal", 5000)


def test_sqlite_relative_uri_resolves_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:///data/catalog.db")
    assert isinstance(store, SQLiteStore)
    assert store.path == tmp_path / "data" / "catalog.db"


def test_sqlite_percent_encoded_path(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/my%20catalog.db")
    assert isinstance(store, SQLiteStore)
    assert store.path.name == "my catalog.db"


def test_sqlite_options_from_query_and_keywords(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/c.db?busy_timeout=250&synchronous=FULL")
    assert isinstance(store, SQLiteStore)
    assert (store.synchronous, store.busy_timeout) == ("full", 250)
    overridden = open_store(f"sqlite:///{tmp_path}/c.db?synchronous=full", synchronous="extra", busy_timeout=10)
    assert isinstance(overridden, SQLiteStore)
    assert (overridden.synchronous, overridden.busy_timeout) == ("extra", 10)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("sqlite://", "names no file"),
        ("sqlite:///", "names no file"),
        ("sqlite://host/catalog.db", "have no host"),
        ("sqlite:///:memory:", "needs a file path"),
        ("sqlite:///c.db?synchronous=off", "invalid sqlite synchronous mode 'off'; valid: normal, full, extra"),
        ("sqlite:///c.db?busy_timeout=soon", "invalid sqlite busy_timeout 'soon'"),
        ("sqlite:///c.db?busy_timeout=-1", "invalid sqlite busy_timeout '-1'"),
        (
            "sqlite:///c.db?cache=big",
            r"unknown sqlite:// storage option\(s\) cache; valid options: busy_timeout, synch",
        ),
        ("sqlite:///c.db?synchronous=full&synchronous=normal", "given twice"),
        ("sqlite:///c.db#frag", "no fragment"),
    ],
)
def test_bad_sqlite_uris(uri: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        open_store(uri)


@pytest.mark.parametrize("uri", ["postgres://db/catalog", "redis://127.0.0.1:6379/0"])
def test_unknown_scheme_lists_the_valid_ones(uri: str) -> None:
    with pytest.raises(
        ConfigError, match=r"unknown storage URI scheme .*valid schemes: dynamodb://, memory://, sqlite://"
    ):
        open_store(uri)


@pytest.mark.parametrize("uri", ["", "catalog.db", "/var/lib/catalog.db", "sqlite:catalog.db", "://x"])
def test_malformed_uri_lists_the_valid_schemes(uri: str) -> None:
    with pytest.raises(
        ConfigError, match=r"malformed storage URI .*valid schemes: dynamodb://, memory://, sqlite://"
    ) as caught:
        open_store(uri)
    assert caught.value.details["valid_schemes"] == ["dynamodb", "memory", "sqlite"]


def test_missing_adapter_module_names_the_extra() -> None:
    registry = StoreRegistry()
    registry.register("cosmos", "nestor_catalog_core.storage.cosmos_nonexistent:CosmosStore", extra="cosmos")
    with pytest.raises(ConfigError, match=r"pip install 'nestor-catalog\[cosmos\]'") as caught:
        registry.open("cosmos://table")
    assert caught.value.details["extra"] == "cosmos"
    assert caught.value.details["missing"] == "nestor_catalog_core.storage.cosmos_nonexistent"


def test_dynamodb_is_registered_lazily_with_its_extra() -> None:
    if importlib.util.find_spec("nestor_catalog_core.storage.dynamodb") is None:
        with pytest.raises(ConfigError, match=r"pip install 'nestor-catalog\[dynamodb\]'"):
            open_store("dynamodb://catalog?region=eu-west-1")
    else:
        store = open_store("dynamodb://catalog?region=eu-west-1&endpoint=http%3A%2F%2F127.0.0.1%3A1")
        assert store.scheme == "dynamodb"


class PluginStore(MemoryStore):
    scheme = "mem2"


def test_registering_a_plugin_scheme() -> None:
    registry = StoreRegistry()
    registry.register("Mem2", "tests.core.storage.test_registry:PluginStore")
    assert registry.schemes() == ["mem2"]
    store = registry.open("mem2://plugged")
    assert isinstance(store, PluginStore)
    assert store.name == "plugged"


def test_an_adapter_refuses_another_scheme() -> None:
    registry = StoreRegistry()
    registry.register("alias", "nestor_catalog_core.storage.memory:MemoryStore")
    with pytest.raises(ConfigError, match=r"not a memory:// URI"):
        registry.open("alias://x")


def test_a_target_that_is_not_a_store_is_refused() -> None:
    registry = StoreRegistry()
    registry.register("odd", "nestor_catalog_core.storage.registry:StoreRegistry")
    with pytest.raises(ConfigError, match="is not a ComponentStore class"):
        registry.open("odd://x")
    registry.register("gone", "nestor_catalog_core.storage.memory:NoSuchStore")
    with pytest.raises(ConfigError, match="is not a ComponentStore class"):
        registry.open("gone://x")


@pytest.mark.parametrize(
    ("scheme", "target", "message"),
    [
        ("no spaces", "a.b:C", "invalid storage scheme"),
        ("1abc", "a.b:C", "invalid storage scheme"),
        ("ok", "a.b.C", "invalid storage adapter target"),
        ("ok", "a.b:C:D", "invalid storage adapter target"),
    ],
)
def test_bad_registrations(scheme: str, target: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        StoreRegistry().register(scheme, target)


def test_the_default_registry_is_what_open_store_uses() -> None:
    assert default_registry.schemes() == available_schemes()
