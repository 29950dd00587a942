"""Git sync over HTTP against a real repository (made with the git CLI, fetched by path):
status, manual trigger, and signed webhooks from each kind of delivery."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from nestor_catalog_core import Catalog
from nestor_catalog_server.config import Settings
from nestor_catalog_server.sync import sign_payload
from tests.server.api.builders import definition
from tests.server.api.conftest import Client, make_settings
from tests.support.git import ServedRepo

SECRET = "api-webhook-secret-0123456789"


def write_definition(repo: ServedRepo, name: str, version: str) -> None:
    document = definition(name, version)
    repo.work.write(f"definitions/{name}-{version}.json", json.dumps(document, indent=2))


def github(
    event: str, body: dict[str, object], *, secret: str = SECRET, delivery: str | None = None
) -> tuple[dict[str, str], bytes]:
    raw = json.dumps(body).encode()
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-Hub-Signature-256": sign_payload(secret, raw),
        "Content-Type": "application/json",
    }
    return headers, raw


async def wait_for(client: Client, path: str, *, until: int, deadline: float = 30.0) -> httpx.Response:
    give_up = time.monotonic() + deadline
    while True:
        response = await client.get(path)
        if response.status_code == until or time.monotonic() > give_up:
            return response
        await asyncio.sleep(0.05)


@pytest.fixture
def repo(tmp_path: Path) -> ServedRepo:
    served = ServedRepo.create(tmp_path / "served", tmp_path / "work", "team.git")
    write_definition(served, "team-cache", "1.0.0")
    served.publish("first definition")
    return served


@pytest.fixture
async def synced(
    tmp_path: Path, repo: ServedRepo, app_client: Callable[[Settings], Client], catalog: Catalog
) -> AsyncIterator[Client]:
    settings = make_settings(
        tmp_path,
        git={
            "repositories": [
                {
                    "name": "team",
                    "url": str(repo.bare),
                    "path": "definitions",
                    "poll_interval": "0s",
                    "webhook_secret": SECRET,
                    "webhook_provider": "github",
                },
                {"name": "quiet", "url": str(repo.bare), "path": "none", "poll_interval": "0s"},
            ]
        },
    )
    async with app_client(settings) as client:
        assert (await wait_for(client, "/ready", until=200)).status_code == 200
        yield client


async def test_first_sync_publishes_and_reports(synced: Client, repo: ServedRepo) -> None:
    assert (await synced.get("/api/v1/resources/team-cache/1.0.0")).status_code == 200
    listing = (await synced.get("/api/v1/sync")).json()["repositories"]
    assert [status["name"] for status in listing] == ["team", "quiet"]
    team = (await synced.get("/api/v1/sync/team")).json()
    assert team["state"] == "idle"
    assert team["last_commit"] == repo.work.head()
    assert team["counts"]["published"] == 1


async def test_unknown_repository_is_404(synced: Client) -> None:
    for response in (await synced.get("/api/v1/sync/nope"), await synced.post("/api/v1/sync/nope")):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "SOURCE_NOT_FOUND"


async def test_manual_trigger_syncs_a_new_commit(synced: Client, repo: ServedRepo) -> None:
    write_definition(repo, "team-cache", "1.1.0")
    repo.publish("minor")
    response = await synced.post("/api/v1/sync/team")
    assert response.status_code == 202
    assert response.json() == {"repository": "team", "status": "scheduled"}
    assert (await wait_for(synced, "/api/v1/resources/team-cache/1.1.0", until=200)).status_code == 200


async def test_signed_push_is_accepted_and_synced(synced: Client, repo: ServedRepo) -> None:
    write_definition(repo, "team-db", "1.0.0")
    sha = repo.publish("new resource")
    headers, body = github("push", {"ref": "refs/heads/main", "after": sha, "repository": {"name": "team"}})
    response = await synced.post("/api/v1/webhooks/github/team", content=body, headers=headers)
    assert response.status_code == 202
    assert response.json() == {
        "status": "accepted",
        "repository": "team",
        "event": "push",
        "delivery": headers["X-GitHub-Delivery"],
    }
    assert (await wait_for(synced, "/api/v1/resources/team-db", until=200)).status_code == 200


async def test_ping_and_ignored_deliveries_answer_200(synced: Client) -> None:
    headers, body = github("ping", {"zen": "Keep it simple.", "hook_id": 1})
    ping = await synced.post("/api/v1/webhooks/github/team", content=body, headers=headers)
    assert ping.status_code == 200
    assert ping.json() == {"status": "ok", "event": "ping", "repository": "team"}
    headers, body = github("push", {"ref": "refs/heads/feature", "after": "b" * 40})
    other = await synced.post("/api/v1/webhooks/github/team", content=body, headers=headers)
    assert other.status_code == 200
    answer = other.json()
    assert answer["status"] == "ignored"
    assert answer["reason"]


async def test_webhook_refusals(synced: Client) -> None:
    headers, body = github("push", {"ref": "refs/heads/main", "after": "c" * 40}, secret="not-the-secret")
    forged = await synced.post("/api/v1/webhooks/github/team", content=body, headers=headers)
    assert forged.status_code == 401
    assert forged.json()["error"]["details"]["reason"] == "signature_invalid"
    assert forged.headers["www-authenticate"].startswith("HMAC-SHA256")

    # No secret, no such repository, another provider: all answered exactly as a bad signature,
    # so a caller cannot tell which repositories exist.
    headers, body = github("push", {"ref": "refs/heads/main"}, secret=SECRET)
    for repo in ("quiet", "nope"):
        answer = await synced.post(f"/api/v1/webhooks/github/{repo}", content=body, headers=headers)
        assert answer.status_code == 401
        assert _without_trace(answer.json()) == _without_trace(forged.json())
        assert answer.headers["www-authenticate"] == forged.headers["www-authenticate"]

    wrong_provider = await synced.post(
        "/api/v1/webhooks/gitlab/team", content=body, headers={**headers, "X-Gitlab-Token": SECRET}
    )
    assert wrong_provider.status_code == 401
    assert wrong_provider.json()["error"]["details"]["reason"] == "signature_invalid"

    raw = b"not json"
    malformed = await synced.post(
        "/api/v1/webhooks/github/team",
        content=raw,
        headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": sign_payload(SECRET, raw)},
    )
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "INVALID_REQUEST"


def _without_trace(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "error": {k: v for k, v in body["error"].items() if k != "trace_id"}}


async def test_a_replayed_delivery_is_answered_duplicate_and_syncs_nothing(synced: Client) -> None:
    headers, body = github("push", {"ref": "refs/heads/main", "after": "d" * 40}, delivery="replayed-1")
    first = await synced.post("/api/v1/webhooks/github/team", content=body, headers=headers)
    assert first.status_code == 202
    replay = await synced.post("/api/v1/webhooks/github/team", content=body, headers=headers)
    assert replay.status_code == 200
    assert replay.json()["status"] == "duplicate"
    assert replay.json()["delivery"] == "replayed-1"
    # A forged replay (bad signature) is refused, not answered duplicate.
    forged_headers, _ = github("push", {"ref": "refs/heads/main"}, secret="wrong", delivery="replayed-1")
    forged = await synced.post("/api/v1/webhooks/github/team", content=body, headers=forged_headers)
    assert forged.status_code == 401


async def test_without_sources_sync_lists_nothing(client: Client) -> None:
    assert (await client.get("/api/v1/sync")).json() == {"repositories": []}
    headers, body = github("push", {"ref": "refs/heads/main"})
    assert (await client.post("/api/v1/webhooks/github/team", content=body, headers=headers)).status_code == 401


async def test_webhook_bodies_may_exceed_max_body_size(
    tmp_path: Path, repo: ServedRepo, app_client: Callable[[Settings], Client]
) -> None:
    settings = make_settings(
        tmp_path,
        service={"max_body_size": "1KiB"},
        git={"repositories": [{"name": "team", "url": str(repo.bare), "webhook_secret": SECRET}]},
    )
    async with app_client(settings) as client:
        headers, body = github("push", {"ref": "refs/heads/main", "after": "d" * 40, "commits": ["x" * 4096]})
        response = await client.post("/api/v1/webhooks/github/team", content=body, headers=headers)
        assert response.status_code == 202
        assert (await client.post("/api/v1/validate", content=b"#" * 4096)).status_code == 413
