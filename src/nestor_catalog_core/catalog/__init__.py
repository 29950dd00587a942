"""The in-process Catalog: publish pipeline, read model, search and subscriptions."""

from nestor_catalog_core.catalog.catalog import Catalog, CatalogSettings, PublishResult
from nestor_catalog_core.catalog.read_model import CatalogEntry, ListFilters, Page, ReadModel
from nestor_catalog_core.catalog.reader import CatalogReader

__all__ = [
    "Catalog",
    "CatalogEntry",
    "CatalogReader",
    "CatalogSettings",
    "ListFilters",
    "Page",
    "PublishResult",
    "ReadModel",
]
