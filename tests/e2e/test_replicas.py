"""Two replicas, as in production: two real server processes on one DynamoDB table
(moto_server), one Redis (a private redis-server) and a git repository served by ``git daemon``.

One story, in order:

1. a commit pushed to the repository, announced by a webhook sent to the *follower*, is
   forwarded to the leader (through Redis), synced once, and reaches SSE subscribers on both
   replicas, in order;
2. the leader is killed (SIGKILL); another commit is pushed; the other replica takes the sync
   lease over and syncs it;
3. the killed replica comes back as a follower and its subscriber resumes where it stopped;
   Redis is stopped: reads keep working, ``/ready`` says degraded, a webhook at the follower
   reaches the leader over HTTP (signed with the cluster secret) and events arrive by polling;
4. Redis comes back: both replicas stream again, and the next change reaches the follower
   through the stream.

Every subscriber's events are gap-free, in sequence order, and the same on both replicas.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from nestor_catalog_client import CatalogClient, ReconnectPolicy
from nestor_catalog_core import Event, StreamReset, open_store
from nestor_catalog_server.sync import sign_payload
from tests.server.api.builders import as_yaml, definition
from tests.support.git import ServedRepo, git_daemon
from tests.support.moto import AWS_ENV, REGION, moto_or_skip, unique_table_name
from tests.support.redis import RedisServer, redis_or_skip
from tests.support.server import ServerHandle, run_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

WEBHOOK_SECRET = "replicas-webhook-secret-0123456789"
CLUSTER_SECRET = "replicas-cluster-secret-0123456789"
SENTINEL = "zz-sentinel"
NAME = "platform-queue"
#: Seconds to wait for anything: generous, the machine is shared.
WAIT = 60.0

T = TypeVar("T")


def eventually(probe: Callable[[], T | None], *, what: str, deadline: float = WAIT) -> T:
    give_up = time.monotonic() + deadline
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > give_up:
            raise AssertionError(f"{what}: not within {deadline}s (last: {value!r})")
        time.sleep(0.05)


class Collector(threading.Thread):
    """An SSE subscriber on one replica (the project's client, resuming with Last-Event-ID
    across reconnections), until it sees the sentinel resource."""

    def __init__(self, server: ServerHandle, since: int) -> None:
        super().__init__(name=f"sse-{server.port}", daemon=True)
        self.client = CatalogClient(server.url, retries=1)
        self.subscription = self.client.subscribe(
            since=since,
            heartbeat_timeout=5.0,
            reconnect=ReconnectPolicy(initial_delay=0.1, max_delay=0.5, max_attempts=240),
        )
        self.since = since
        self.events: list[Event] = []
        self.resets: list[StreamReset] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for item in self.subscription:
                if isinstance(item, StreamReset):
                    self.resets.append(item)
                    continue
                self.events.append(item)
                if item.name == SENTINEL:
                    return
        except Exception as exc:
            self.error = exc
        finally:
            self.subscription.close()
            self.client.close()

    def has(self, version: str) -> bool:
        return any(event.name == NAME and event.version == version for event in list(self.events))

    def sequences(self) -> list[int]:
        return [event.sequence for event in self.events]


class Cluster:
    """The two replicas, the repository and the Redis they share."""

    def __init__(self, first: ServerHandle, second: ServerHandle, repo: ServedRepo, redis: RedisServer) -> None:
        self.replicas = {"first": first, "second": second}
        self.repo = repo
        self.redis = redis

    def status(self, server: ServerHandle) -> dict[str, Any]:
        with server.client() as client:
            body: dict[str, Any] = client.get("/api/v1/status").json()
            return body

    def leader(self, server: ServerHandle) -> dict[str, Any]:
        leader: dict[str, Any] = self.status(server)["components"]["leader"]
        return leader

    def redis_status(self, server: ServerHandle) -> dict[str, Any]:
        redis: dict[str, Any] = self.status(server)["components"]["redis"]
        return redis

    def push(self, version: str) -> str:
        document = definition(NAME, version, description=f"version {version}")
        self.repo.work.write(f"catalog/{NAME}.json", json.dumps(document, indent=2))
        return self.repo.publish(f"{NAME} {version}")

    def webhook(self, server: ServerHandle, sha: str) -> httpx.Response:
        body = json.dumps({"ref": "refs/heads/main", "after": sha}).encode()
        headers = {
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": uuid.uuid4().hex,
            "X-Hub-Signature-256": sign_payload(WEBHOOK_SECRET, body),
        }
        with server.client() as client:
            return client.post("/api/v1/webhooks/github/platform", content=body, headers=headers)

    def get(self, server: ServerHandle, path: str) -> httpx.Response:
        with server.client() as client:
            return client.get(path)


async def _create_table(endpoint: str, table: str) -> None:
    store = open_store(f"dynamodb://{table}?region={REGION}&endpoint={endpoint}&create_table=true")
    await store.open()
    await store.close()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    repo = ServedRepo.create(tmp_path / "served", tmp_path / "work", "platform.git")
    repo.work.write(f"catalog/{NAME}.json", json.dumps(definition(NAME, "1.0.0"), indent=2))
    repo.publish("first version")
    with moto_or_skip() as moto, redis_or_skip() as redis, git_daemon(tmp_path / "served") as git_url:
        table = unique_table_name("replicas")
        asyncio.run(_create_table(moto.endpoint, table))
        config = {
            "logging": {"format": "json", "level": "info"},
            "storage": {
                "type": "dynamodb",
                "dynamodb": {"table_name": table, "region": REGION, "endpoint": moto.endpoint},
            },
            "cache": {"type": "redis", "redis": {"url": redis.url, "stream": f"replicas:{table}"}},
            "leadership": {"lease_ttl": "2s", "cluster_secret": CLUSTER_SECRET},
            "sse": {"heartbeat_interval": "1s", "retry": "100ms"},
            "git": {
                "repositories": [
                    {
                        "name": "platform",
                        "url": repo.url(git_url),
                        "path": "catalog",
                        "poll_interval": "0s",
                        "webhook_secret": WEBHOOK_SECRET,
                        "webhook_provider": "github",
                    }
                ]
            },
        }
        with run_server(config, env=AWS_ENV, workdir=tmp_path / "first") as first:
            first.wait_ready(WAIT)
            with run_server(config, env=AWS_ENV, workdir=tmp_path / "second") as second:
                second.wait_ready(WAIT)
                yield Cluster(first, second, repo, redis)


def test_two_replicas_share_events_sync_leadership_and_survive_redis_outages(cluster: Cluster) -> None:
    first, second = cluster.replicas["first"], cluster.replicas["second"]
    assert cluster.leader(first)["me"] is True, "the first replica up takes the sync lease"
    follower_view = cluster.leader(second)
    assert follower_view["me"] is False
    assert follower_view["holder"] == cluster.leader(first)["replica"]
    assert follower_view["url"] == first.url
    since = eventually(
        lambda: (r := cluster.status(first)["revision"]) == cluster.status(second)["revision"] and r,
        what="both replicas at the same revision",
    )
    collectors = {"first": Collector(first, since), "second": Collector(second, since)}
    for collector in collectors.values():
        collector.start()

    # 1. a webhook at the follower is forwarded through Redis; both replicas' subscribers see it.
    assert cluster.webhook(second, cluster.push("1.1.0")).status_code == 202
    for collector in collectors.values():
        eventually(lambda c=collector: c.has("1.1.0"), what=f"1.1.0 on {collector.name}")
    assert cluster.leader(second)["forwarded"]["redis"] == 1
    assert cluster.get(second, f"/api/v1/resources/{NAME}").json()["metadata"]["version"] == "1.1.0"

    # 2. the leader dies; the other replica takes the lease over and syncs the next commit.
    first.kill()
    sha = cluster.push("1.2.0")
    eventually(lambda: cluster.leader(second)["me"], what="the takeover by the second replica")
    cluster.webhook(second, sha)
    eventually(lambda: collectors["second"].has("1.2.0"), what="1.2.0 synced by the new leader")
    assert cluster.leader(second)["token"] > follower_view["token"]

    # 3. the first replica returns as a follower; Redis goes away.
    first.start()
    first.wait_ready(WAIT)
    assert cluster.leader(first)["me"] is False
    eventually(lambda: collectors["first"].has("1.2.0"), what="the first replica's subscriber resumed")
    cluster.redis.stop()
    for server in (first, second):
        eventually(lambda s=server: cluster.redis_status(s)["mode"] == "polling", what="polling after Redis stopped")
        ready = cluster.get(server, "/ready")
        assert ready.status_code == 200
        assert ready.json()["status"] == "degraded"
        assert cluster.get(server, f"/api/v1/resources/{NAME}/1.2.0").status_code == 200
        assert cluster.get(server, "/api/v1/search?q=queue").status_code == 200
    assert cluster.webhook(first, cluster.push("1.3.0")).status_code == 202
    for collector in collectors.values():
        eventually(lambda c=collector: c.has("1.3.0"), what=f"1.3.0 by polling on {collector.name}")
    assert cluster.leader(first)["forwarded"]["http"] == 1

    # 4. Redis returns; fan-out resumes.
    cluster.redis.start_again()
    for server in (first, second):
        eventually(lambda s=server: cluster.redis_status(s)["mode"] == "streaming", what="streaming again")
    received = cluster.redis_status(first)["received"]
    assert cluster.webhook(first, cluster.push("1.4.0")).status_code == 202
    for collector in collectors.values():
        eventually(lambda c=collector: c.has("1.4.0"), what=f"1.4.0 on {collector.name}")
    eventually(lambda: cluster.redis_status(first)["received"] > received, what="1.4.0 through the stream")

    with CatalogClient(second.url) as client:
        client.publish(as_yaml(definition(SENTINEL)))
    for collector in collectors.values():
        collector.join(WAIT)
        assert not collector.is_alive(), f"{collector.name} never saw the sentinel"
        assert collector.error is None
        assert not collector.resets
        assert collector.sequences() == list(range(since + 1, since + 1 + len(collector.events))), "gap-free"
    first_seen, second_seen = (collectors[name].events for name in ("first", "second"))
    assert [(e.sequence, e.type, e.name, e.version) for e in first_seen] == [
        (e.sequence, e.type, e.name, e.version) for e in second_seen
    ]
    versions = [e.version for e in first_seen if e.name == NAME and e.type.value.startswith("resource.")]
    assert versions == ["1.1.0", "1.2.0", "1.3.0", "1.4.0"]
