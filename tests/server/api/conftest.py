"""In-process fixtures for the HTTP API: the real app from ``create_app`` over a memory-store
``Catalog`` holding the examples (published as if synced from a git repository), driven by
Litestar's ``AsyncTestClient`` (the real ASGI app, lifespan included, without a socket)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from nestor_catalog_core import Catalog, MemoryStore, Source, SourceKind
from nestor_catalog_server.app import create_app
from nestor_catalog_server.config import Settings, settings_from_mapping
from nestor_catalog_server.observability import Metrics

HS_SECRET = "an-hs256-secret-for-the-api-tests-0123456789"
EXAMPLES_SOURCE = "examples"

Client = AsyncTestClient[Litestar]


def example_files(examples_dir: Path) -> list[Path]:
    """The valid examples, in an order that publishes each name's versions ascending."""
    return sorted(
        path
        for path in examples_dir.iterdir()
        if path.is_file() and path.suffix in {".yaml", ".yml", ".json"} and not path.name.startswith(".")
    )


async def publish_examples(catalog: Catalog, examples_dir: Path) -> None:
    for path in example_files(examples_dir):
        source = Source(kind=SourceKind.GIT, repository=EXAMPLES_SOURCE, path=path.name, commit="a" * 40)
        await catalog.publish_bytes(path.read_bytes(), file=path.name, source=source)


def make_settings(tmp_path: Path, **sections: Any) -> Settings:
    data: dict[str, Any] = {
        "service": {"data_dir": str(tmp_path / "data")},
        "storage": {"type": "memory"},
        "logging": {"format": "json", "level": "info"},
    }
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value}
    return settings_from_mapping(data, base_dir=tmp_path, environ={})


def token(
    claims: dict[str, Any] | None = None, *, key: Any = HS_SECRET, algorithm: str = "HS256", **headers: Any
) -> str:
    now = int(time.time())
    payload = {"sub": "svc-orchestrator", "iat": now, "exp": now + 600, **(claims or {})}
    return jwt.encode(payload, key, algorithm=algorithm, headers=headers or None)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


@pytest.fixture
async def catalog(examples_dir: Path) -> AsyncIterator[Catalog]:
    catalog = Catalog(MemoryStore())
    await catalog.start()
    await publish_examples(catalog, examples_dir)
    try:
        yield catalog
    finally:
        await catalog.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(process_metrics=False)


@pytest.fixture
async def client(settings: Settings, catalog: Catalog, metrics: Metrics) -> AsyncIterator[Client]:
    app = create_app(settings, catalog=catalog, metrics=metrics)
    async with AsyncTestClient(app=app) as test_client:
        yield test_client


@pytest.fixture
def app_client(catalog: Catalog, metrics: Metrics) -> Callable[[Settings], Client]:
    """A client factory for tests that need other settings (auth, rate limits, read-only)."""

    def build(settings: Settings, *, reader: Any = None) -> Client:
        return AsyncTestClient(app=create_app(settings, catalog=reader or catalog, metrics=metrics))

    return build
