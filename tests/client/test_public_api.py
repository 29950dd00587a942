"""The client's curated public surface."""

from __future__ import annotations

import nestor_catalog_client

EXPECTED = {
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
}


def test_all_is_exactly_the_public_names() -> None:
    assert set(nestor_catalog_client.__all__) == EXPECTED
    assert sorted(nestor_catalog_client.__all__) == nestor_catalog_client.__all__


def test_every_public_name_resolves() -> None:
    for name in nestor_catalog_client.__all__:
        assert getattr(nestor_catalog_client, name) is not None, name


def test_the_client_never_imports_the_server() -> None:
    import subprocess
    import sys

    code = "import sys, nestor_catalog_client; print(any(m.startswith('nestor_catalog_server') for m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
