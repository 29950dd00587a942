"""Scale-out wired into the app: exact versions read through, ``redis`` and ``leader`` in
``/ready`` and ``/api/v1/status``, the internal trigger route, and webhooks received by a
follower reaching the leader through Redis and, without it, over HTTP."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from nestor_catalog_core import Catalog, open_store
from nestor_catalog_server.app import create_app
from nestor_catalog_server.config import RedisConfig, Settings
from nestor_catalog_server.scaleout import ClusterSync, Trigger
from nestor_catalog_server.scaleout._tasks import stop_tasks
from nestor_catalog_server.scaleout.cluster_sync import INTERNAL_SYNC_PATH, SIGNATURE_HEADER
from nestor_catalog_server.state import STATE_KEY, AppState
from nestor_catalog_server.sync import sign_payload
from tests.core.storage.builders import api_source
from tests.server.api.builders import definition
from tests.server.api.conftest import example_files, make_settings
from tests.server.scaleout.conftest import WAIT, publish
from tests.support.git import ServedRepo
from tests.support.redis import RedisServer
from tests.support.server import run_server

CLUSTER_SECRET = "cluster-secret-0123456789abcdef"
WEBHOOK_SECRET = "webhook-secret-0123456789abcdef"

Client = AsyncTestClient[Litestar]


def redis_section(config: RedisConfig) -> dict[str, Any]:
    return {"type": "redis", "redis": {"url": config.url, "stream": config.stream, "key_prefix": config.key_prefix}}


def state_of(app: Litestar) -> AppState:
    state: AppState = app.state[STATE_KEY]
    return state


async def eventually(probe: Any, *, deadline: float = WAIT) -> Any:
    """Await ``probe()`` until it returns something truthy; that value."""
    give_up = time.monotonic() + deadline
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > give_up:
            raise AssertionError(f"no success within {deadline}s (last: {value!r})")
        await asyncio.sleep(0.05)


async def checks(client: Client) -> dict[str, Any]:
    response = await client.get("/ready")
    body: dict[str, Any] = response.json()
    return body.get("checks") or body["error"]["details"]


@pytest.fixture
def examples_folder(tmp_path: Path, examples_dir: Path) -> Path:
    folder = tmp_path / "definitions"
    folder.mkdir()
    for path in example_files(examples_dir):
        shutil.copy(path, folder / path.name)
    return folder


# --------------------------------------------------------------------------------------------- read-through


async def test_an_exact_version_another_writer_just_published_is_read_through(
    tmp_path: Path, redis_config: RedisConfig
) -> None:
    database = tmp_path / "catalog.db"
    settings = make_settings(
        tmp_path, storage={"type": "sqlite", "sqlite": {"path": str(database)}}, cache=redis_section(redis_config)
    )
    app = create_app(settings)
    async with AsyncTestClient(app=app) as client:
        state = state_of(app)
        assert state.read_through is not None
        await stop_tasks([state.tasks.pop("follow")])
        writer = Catalog(open_store(settings.store_uri()), owns_store=True)
        await writer.start()
        try:
            await publish(writer, "elsewhere-queue")
            digest = writer.entry("elsewhere-queue", "1.0.0").digest
            await writer.withdraw("elsewhere-queue", "1.0.0", source=api_source())
        finally:
            await writer.close()
        assert not state.catalog.has("elsewhere-queue", "1.0.0")

        response = await client.get("/api/v1/resources/elsewhere-queue/1.0.0")
        assert response.status_code == 200
        assert response.headers["etag"] == f'"{digest}"'
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["warning"].startswith("299")
        assert response.json()["metadata"]["name"] == "elsewhere-queue"
        assert response.json()["status"]["withdrawn"] is True
        cached = await client.get("/api/v1/resources/elsewhere-queue/1.0.0", headers={"If-None-Match": f'"{digest}"'})
        assert cached.status_code == 304

        missing = await client.get("/api/v1/resources/elsewhere-queue/9.9.9")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "RESOURCE_NOT_FOUND"
        assert missing.json()["error"]["trace_id"]
        assert (await client.get("/api/v1/resources/elsewhere-queue/not-a-version")).status_code == 400

        audit = await client.get("/api/v1/audit", params={"resource": "elsewhere-queue"})
        assert [item["event"] for item in audit.json()["items"]] == ["resource.withdrawn", "resource.created"]
        assert state.components["redis"]["cache"]["storage_reads"] == 2


async def test_a_lone_server_without_redis_adds_nothing_but_the_leader(tmp_path: Path, examples_folder: Path) -> None:
    settings = make_settings(
        tmp_path,
        storage={"type": "sqlite"},
        git={"directories": [{"name": "examples", "path": str(examples_folder)}]},
    )
    app = create_app(settings)
    async with AsyncTestClient(app=app) as client:
        await eventually(lambda: _ready(client))
        state = state_of(app)
        assert state.read_through is None
        assert set(state.components) == {"leader"}
        assert isinstance(state.sync, ClusterSync)
        leader = (await client.get("/api/v1/status")).json()["components"]["leader"]
        assert leader["me"] is True
        assert leader["holder"] == leader["replica"]
        assert leader["token"] >= 1
        assert leader["lease"] == "git-sync"
        assert (await client.get("/api/v1/resources/aws-rds-mysql")).status_code == 200
    assert await _lease_holder(settings) is None, "a clean stop releases the lease"


async def _ready(client: Client) -> bool:
    return (await client.get("/ready")).status_code == 200


async def _lease_holder(settings: Settings) -> str | None:
    store = open_store(settings.store_uri())
    await store.open()
    try:
        lease = await store.get_lease(settings.leadership.lease_name)
        return lease.holder if lease is not None else None
    finally:
        await store.close()


# --------------------------------------------------------------------------------------------- /ready, /status


async def test_redis_and_leader_in_ready_and_status_and_an_outage_only_degrades(
    tmp_path: Path, examples_folder: Path, redis_config: RedisConfig, redis_server: RedisServer
) -> None:
    settings = make_settings(
        tmp_path,
        cache=redis_section(redis_config),
        git={"directories": [{"name": "examples", "path": str(examples_folder)}]},
    )
    app = create_app(settings)
    async with AsyncTestClient(app=app) as client:
        ready = await eventually(lambda: _streaming_checks(client))
        assert ready["redis"]["required"] is False
        assert ready["redis"]["url"] == redis_config.url
        assert ready["leader"]["me"] is True
        status = (await client.get("/api/v1/status")).json()
        assert status["components"]["redis"]["mode"] == "streaming"
        assert status["components"]["leader"]["url"].startswith("http://")

        redis_server.stop()
        degraded = await eventually(lambda: _polling_ready(client))
        assert degraded["status"] == "degraded"
        assert degraded["checks"]["redis"]["ok"] is False
        assert degraded["checks"]["redis"]["last_error"]
        assert (await client.get("/api/v1/resources/aws-rds-mysql")).status_code == 200

        redis_server.start_again()
        await eventually(lambda: _streaming_checks(client))


async def _streaming_checks(client: Client) -> dict[str, Any] | None:
    response = await client.get("/ready")
    body = response.json()
    if response.status_code == 200 and body["checks"].get("redis", {}).get("mode") == "streaming":
        assert body["status"] == "ready"
        result: dict[str, Any] = body["checks"]
        return result
    return None


async def _polling_ready(client: Client) -> dict[str, Any] | None:
    response = await client.get("/ready")
    body: dict[str, Any] = response.json()
    return body if response.status_code == 200 and body["checks"]["redis"]["mode"] == "polling" else None


# --------------------------------------------------------------------------------------------- internal route


def signed(trigger: Trigger, secret: str = CLUSTER_SECRET) -> tuple[bytes, dict[str, str]]:
    body = trigger.to_json()
    return body, {SIGNATURE_HEADER: sign_payload(secret, body), "Content-Type": "application/json"}


async def test_the_internal_route_takes_signed_triggers_for_the_leader_only(
    tmp_path: Path, examples_folder: Path
) -> None:
    database = tmp_path / "catalog.db"
    directories = {"directories": [{"name": "examples", "path": str(examples_folder)}]}
    storage = {"type": "sqlite", "sqlite": {"path": str(database)}}
    settings = make_settings(tmp_path, storage=storage, git=directories, leadership={"cluster_secret": CLUSTER_SECRET})
    trigger = Trigger(repository="examples", reason="webhook", origin="test", delivery="d-1")
    path = f"{INTERNAL_SYNC_PATH}/examples"
    app = create_app(settings)
    async with AsyncTestClient(app=app) as client:
        body, headers = signed(trigger)
        accepted = await client.post(path, content=body, headers=headers)
        assert accepted.status_code == 202
        assert accepted.json() == {"repository": "examples", "status": "scheduled"}

        forged = await client.post(path, content=body, headers=signed(trigger, "another-secret-0123456789")[1])
        assert forged.status_code == 401
        unsigned = await client.post(path, content=body)
        assert unsigned.status_code == 401
        other = await client.post(f"{INTERNAL_SYNC_PATH}/elsewhere", content=body, headers=headers)
        assert other.status_code == 400
        unknown_body, unknown_headers = signed(Trigger(repository="nowhere", reason="webhook", origin="test"))
        unknown = await client.post(f"{INTERNAL_SYNC_PATH}/nowhere", content=unknown_body, headers=unknown_headers)
        assert unknown.status_code == 404
        schema = (await client.get("/api/v1/openapi.json")).json()
        assert not any(route.startswith("/internal") for route in schema["paths"])
        await eventually(lambda: _ready(client))

    store = open_store(settings.store_uri())
    await store.open()
    assert await store.acquire_lease("git-sync", "someone-else http://elsewhere:8080", timedelta(minutes=5))
    await store.close()
    follower = create_app(settings)
    async with AsyncTestClient(app=follower) as client:
        body, headers = signed(trigger)
        refused = await client.post(path, content=body, headers=headers)
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "LEASE_HELD"
        leader = (await client.get("/api/v1/status")).json()["components"]["leader"]
        assert (leader["me"], leader["holder"], leader["url"]) == (False, "someone-else", "http://elsewhere:8080")
        assert (await client.get("/ready")).status_code == 200, "a follower serves what storage holds"

    closed = create_app(make_settings(tmp_path / "closed", git=directories))
    async with AsyncTestClient(app=closed) as client:
        body, headers = signed(trigger)
        response = await client.post(path, content=body, headers=headers)
        assert response.status_code == 403


# --------------------------------------------------------------------------------------------- forwarding


def write_definition(repo: ServedRepo, name: str, version: str) -> None:
    repo.work.write(f"definitions/{name}-{version}.json", json.dumps(definition(name, version), indent=2))


def github_push(sha: str) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps({"ref": "refs/heads/main", "after": sha}).encode()
    headers = {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": "delivery-7",
        "X-Hub-Signature-256": sign_payload(WEBHOOK_SECRET, raw),
        "Content-Type": "application/json",
    }
    return raw, headers


@pytest.fixture
def repo(tmp_path: Path) -> ServedRepo:
    served = ServedRepo.create(tmp_path / "served", tmp_path / "work", "team.git")
    write_definition(served, "team-cache", "1.0.0")
    served.publish("first definition")
    return served


def cluster_config(tmp_path: Path, repo: ServedRepo, **sections: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "storage": {"type": "sqlite", "sqlite": {"path": str(tmp_path / "shared.db")}},
        "logging": {"format": "json", "level": "info"},
        "leadership": {"lease_ttl": "1500ms", "cluster_secret": CLUSTER_SECRET},
        "git": {
            "repositories": [
                {
                    "name": "team",
                    "url": str(repo.bare),
                    "path": "definitions",
                    "poll_interval": "0s",
                    "webhook_secret": WEBHOOK_SECRET,
                }
            ]
        },
    }
    config.update(sections)
    return config


@pytest.fixture
async def redis_pair(
    tmp_path: Path, repo: ServedRepo, redis_config: RedisConfig
) -> AsyncIterator[tuple[Client, Client, AppState, AppState]]:
    """Two replicas over one SQLite file and one Redis; the first leads."""
    config = cluster_config(tmp_path, repo, cache=redis_section(redis_config))
    first = create_app(make_settings(tmp_path / "first", **config))
    second = create_app(make_settings(tmp_path / "second", **config))
    async with AsyncTestClient(app=first) as leader, AsyncTestClient(app=second) as follower:
        await eventually(lambda: _ready(leader))
        yield leader, follower, state_of(first), state_of(second)


async def test_a_webhook_at_a_follower_reaches_the_leader_through_redis(
    redis_pair: tuple[Client, Client, AppState, AppState], repo: ServedRepo
) -> None:
    leader, follower, leader_state, follower_state = redis_pair
    assert isinstance(leader_state.sync, ClusterSync)
    assert leader_state.sync.leading
    assert isinstance(follower_state.sync, ClusterSync)
    assert not follower_state.sync.leading
    assert (await follower.get("/api/v1/resources/team-cache/1.0.0")).status_code == 200

    write_definition(repo, "team-cache", "1.1.0")
    sha = repo.publish("a minor version")
    body, headers = github_push(sha)
    answer = await follower.post("/api/v1/webhooks/github/team", content=body, headers=headers)
    assert answer.status_code == 202
    assert answer.json()["delivery"] == "delivery-7"

    await eventually(lambda: _has(follower, "/api/v1/resources/team-cache/1.1.0"))
    assert (await leader.get("/api/v1/resources/team-cache/1.1.0")).status_code == 200
    status = (await follower.get("/api/v1/status")).json()["components"]
    assert status["leader"]["forwarded"] == {"redis": 1, "http": 0, "failed": 0}
    assert status["leader"]["me"] is False
    assert status["leader"]["holder"] == leader_state.components["leader"]["replica"]
    assert status["redis"]["received"] >= 1, "the leader's events came to the follower through the stream"

    synced = await eventually(lambda: _last_commit(follower, sha))
    assert synced["name"] == "team"
    forged_body, forged = github_push(sha)
    forged["X-Hub-Signature-256"] = sign_payload("not-the-secret-0123456789", forged_body)
    refused = await follower.post("/api/v1/webhooks/github/team", content=forged_body, headers=forged)
    assert refused.status_code == 401
    manual = await follower.post("/api/v1/sync/team")
    assert manual.status_code == 202
    missing = await follower.post("/api/v1/sync/nowhere")
    assert missing.status_code == 404


async def _has(client: Client, path: str) -> bool:
    return (await client.get(path)).status_code == 200


async def _last_commit(client: Client, sha: str) -> dict[str, Any] | None:
    (status,) = (await client.get("/api/v1/sync")).json()["repositories"]
    return status if status["last_commit"] == sha else None


async def test_without_redis_a_follower_forwards_webhooks_over_http(tmp_path: Path, repo: ServedRepo) -> None:
    config = cluster_config(tmp_path, repo)
    with run_server(config, workdir=tmp_path / "leader") as server:
        server.wait_ready()
        follower_app = create_app(make_settings(tmp_path / "follower", **config))
        async with AsyncTestClient(app=follower_app) as follower:
            leader = state_of(follower_app).components["leader"]
            assert leader["me"] is False
            assert leader["url"] == server.url
            write_definition(repo, "team-cache", "1.2.0")
            body, headers = github_push(repo.publish("another minor version"))
            answer = await follower.post("/api/v1/webhooks/github/team", content=body, headers=headers)
            assert answer.status_code == 202
            await eventually(lambda: _has(follower, "/api/v1/resources/team-cache/1.2.0"))
            assert leader["forwarded"] == {"redis": 0, "http": 1, "failed": 0}
        async with server.async_client() as client:
            assert (await client.get("/api/v1/resources/team-cache/1.2.0")).status_code == 200
        assert 'reason": "webhook via' in server.logs()
