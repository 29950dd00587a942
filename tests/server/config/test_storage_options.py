"""The storage adapters judge their own options; the config file only says where they are.

Each error is the adapter's (``SQLiteStore``, ``DynamoDBStore``, a plugin's store), reported
on the key it is about with that key's line and column in the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Self

import pytest

from nestor_catalog_core import ConfigError
from nestor_catalog_core.storage import MemoryStore, open_store
from nestor_catalog_core.storage.registry import default_registry
from nestor_catalog_server.config import load_settings
from tests.server.config.conftest import WriteConfig


class PluginStore(MemoryStore):
    """A store a plugin registers: ``plugmem://<name>?flavour=...``."""

    scheme: ClassVar[str] = "plugmem"

    @classmethod
    def from_uri(cls, uri: str, **options: Any) -> Self:
        name, _, flavour = uri.removeprefix("plugmem://").partition("?flavour=")
        if flavour not in ("", "plain", "spicy"):
            raise ConfigError(
                f"invalid plugmem flavour {flavour!r}",
                details={"option": "flavour", "reason": f"expected plain or spicy (got {flavour!r})"},
            )
        store = cls(name=name)
        store.flavour = flavour or "plain"
        return store

    flavour: str = "plain"


@pytest.fixture
def plugin() -> Iterator[None]:
    default_registry.register("plugmem", f"{__name__}:PluginStore")
    yield
    default_registry.unregister("plugmem")


def _error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    return info.value


def test_a_synchronous_mode_the_store_refuses_fails_at_load_with_its_line(write_config: WriteConfig) -> None:
    """``off`` used to pass the config and fail at start: SQLiteStore knows only normal, full, extra."""
    path = write_config("storage:\n  sqlite:\n    synchronous: 'off'\n")
    error = _error(path)
    assert f"{path}:3:5: storage.sqlite.synchronous: expected one of normal, full, extra (got 'off')" in error.message
    assert error.details["errors"][0]["line"] == 3


def test_dynamodb_values_are_judged_by_the_store(write_config: WriteConfig) -> None:
    path = write_config(
        "storage:\n  type: dynamodb\n  dynamodb:\n    table_name: ab\n    endpoint: localhost:8000\n"
        "    billing_mode: FREE\n"
    )
    message = _error(path).message
    assert f"{path}:4:5: storage.dynamodb.table_name: a DynamoDB table name has 3 to 255 characters" in message
    path = write_config("storage:\n  dynamodb:\n    endpoint: localhost:8000\n")
    assert f"{path}:3:5: storage.dynamodb.endpoint: expected an http:// or https:// URL" in _error(path).message
    path = write_config("storage:\n  dynamodb:\n    billing_mode: FREE\n")
    message = _error(path).message
    assert f"{path}:3:5: storage.dynamodb.billing_mode: expected one of PAY_PER_REQUEST, PROVISIONED" in message
    path = write_config("storage:\n  dynamodb:\n    read_capacity: 0\n    write_capacity: 1\n")
    assert f"{path}:3:5: storage.dynamodb.read_capacity: expected an integer >= 1 (got '0')" in _error(path).message


def test_every_dynamodb_key_reaches_the_store(write_config: WriteConfig) -> None:
    """Capacities and point-in-time recovery used to be accepted and then do nothing."""
    settings = load_settings(
        write_config(
            "storage:\n  type: dynamodb\n  dynamodb:\n    table_name: cat\n    region: eu-west-1\n"
            "    endpoint: http://127.0.0.1:8000/\n    create_table: true\n    billing_mode: provisioned\n"
            "    read_capacity: 7\n    write_capacity: 3\n    enable_point_in_time_recovery: true\n"
        ),
        environ={},
    )
    store = open_store(settings.store_uri())
    assert (store.table_name, store.region, store.endpoint, store.create_table) == (  # type: ignore[attr-defined]
        "cat",
        "eu-west-1",
        "http://127.0.0.1:8000",
        True,
    )
    options = store.table_options  # type: ignore[attr-defined]
    assert (options.billing_mode, options.read_capacity, options.write_capacity) == ("PROVISIONED", 7, 3)
    assert options.point_in_time_recovery is True


@pytest.mark.usefixtures("plugin")
def test_a_plugin_store_type_is_configured_by_its_uri(write_config: WriteConfig) -> None:
    settings = load_settings(write_config("storage:\n  plugin_uri: plugmem://shelf?flavour=spicy\n"), environ={})
    assert settings.storage.type == "plugmem"
    store = open_store(settings.store_uri())
    assert isinstance(store, PluginStore)
    assert (store.name, store.flavour) == ("shelf", "spicy")
    path = write_config("storage:\n  type: plugmem\n  plugin_uri: plugmem://shelf?flavour=sour\n")
    message = _error(path).message
    assert f"{path}:3:3: storage.plugin_uri: option flavour: expected plain or spicy (got 'sour')" in message


@pytest.mark.usefixtures("plugin")
def test_plugin_uri_mistakes_are_named(write_config: WriteConfig) -> None:
    path = write_config("storage:\n  type: plugmem\n")
    assert "storage.plugin_uri: storage.type 'plugmem' has no section here" in _error(path).message
    path = write_config("storage:\n  type: memory\n  plugin_uri: plugmem://x\n")
    assert "storage.plugin_uri: its scheme 'plugmem' is not storage.type 'memory'" in _error(path).message
    path = write_config("storage:\n  plugin_uri: sqlite:///x.db\n")
    assert "configure the built-in sqlite adapter with storage.sqlite" in _error(path).message


def test_an_unregistered_type_lists_the_registered_ones(write_config: WriteConfig) -> None:
    message = _error(write_config("storage:\n  type: plugmem\n")).message
    assert "storage.type: Input should be 'memory', 'sqlite' or 'dynamodb' (got 'plugmem')" in message
    assert "register_store" in message
