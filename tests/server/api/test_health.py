"""Operations endpoints: liveness, readiness (storage, first syncs, components, shutdown),
Prometheus metrics and the status page."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from nestor_catalog_core import Catalog
from nestor_catalog_server.config import Settings
from nestor_catalog_server.state import STATE_KEY, AppState
from tests.server.api.conftest import Client, make_settings

SPEC_METRICS = (
    "catalog_resources_total",
    "catalog_git_sync_duration",
    "catalog_api_requests_total",
    "catalog_sse_connections",
    "catalog_validation_errors_total",
)


async def poll(client: Client, path: str, *, until: int, deadline: float = 30.0) -> httpx.Response:
    """GET ``path`` until it answers ``until`` (the app runs on its own loop in the test client,
    so the test waits through HTTP, not on the app's asyncio objects)."""
    give_up = time.monotonic() + deadline
    while True:
        response = await client.get(path)
        if response.status_code == until or time.monotonic() > give_up:
            return response
        await asyncio.sleep(0.05)


def app_state(client: Client) -> AppState:
    state: AppState = client.app.state[STATE_KEY]
    return state


@pytest.fixture
def silent_git_server() -> Iterator[socket.socket]:
    """A listening socket that never answers: a git remote that hangs (closing it resets the
    connections waiting in its backlog, which ends the hung fetch)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener


async def test_health_checks_nothing_but_the_process(client: Client) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["cache-control"] == "no-store"


async def test_ready_with_storage_and_no_sources(client: Client) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"storage": {"ok": True, "type": "memory"}, "sync": {"ok": True, "enabled": False}},
    }


async def test_not_ready_when_storage_is_down(client: Client, catalog: Catalog) -> None:
    await catalog.store.close()
    response = await client.get("/ready")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    error = response.json()["error"]
    assert error["code"] == "SERVICE_UNAVAILABLE"
    assert error["details"]["storage"]["ok"] is False
    assert error["details"]["storage"]["error"]
    assert error["details"]["sync"] == {"ok": True, "enabled": False}
    assert (await client.get("/health")).status_code == 200
    served = await client.get("/api/v1/resources/aws-vpc")
    assert served.status_code == 200, "storage down keeps serving the in-memory model"


async def test_not_ready_until_the_first_sync_of_every_repository(
    tmp_path: Path, silent_git_server: socket.socket, app_client: Callable[[Settings], Client]
) -> None:
    url = f"git://127.0.0.1:{silent_git_server.getsockname()[1]}/team.git"
    settings = make_settings(tmp_path, git={"repositories": [{"name": "team", "url": url, "timeout": "60s"}]})
    async with app_client(settings) as client:
        response = await client.get("/ready")
        assert response.status_code == 503
        details = response.json()["error"]["details"]
        sync = details["sync"]
        assert (sync["ok"], sync["enabled"], sync["sources"]) == (False, True, 1)
        assert sync["waiting_for"] == [sync["repositories"]["team"]["waiting_for"]]
        assert "first sync of team" in sync["waiting_for"][0]
        assert sync["repositories"]["team"]["ready"] is False
        assert app_state(client).sync is not None
        silent_git_server.close()
        ready = await poll(client, "/ready", until=200)
        assert ready.status_code == 200, "a failed first attempt still counts: the source reports its error"
        team = ready.json()["checks"]["sync"]["repositories"]["team"]
        assert (team["ready"], team["reachable"], team["stale"], team["last_fetch_age_seconds"]) == (
            True, False, True, None
        ), "never fetched: reported stale, unready only with git.readiness.unready_when_stale"  # fmt: skip
        (status,) = (await client.get("/api/v1/sync")).json()["repositories"]
        assert status["name"] == "team"
        assert status["state"] == "failed"
        assert status["last_error"]["stage"] == "fetch"


async def test_components_and_shutdown_count(client: Client) -> None:
    state = app_state(client)
    state.components["cache"] = {"ok": False, "error": "redis is down"}
    response = await client.get("/ready")
    assert response.status_code == 503
    assert response.json()["error"]["details"]["cache"] == {"ok": False, "error": "redis is down"}
    assert response.json()["error"]["message"] == "not ready: cache"
    state.components["cache"] = {"ok": True}
    assert (await client.get("/ready")).status_code == 200
    state.shutdown.set()
    draining = await client.get("/ready")
    assert draining.status_code == 503
    assert draining.json()["error"]["details"]["lifecycle"] == {"ok": False, "reason": "shutting down"}


async def test_metrics_expose_the_spec_names_and_latency(client: Client, catalog: Catalog) -> None:
    await client.get("/api/v1/resources/aws-vpc/2.1.0")
    await client.get("/api/v1/nowhere")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for name in SPEC_METRICS:
        assert f"\n{name}" in text or f"# TYPE {name.removesuffix('_total')}" in text, name
    assert "# TYPE catalog_api_request_duration_seconds histogram" in text
    assert f"catalog_resources_total {float(len(catalog.names()))}" in text
    assert (
        'catalog_api_requests_total{method="GET",route="/api/v1/resources/{name}/{version}",status="200"} 1.0' in text
    )
    assert 'catalog_api_requests_total{method="GET",route="<unmatched>",status="404"} 1.0' in text
    assert (
        'catalog_api_request_duration_seconds_count{method="GET",route="/api/v1/resources/{name}/{version}"} 1.0'
        in text
    )
    open_metrics = await client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert open_metrics.headers["content-type"].startswith("application/openmetrics-text")


async def test_status_page(client: Client, catalog: Catalog) -> None:
    response = await client.get("/api/v1/status")
    assert response.status_code == 200
    body = response.json()
    stats = catalog.stats()
    assert body["service"] == "catalog"
    assert body["version"] == "0.1.0"
    assert body["uptime_seconds"] >= 0
    assert body["revision"] == catalog.revision
    assert body["counts"] == {k: stats[k] for k in ("resources", "versions", "withdrawn", "deprecated")}
    assert body["counts"]["deprecated"] >= 1
    assert body["repositories"] == []
    assert body["sse"] == {"connections": 0, "max_connections": 1000}
    assert body["storage"] == {"ok": True, "type": "memory"}
    assert body["read_only"] is False
    assert body["upstream"] is None
    assert body["components"] == {}


async def test_a_stale_repository_makes_the_replica_unready_only_when_configured(
    tmp_path: Path, app_client: Callable[[Settings], Client]
) -> None:
    repository = {"name": "team", "url": "git://127.0.0.1:9/nowhere.git", "timeout": "5s"}
    for strict in (False, True):
        git = {
            "repositories": [repository],
            "backoff": {"initial": "60s", "max": "60s"},
            "readiness": {"unready_when_stale": strict},
        }
        settings = make_settings(tmp_path / str(strict), git=git)
        async with app_client(settings) as client:
            deadline = time.monotonic() + 30
            while (team := app_state(client).sync.source_status("team")).state != "failed":  # type: ignore[union-attr]
                assert time.monotonic() < deadline, "the first attempt never failed"
                await asyncio.sleep(0.05)
            assert (team.reachable, team.stale) == (False, True)
            response = await client.get("/ready")
            if not strict:
                assert response.status_code == 200, "stale is reported, not blocking, by default"
                assert response.json()["checks"]["sync"]["repositories"]["team"]["stale"] is True
                continue
            assert response.status_code == 503
            sync = response.json()["error"]["details"]["sync"]
            assert sync["waiting_for"] == [team.waiting_for]
            assert "a successful fetch of team" in sync["waiting_for"][0]
