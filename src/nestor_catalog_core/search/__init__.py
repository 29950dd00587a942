"""Ranked search over the catalog's latest versions."""

from nestor_catalog_core.search.index import SearchDocument, SearchHit, SearchIndex, tokenize

__all__ = ["SearchDocument", "SearchHit", "SearchIndex", "tokenize"]
