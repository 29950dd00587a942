"""Operations against real processes: a repository served by ``git daemon`` reaching the catalog
through a signed webhook and through polling, DynamoDB (moto_server) going down while reads go
on, and the per-client rate limit."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from nestor_catalog_core import open_store
from nestor_catalog_server.sync import sign_payload
from tests.server.api.builders import definition
from tests.support.git import ServedRepo, git_daemon
from tests.support.moto import AWS_ENV, REGION, moto_or_skip, unique_table_name
from tests.support.server import run_server

pytestmark = pytest.mark.e2e

SECRET = "e2e-webhook-secret-0123456789"


def eventually(check: Callable[[], bool], *, deadline: float = 30.0) -> None:
    give_up = time.monotonic() + deadline
    while not check():
        assert time.monotonic() < give_up, "the condition never held"
        time.sleep(0.05)


def write(repo: ServedRepo, name: str, version: str) -> None:
    repo.work.write(f"catalog/{name}-{version}.json", json.dumps(definition(name, version), indent=2))


@pytest.fixture
def daemon_repo(tmp_path: Path) -> Iterator[tuple[ServedRepo, str]]:
    repo = ServedRepo.create(tmp_path / "served", tmp_path / "work", "platform.git")
    write(repo, "platform-queue", "1.0.0")
    repo.publish("first")
    with git_daemon(tmp_path / "served") as base_url:
        yield repo, repo.url(base_url)


def test_webhook_and_polling_bring_commits_in(daemon_repo: tuple[ServedRepo, str], tmp_path: Path) -> None:
    repo, url = daemon_repo
    config = {
        "storage": {"type": "sqlite"},
        "git": {
            "repositories": [
                {"name": "platform", "url": url, "path": "catalog", "poll_interval": "0s", "webhook_secret": SECRET},
                {"name": "polled", "url": url, "path": "polled", "poll_interval": "300ms"},
            ]
        },
    }
    with run_server(config, workdir=tmp_path / "server") as server, server.client() as client:
        server.wait_ready()
        assert client.get("/api/v1/resources/platform-queue/1.0.0").status_code == 200

        write(repo, "platform-queue", "1.1.0")
        sha = repo.publish("minor")
        body = json.dumps({"ref": "refs/heads/main", "after": sha}).encode()
        headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": sign_payload(SECRET, body)}
        answer = client.post("/api/v1/webhooks/github/platform", content=body, headers=headers)
        assert answer.status_code == 202
        eventually(lambda: client.get("/api/v1/resources/platform-queue/1.1.0").status_code == 200)
        source = client.get("/api/v1/resources/platform-queue/1.1.0").json()["status"]["source"]
        assert source["kind"] == "git"
        assert source["repository"] == "platform"
        assert source["commit"] == sha

        repo.work.write("polled/polled-queue.json", json.dumps(definition("polled-queue", "1.0.0")))
        repo.publish("no webhook for this one")
        eventually(lambda: client.get("/api/v1/resources/polled-queue").status_code == 200)

        def statuses() -> dict[str, Any]:
            return {s["name"]: s for s in client.get("/api/v1/sync").json()["repositories"]}

        # The version is served before the sync that brought it records its commit.
        eventually(lambda: statuses()["polled"]["last_commit"] == repo.work.head())
        statuses_now = statuses()
        assert statuses_now["platform"]["last_commit"] == sha, "webhook-only: no poll moved it"


async def _create_table(endpoint: str, table: str) -> None:
    store = open_store(f"dynamodb://{table}?region={REGION}&endpoint={endpoint}&create_table=true")
    await store.open()
    await store.close()


def test_storage_down_answers_503_while_reads_go_on(tmp_path: Path) -> None:
    with moto_or_skip() as moto:
        table = unique_table_name()
        asyncio.run(_create_table(moto.endpoint, table))
        config = {
            "storage": {
                "type": "dynamodb",
                "dynamodb": {"table_name": table, "region": REGION, "endpoint": moto.endpoint},
            }
        }
        with run_server(config, env=AWS_ENV, workdir=tmp_path) as server, server.client(timeout=30.0) as client:
            created = client.post("/api/v1/resources", json=definition("dynamo-queue"))
            assert created.status_code == 201
            assert client.get("/ready").json()["checks"]["storage"] == {"ok": True, "type": "dynamodb"}
            moto.stop()
            down = client.get("/ready")
            assert down.status_code == 503
            assert down.headers["retry-after"]
            error = down.json()["error"]
            assert error["code"] == "SERVICE_UNAVAILABLE"
            assert error["details"]["storage"]["ok"] is False
            assert client.get("/api/v1/resources/dynamo-queue/1.0.0").status_code == 200
            assert client.get("/api/v1/status").json()["storage"]["ok"] is False
            refused = client.post("/api/v1/resources", json=definition("dynamo-queue", "1.1.0", description="new"))
            assert refused.status_code == 503
            assert refused.json()["error"]["code"] == "STORAGE_UNAVAILABLE"


def test_rate_limit_is_per_client_and_answers_429(tmp_path: Path) -> None:
    config = {
        "storage": {"type": "memory"},
        "service": {"rate_limit": {"enabled": True, "requests": 3, "per": "minute"}},
    }
    with run_server(config, workdir=tmp_path) as server, server.client() as client:
        statuses = [client.get("/api/v1/resources").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = client.get("/api/v1/search", params={"q": "x"})
        assert limited.status_code == 429
        assert limited.json()["error"]["code"] == "RATE_LIMITED"
        assert int(limited.headers["retry-after"]) >= 1
        assert client.get("/health").status_code == 200
        with httpx.Client(base_url=server.url.replace("127.0.0.1", "localhost")) as other:
            assert other.get("/health").status_code == 200
