"""Honest under faults, against real processes: the server (``nestor-catalog serve``), repositories
served by ``git daemon``, DynamoDB on ``moto_server``.

- a server SIGKILLed in the middle of its first sync, restarted on the same data directory:
  it reclaims its own sync lease at once (a ``lease_ttl`` longer than the test's deadline proves
  it did not wait it out), and ``/ready`` answers 503, saying what it waits for, until the
  catalog holds every version: never 200 over a partial catalog;
- a git repository's ``path`` is shown by ``/api/v1/status`` and ``/api/v1/sync/{repo}``;
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.server.api.builders import definition
from tests.support.git import ServedRepo, git_daemon
from tests.support.server import run_server

pytestmark = pytest.mark.e2e


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
