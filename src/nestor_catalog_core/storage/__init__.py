"""Storage: the ``ComponentStore`` interface and its adapters, chosen by URI."""

from nestor_catalog_core.storage.base import AuditPage, AuditQuery, ComponentStore, PublishOutcome

__all__ = ["AuditPage", "AuditQuery", "ComponentStore", "PublishOutcome"]
