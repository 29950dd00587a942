"""The API tests' in-process fixtures (the real app over a memory catalog of the examples)."""

from tests.server.api.conftest import app_client, catalog, client, metrics, settings

__all__ = ["app_client", "catalog", "client", "metrics", "settings"]
