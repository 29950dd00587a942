"""The in-process Catalog: publish pipeline, read model, search and subscriptions."""

from nestor_catalog_core.catalog.catalog import Catalog, CatalogSettings, PublishResult
from nestor_catalog_core.catalog.read_model import CatalogEntry, ListFilters, Page

__all__ = ["Catalog", "CatalogEntry", "CatalogSettings", "ListFilters", "Page", "PublishResult"]
