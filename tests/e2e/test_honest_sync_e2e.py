"""Honest under faults, against real processes: the server (``nestor-catalog serve``), repositories
served by ``git daemon``, DynamoDB on ``moto_server``.

- a server SIGKILLed in the middle of its first sync, restarted on the same data directory:
  it reclaims its own sync lease at once (a ``lease_ttl`` longer than the test's deadline proves
  it did not wait it out), and ``/ready`` answers 503, saying what it waits for, until the
  catalog holds every version: never 200 over a partial catalog;
- a force-push of an unrelated history holding one broken file is held by the withdraw guard:
  nothing withdrawn, ``state: held`` with the numbers, a ``sync.held`` event, until
  ``POST /api/v1/sync/{repo}`` confirms it;
- DynamoDB frozen (``SIGSTOP`` on moto_server) while a webhook asks for a sync: the sync shows
  as failed with its reason, stage and time in ``/api/v1/sync/{repo}``, in the metrics, and as a
  ``sync.failed`` event once storage is back, and the pushed commit then syncs;
- a git repository's ``path`` is shown by ``/api/v1/status`` and ``/api/v1/sync/{repo}``;
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
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


def eventually(check: Callable[[], bool], *, deadline: float = 60.0, what: str = "the condition") -> None:
    give_up = time.monotonic() + deadline
    while not check():
        assert time.monotonic() < give_up, f"{what} never held"
        time.sleep(0.05)


def write(repo: ServedRepo, folder: str, name: str, version: str = "1.0.0") -> None:
    repo.work.write(f"{folder}/{name}-{version}.json", json.dumps(definition(name, version), indent=2))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ServedRepo, str]]:
    repo = ServedRepo.create(tmp_path / "served", tmp_path / "work", "platform.git")
    with git_daemon(tmp_path / "served") as base_url:
        yield repo, repo.url(base_url)


def git_settings(url: str, **repository: Any) -> dict[str, Any]:
    return {
        "storage": {"type": "sqlite"},
        "logging": {"format": "json", "level": "info"},
        "git": {
            "repositories": [{"name": "platform", "url": url, "poll_interval": "0s", **repository}],
            "backoff": {"initial": "200ms", "max": "1s"},
        },
    }


def sync_status(client: httpx.Client, name: str = "platform") -> dict[str, Any]:
    response = client.get(f"/api/v1/sync/{name}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_status_shows_the_configured_path(served: tuple[ServedRepo, str], tmp_path: Path) -> None:
    repo, url = served
    write(repo, "resources", "platform-queue")
    repo.publish("first")
    with run_server(git_settings(url, path="resources/"), workdir=tmp_path / "server") as server:
        server.wait_ready()
        with server.client() as client:
            assert sync_status(client)["path"] == "resources"
            (listed,) = client.get("/api/v1/status").json()["repositories"]
            assert listed["path"] == "resources"
            assert listed["url"] == url
            assert client.get("/api/v1/resources/platform-queue/1.0.0").status_code == 200


def test_a_restart_after_sigkill_is_ready_only_with_the_whole_catalog(
    served: tuple[ServedRepo, str], tmp_path: Path
) -> None:
    repo, url = served
    total = 2000
    for index in range(total):
        write(repo, "resources", f"bulk-queue-{index:04d}")
    repo.publish("a large repository")
    config = git_settings(url, path="resources")
    config["leadership"] = {"lease_ttl": "300s"}
    with run_server(config, workdir=tmp_path / "server") as server:
        with server.client() as client:
            eventually(lambda: 0 < versions(client) < total, deadline=120, what="a first sync in flight")
            partial = client.get("/ready")
        assert partial.status_code == 503, "a first sync in flight is not ready"
        server.kill()

        server.start()
        with server.client() as client:
            waits: list[str] = []
            while True:
                ready = client.get("/ready")
                count = versions(client)
                if ready.status_code == 200:
                    break
                sync = ready.json()["error"]["details"]["sync"]
                waits.extend(sync["waiting_for"])
                assert count < total or sync["repositories"]["platform"]["state"] == "syncing"
                time.sleep(0.05)
            assert versions(client) == total, "ready means the whole catalog"
            leader = client.get("/api/v1/status").json()["components"]["leader"]
            assert leader["me"] is True, "the lease was reclaimed, not waited out (lease_ttl 300s)"
        assert any("first sync of platform" in wait for wait in waits), waits
        server.wait_for_log(lambda record: "reclaimed the git-sync lease" in str(record.get("message")))


def versions(client: httpx.Client) -> int:
    count: int = client.get("/api/v1/status").json()["counts"]["versions"]
    return count


def sync_events(client: httpx.Client, kind: str, *, count: int = 1) -> list[dict[str, Any]]:
    """The first ``count`` events of type ``kind`` on the SSE stream, replayed from the start."""
    found: list[dict[str, Any]] = []
    params = {"since": "0", "filter": f"event:{kind}"}
    with client.stream("GET", "/api/v1/events", params=params, timeout=30.0) as stream:
        event = None
        for line in stream.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == kind:
                found.append(json.loads(line.removeprefix("data: ")))
                if len(found) >= count:
                    return found
    return found


def resource_count(client: httpx.Client) -> int:
    count: int = client.get("/api/v1/status").json()["counts"]["resources"]
    return count


def test_an_orphan_force_push_is_held_until_confirmed(served: tuple[ServedRepo, str], tmp_path: Path) -> None:
    repo, url = served
    for index in range(20):
        write(repo, "resources", f"team-queue-{index:02d}")
    first = repo.publish("twenty resources")
    config = git_settings(url, path="resources", webhook_secret=SECRET)
    with run_server(config, workdir=tmp_path / "server") as server, server.client() as client:
        server.wait_ready()
        assert resource_count(client) == 20
        refused = client.post("/api/v1/sync/platform", json={"confirm_withdrawals": True})
        assert refused.status_code == 409, "nothing is held: nothing to confirm"
        assert refused.json()["error"]["code"] == "CONFLICT"
        wrong = client.post("/api/v1/sync/platform", json={"confirm_withdrawals": "yes", "force": 1})
        assert wrong.status_code == 400
        assert "force" in wrong.json()["error"]["message"]

        repo.work.run("checkout", "-q", "--orphan", "unrelated")
        repo.work.run("rm", "-q", "-r", "--cached", ".")
        for path in (repo.work.path / "resources").iterdir():
            path.unlink()
        repo.work.write("resources/broken.yaml", "metadata: [unclosed\n")
        orphan = repo.work.commit("an unrelated history")
        repo.work.push(repo.bare, force=True, branch="main")
        push(client, orphan)

        eventually(lambda: sync_status(client)["state"] == "held", what="the sync being held")
        status = sync_status(client)
        held = status["held"]
        assert (held["withdrawals"], held["live"], held["share"], held["reason"]) == (20, 20, 1.0, "share")
        assert held["commit"] == orphan
        assert status["last_commit"] == first, "the catalog stays at the last good commit"
        assert status["ready"] is True, "a held source serves its last good sync"
        assert resource_count(client) == 20, "nothing was withdrawn"
        [event] = sync_events(client, "sync.held")
        assert (event["repository"], event["commit"], event["withdrawals"], event["live"]) == (
            "platform", orphan, 20, 20
        )  # fmt: skip
        metrics = client.get("/metrics").text
        assert 'catalog_git_sync_held{repository="platform"} 1.0' in metrics
        assert client.get("/ready").status_code == 200

        push(client, orphan)  # a second look at the same commit holds it again, without a second event
        eventually(
            lambda: (
                (again := sync_status(client))["last_attempt"] != status["last_attempt"] and again["state"] == "held"
            ),
            what="another attempt, held again",
        )

        confirmed = client.post("/api/v1/sync/platform", json={"confirm_withdrawals": True})
        assert confirmed.status_code == 202, confirmed.text
        assert confirmed.json()["confirmed"]["commit"] == orphan
        eventually(lambda: resource_count(client) == 0, what="the confirmed withdrawals")
        eventually(lambda: sync_status(client)["last_commit"] == orphan, what="the confirmed sync")
        after = sync_status(client)
        assert (after["state"], after["held"]) == ("idle", None)
        assert after["findings"]["resources/broken.yaml"][0]["rule"] == "YAML_SYNTAX"
        assert 'catalog_git_sync_held{repository="platform"} 0.0' in client.get("/metrics").text
        assert len(sync_events(client, "sync.held", count=1)) == 1


def push(client: httpx.Client, sha: str) -> None:
    body = json.dumps({"ref": "refs/heads/main", "after": sha}).encode()
    headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": sign_payload(SECRET, body)}
    answer = client.post("/api/v1/webhooks/github/platform", content=body, headers=headers)
    assert answer.status_code == 202, answer.text


async def _create_table(endpoint: str, table: str) -> None:
    store = open_store(f"dynamodb://{table}?region={REGION}&endpoint={endpoint}&create_table=true")
    await store.open()
    await store.close()


def test_a_sync_during_a_storage_freeze_is_reported_failed(served: tuple[ServedRepo, str], tmp_path: Path) -> None:
    repo, url = served
    write(repo, "resources", "frozen-queue")
    repo.publish("first")
    with moto_or_skip() as moto:
        table = unique_table_name()
        asyncio.run(_create_table(moto.endpoint, table))
        config = git_settings(url, path="resources", webhook_secret=SECRET)
        config["storage"] = {
            "type": "dynamodb",
            "dynamodb": {"table_name": table, "region": REGION, "endpoint": moto.endpoint},
        }
        config["leadership"] = {"lease_ttl": "3s"}
        with run_server(config, env=AWS_ENV, workdir=tmp_path / "server") as server:
            server.wait_ready()
            with server.client(timeout=30.0) as client:
                write(repo, "resources", "frozen-queue", "1.1.0")
                pushed = repo.publish("during the freeze")
                os.killpg(moto.process.pid, signal.SIGSTOP)
                try:
                    push(client, pushed)
                    eventually(lambda: sync_status(client)["state"] == "failed", what="the sync reported failed")
                    status = sync_status(client)
                    error = status["last_error"]
                    assert error["reason"] in {"interrupted", "no_leader", "unavailable", "failed"}, error
                    assert error["stage"] in {"interrupted", "lease", "storage"}, error
                    assert error["at"].endswith("Z")
                    assert error["message"]
                    assert status["consecutive_failures"] >= 1
                    assert client.get("/ready").status_code == 503, "storage is down"
                    metrics = client.get("/metrics").text
                    assert 'catalog_git_sync_stage_failures_total{reason="' in metrics
                finally:
                    os.killpg(moto.process.pid, signal.SIGCONT)
                eventually(
                    lambda: client.get("/api/v1/resources/frozen-queue/1.1.0").status_code == 200,
                    deadline=120,
                    what="the pushed commit synced once storage is back",
                )
                [failed] = sync_events(client, "sync.failed")
                assert failed["repository"] == "platform"
                assert (failed["reason"], failed["stage"]) == (error["reason"], error["stage"])
                assert failed["at"] == error["at"]
                eventually(lambda: sync_status(client)["state"] == "idle", what="the source settling")
                assert sync_status(client)["last_error"] is None
