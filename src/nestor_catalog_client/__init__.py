"""nestor-catalog client: sync and async HTTP clients, event subscription and a mirror.

    from nestor_catalog_client import CatalogClient

    with CatalogClient("http://catalog:8080") as catalog:
        resource = catalog.get_resource("aws-rds-mysql", constraint="^1.2")

Results are core models (``Resource``, ``Finding``, ``Event``, ``StreamReset``,
``InputsResult``); errors are the core exception tree (``from nestor_catalog_core import
ResourceNotFound``), each carrying the server's ``details`` and ``trace_id``.
"""

from nestor_catalog_client._async_client import AsyncCatalogClient
from nestor_catalog_client._base import Filters, Token
from nestor_catalog_client._cache import ETagCache
from nestor_catalog_client._client import CatalogClient
from nestor_catalog_client._models import (
    CatalogDeprecationWarning,
    FacetCounts,
    ResourcePage,
    SearchResult,
    ValidationReport,
    VersionInfo,
)
from nestor_catalog_client._retry import RetryPolicy
from nestor_catalog_client._subscription import (
    AsyncSubscription,
    ReconnectPolicy,
    StreamState,
    Subscription,
    SubscriptionItem,
)
from nestor_catalog_client.mirror import Mirror, MirrorStatus

__all__ = [
    "AsyncCatalogClient",
    "AsyncSubscription",
    "CatalogClient",
    "CatalogDeprecationWarning",
    "ETagCache",
    "FacetCounts",
    "Filters",
    "Mirror",
    "MirrorStatus",
    "ReconnectPolicy",
    "ResourcePage",
    "RetryPolicy",
    "SearchResult",
    "StreamState",
    "Subscription",
    "SubscriptionItem",
    "Token",
    "ValidationReport",
    "VersionInfo",
]
