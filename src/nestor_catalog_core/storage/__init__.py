"""Storage: the ``ComponentStore`` interface and its adapters, chosen by URI."""

from nestor_catalog_core.storage.base import AuditPage, AuditQuery, ComponentStore, PublishOutcome
from nestor_catalog_core.storage.memory import MemoryStore
from nestor_catalog_core.storage.registry import StoreRegistry, available_schemes, open_store, register_store
from nestor_catalog_core.storage.sqlite import SYNCHRONOUS_MODES, SQLiteStore

__all__ = [
    "SYNCHRONOUS_MODES",
    "AuditPage",
    "AuditQuery",
    "ComponentStore",
    "MemoryStore",
    "PublishOutcome",
    "SQLiteStore",
    "StoreRegistry",
    "available_schemes",
    "open_store",
    "register_store",
]
