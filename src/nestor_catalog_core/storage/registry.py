"""Choosing a store by URI: ``open_store("sqlite:////var/lib/nestor/catalog.db")``.

Each scheme maps to an adapter class named as ``"module:ClassName"``, imported only when a
URI with that scheme is opened, so ``boto3`` (DynamoDB) loads only for ``dynamodb://`` and a
missing optional dependency is reported as the extra to install rather than as an
``ImportError`` from deep inside.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any, Final

from nestor_catalog_core._exceptions import ConfigError
from nestor_catalog_core.storage.base import ComponentStore

__all__ = ["StoreRegistry", "available_schemes", "default_registry", "open_store", "register_store"]

_SCHEME: Final = re.compile(r"^[a-z][a-z0-9+.-]*$")
_TARGET: Final = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass(frozen=True, slots=True)
class _Entry:
    target: str
    extra: str | None


class StoreRegistry:
    """Scheme -> adapter class. ``default_registry`` is the one ``open_store`` uses; build
    your own to test registrations without touching it."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def register(self, scheme: str, target: str, *, extra: str | None = None) -> None:
        """Map ``scheme`` to ``target`` (``"package.module:ClassName"``), replacing any
        previous mapping. ``extra`` names the ``nestor-catalog[...]`` extra the adapter
        needs, for the error shown when its imports fail."""
        scheme = scheme.lower()
        if not _SCHEME.match(scheme):
            raise ConfigError(f"invalid storage scheme {scheme!r}: expected letters, digits, '+', '-' or '.'")
        if not _TARGET.match(target):
            raise ConfigError(f"invalid storage adapter target {target!r}: expected 'package.module:ClassName'")
        self._entries[scheme] = _Entry(target=target, extra=extra)

    def unregister(self, scheme: str) -> None:
        """Forget ``scheme`` (a plugin's tests undoing their ``register``); unknown is a no-op."""
        self._entries.pop(scheme.lower(), None)

    def schemes(self) -> list[str]:
        return sorted(self._entries)

    def open(self, uri: str, **options: Any) -> ComponentStore:
        """Construct the store for ``uri`` (``scheme://...``) through its class's
        ``from_uri``; the caller still has to ``open()`` it (or use ``async with``)."""
        scheme = self._scheme_of(uri)
        return self._load(scheme).from_uri(uri, **options)

    def _valid(self) -> str:
        return ", ".join(f"{scheme}://" for scheme in self.schemes())

    def _scheme_of(self, uri: str) -> str:
        scheme, separator, _ = uri.partition("://") if isinstance(uri, str) else ("", "", "")
        if not separator or not scheme:
            raise ConfigError(
                f"malformed storage URI {uri!r}: expected scheme://...; valid schemes: {self._valid()}",
                details={"uri": str(uri), "valid_schemes": self.schemes()},
            )
        scheme = scheme.lower()
        if scheme not in self._entries:
            raise ConfigError(
                f"unknown storage URI scheme {scheme!r} in {uri!r}; valid schemes: {self._valid()}",
                details={"uri": uri, "scheme": scheme, "valid_schemes": self.schemes()},
            )
        return scheme

    def _load(self, scheme: str) -> type[ComponentStore]:
        entry = self._entries[scheme]
        module_name, _, class_name = entry.target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise self._missing(scheme, entry, exc) from exc
        cls = getattr(module, class_name, None)
        if not (isinstance(cls, type) and issubclass(cls, ComponentStore)):
            raise ConfigError(f"storage adapter {entry.target!r} for {scheme}:// is not a ComponentStore class")
        return cls

    @staticmethod
    def _missing(scheme: str, entry: _Entry, exc: ImportError) -> ConfigError:
        hint = f"; install it with: pip install 'nestor-catalog[{entry.extra}]'" if entry.extra else ""
        return ConfigError(
            f"the {scheme}:// storage adapter is not available ({exc}){hint}",
            details={"scheme": scheme, "adapter": entry.target, "extra": entry.extra, "missing": exc.name},
        )


def _builtin_registry() -> StoreRegistry:
    registry = StoreRegistry()
    registry.register("memory", "nestor_catalog_core.storage.memory:MemoryStore")
    registry.register("sqlite", "nestor_catalog_core.storage.sqlite:SQLiteStore")
    registry.register("dynamodb", "nestor_catalog_core.storage.dynamodb:DynamoDBStore", extra="dynamodb")
    return registry


default_registry: Final = _builtin_registry()


def register_store(scheme: str, target: str, *, extra: str | None = None) -> None:
    """Make ``open_store`` construct ``target`` (``"module:ClassName"``) for ``scheme://``
    URIs (a plugin adapter, or a replacement for a built-in one)."""
    default_registry.register(scheme, target, extra=extra)


def open_store(uri: str, **options: Any) -> ComponentStore:
    """The store for ``uri``, constructed but not opened.

    ``memory://[name]``, ``sqlite:///relative.db``, ``sqlite:////absolute.db``,
    ``dynamodb://table?region=...``; query options and ``options`` (which win) are passed
    to the adapter; the built-in adapters also take ``clock`` (a function returning an aware
    ``datetime``, the time of lease decisions: tests pass a fake one instead of sleeping).
    Raises ``ConfigError`` for a malformed URI, an unknown scheme (the
    message lists the valid ones), a bad option or a missing optional dependency.
    """
    return default_registry.open(uri, **options)


def available_schemes() -> list[str]:
    """The registered schemes, sorted (whether their dependencies are installed or not)."""
    return default_registry.schemes()
