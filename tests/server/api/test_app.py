"""The app factory and its lifespan: the store it opens, following other writers, sync from a
local directory, retention, shutdown order; the runner's options; the package's public names."""

from __future__ import annotations

import asyncio
import shutil
import time
from datetime import timedelta
from pathlib import Path

import httpx
from litestar.testing import AsyncTestClient

import nestor_catalog_server
from nestor_catalog_core import Catalog, MemoryStore, Source, SourceKind, open_store
from nestor_catalog_server.app import _trim_events, create_app
from nestor_catalog_server.runner import granian_options
from nestor_catalog_server.state import STATE_KEY, AppState
from tests.server.api.conftest import Client, example_files, make_settings, publish_examples


async def wait_for(client: Client, path: str, *, until: int, deadline: float = 30.0) -> httpx.Response:
    give_up = time.monotonic() + deadline
    while True:
        response = await client.get(path)
        if response.status_code == until or time.monotonic() > give_up:
            return response
        await asyncio.sleep(0.05)


def test_public_names() -> None:
    assert sorted(nestor_catalog_server.__all__) == [
        "AppState",
        "Metrics",
        "Principal",
        "STATE_KEY",
        "Settings",
        "TokenVerifier",
        "app_from_environment",
        "create_app",
        "load_settings",
        "serve",
        "settings_from_mapping",
    ]
    for name in nestor_catalog_server.__all__:
        assert getattr(nestor_catalog_server, name) is not None


async def test_lifespan_opens_sqlite_and_follows_other_writers(tmp_path: Path, examples_dir: Path) -> None:
    database = tmp_path / "catalog.db"
    settings = make_settings(tmp_path, storage={"type": "sqlite", "sqlite": {"path": str(database)}})
    app = create_app(settings)
    async with AsyncTestClient(app=app) as client:
        state: AppState = app.state[STATE_KEY]
        assert isinstance(state.catalog, Catalog)
        assert set(state.tasks) == {"follow", "retention", "sunsets"}
        assert state.sync is None
        assert (await client.get("/api/v1/resources")).json()["total"] == 0
        writer = Catalog(open_store(settings.store_uri()))
        await writer.start()
        try:
            await publish_examples(writer, examples_dir)
        finally:
            await writer.close()
        response = await wait_for(client, "/api/v1/resources/aws-rds-mysql", until=200)
        assert response.json()["metadata"]["version"] == "2.0.0"
    assert state.shutdown.is_set()
    assert state.tasks == {}


async def test_local_directory_source_syncs_at_start(tmp_path: Path, examples_dir: Path) -> None:
    folder = tmp_path / "definitions"
    folder.mkdir()
    for path in example_files(examples_dir):
        shutil.copy(path, folder / path.name)
    settings = make_settings(tmp_path, git={"directories": [{"name": "examples", "path": str(folder)}]})
    app = create_app(settings)
    async with AsyncTestClient(app=app) as client:
        assert (await wait_for(client, "/ready", until=200)).status_code == 200
        body = (await client.get("/api/v1/resources/aws-rds-mysql")).json()
        assert body["status"]["source"]["kind"] == "local"
        assert body["status"]["source"]["repository"] == "examples"
        (status,) = (await client.get("/api/v1/status")).json()["repositories"]
        assert status["name"] == "examples"
        assert status["kind"] == "local"


async def test_read_only_settings_start_no_sync(tmp_path: Path, examples_dir: Path) -> None:
    folder = tmp_path / "definitions"
    folder.mkdir()
    settings = make_settings(
        tmp_path, service={"read_only": True}, git={"directories": [{"name": "examples", "path": str(folder)}]}
    )
    app = create_app(settings)
    async with AsyncTestClient(app=app) as client:
        assert app.state[STATE_KEY].sync is None
        assert "retention" not in app.state[STATE_KEY].tasks
        response = await client.post("/api/v1/resources", content=b"{}", headers={"Content-Type": "application/json"})
        assert response.status_code == 405
        assert (await client.get("/api/v1/status")).json()["read_only"] is True


async def test_an_injected_catalog_is_left_to_its_owner(tmp_path: Path, catalog: Catalog) -> None:
    app = create_app(make_settings(tmp_path), catalog=catalog)
    async with AsyncTestClient(app=app):
        assert app.state[STATE_KEY].tasks == {}
    assert catalog.has("aws-vpc")
    await catalog.store.ping()


async def test_retention_trims_the_event_log(examples_dir: Path) -> None:
    catalog = Catalog(MemoryStore())
    await catalog.start()
    try:
        await publish_examples(catalog, examples_dir)
        head = await catalog.store.last_sequence()
        await _trim_events(catalog, timedelta(days=7), max_events=5)
        assert await catalog.store.first_sequence() == head - 4
        await _trim_events(catalog, timedelta(microseconds=1), max_events=1000)
        assert await catalog.store.first_sequence() > head - 4
        source = Source(kind=SourceKind.API, user="x")
        await catalog.withdraw("aws-vpc", "2.1.0", source=source)
        assert await catalog.store.last_sequence() == head + 1
    finally:
        await catalog.close()


def test_runner_options_follow_the_settings(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, service={"host": "127.0.0.2", "port": 9001}, logging={"level": "warning"})
    options = granian_options(settings)
    assert options["address"] == "127.0.0.2"
    assert options["port"] == 9001
    assert options["workers"] == 1
    assert options["interface"].value == "asgi"
    assert options["log_level"].value == "warning"
    assert "ssl_cert" not in options
    assert options["http1_settings"].header_read_timeout == 30_000
    overridden = granian_options(settings, "0.0.0.0", 0)
    assert (overridden["address"], overridden["port"]) == ("0.0.0.0", 0)
