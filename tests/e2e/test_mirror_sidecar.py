"""The sidecar (``nestor-catalog serve --upstream URL``) as real processes beside a real central
server: the same answers, read-only, the same SSE ids (fail-over), an upstream killed in the
middle of a stream with publishes while it is down, the reset path, and a restart from the
snapshot while the upstream is away."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from nestor_catalog_client import CatalogClient, ReconnectPolicy
from nestor_catalog_core import Event, StreamReset
from tests.client.helpers import API_SOURCE, definition_yaml, new_catalog
from tests.support.server import ServerHandle, run_server

pytestmark = pytest.mark.e2e

WAIT = 30.0
FAST = ReconnectPolicy(initial_delay=0.05, max_delay=0.5)


@dataclass
class Pair:
    upstream: ServerHandle
    sidecar: ServerHandle
    database: Path

    def central(self) -> CatalogClient:
        return CatalogClient(self.upstream.url)

    def local(self) -> CatalogClient:
        return CatalogClient(self.sidecar.url)

    def upstream_status(self) -> dict[str, Any]:
        with self.local() as client:
            status: dict[str, Any] = client.status()["upstream"]
            return status

    def wait_converged(self, revision: int) -> dict[str, Any]:
        def caught_up() -> dict[str, Any] | None:
            status = self.upstream_status()
            return status if status["revision"] >= revision and status["connected"] else None

        return eventually(caught_up)


def eventually(probe: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + WAIT
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT}s: {probe}")
        time.sleep(0.02)


def upstream_config(folder: Path) -> dict[str, Any]:
    return {
        "storage": {"type": "sqlite", "sqlite": {"path": str(folder / "catalog.db")}},
        "sse": {"heartbeat_interval": "1s", "retry": "100ms"},
        "logging": {"level": "warning"},
        "service": {"data_dir": str(folder / "data")},
    }


def sidecar_config(folder: Path) -> dict[str, Any]:
    return {
        "sse": {"heartbeat_interval": "1s", "retry": "100ms"},
        "logging": {"level": "info"},
        "service": {"data_dir": str(folder / "data")},
    }


def seed(client: CatalogClient) -> None:
    for version, optional in (("1.0.0", ()), ("1.1.0", ("extra_0",)), ("1.2.0", ("extra_0", "extra_1"))):
        client.publish(definition_yaml("aws-rds-mysql", version, optional=optional))
    client.publish(definition_yaml("gcp-cloudsql-postgres", provider="gcp"))
    client.publish(definition_yaml("aws-s3-bucket", category="storage"))
    client.deprecate("aws-rds-mysql", "1.0.0", "use 1.2", replacement="aws-rds-mysql@^1.2", sunset="2031-01-01")


@contextmanager
def sidecar_of(upstream: ServerHandle, folder: Path) -> Iterator[ServerHandle]:
    with run_server(sidecar_config(folder), workdir=folder, args=["--upstream", upstream.url]) as sidecar:
        sidecar.wait_ready(WAIT)
        yield sidecar


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    up_dir, side_dir = tmp_path / "upstream", tmp_path / "sidecar"
    with run_server(upstream_config(up_dir), workdir=up_dir) as upstream:
        with CatalogClient(upstream.url) as client:
            seed(client)
        with sidecar_of(upstream, side_dir) as sidecar:
            yield Pair(upstream, sidecar, up_dir / "catalog.db")


async def publish_into(database: Path, *names: str, trim_to: int | None = None) -> int:
    """Publish straight into the upstream's SQLite file (while its server is down), optionally
    trimming its event log; returns the new head."""
    catalog = await new_catalog(f"sqlite:///{database}")
    try:
        for name in names:
            await catalog.publish_bytes(definition_yaml(name).encode(), source=API_SOURCE)
        if trim_to is not None:
            await catalog.store.trim_events(keep_last=trim_to)
        return catalog.revision
    finally:
        await catalog.close()


def get(server: ServerHandle, path: str, **kwargs: Any) -> httpx.Response:
    with server.client() as http:
        return http.get(path, **kwargs)


def link_target(response: httpx.Response) -> tuple[str, list[tuple[str, str]], str] | None:
    """The ``Link`` header with its query parameters in a canonical order."""
    link = response.headers.get("link")
    if link is None:
        return None
    target, _, rel = link.partition(";")
    url = httpx.URL(target.strip("<> "))
    return url.path, sorted(url.params.multi_items()), rel.strip()


READS = (
    "/api/v1/resources",
    "/api/v1/resources?provider=aws&limit=1",
    "/api/v1/resources?category=database&facets=true",
    "/api/v1/resources/aws-rds-mysql",
    "/api/v1/resources/aws-rds-mysql/latest",
    "/api/v1/resources/aws-rds-mysql/1.0.0",
    "/api/v1/resources/aws-rds-mysql?constraint=~1.1",
    "/api/v1/resources/aws-rds-mysql/versions",
    "/api/v1/resources/aws-rds-mysql/1.1.0/schema",
    "/api/v1/search?q=mysql",
    "/api/v1/search?q=database&provider=aws",
    "/api/v1/facets?provider=aws",
    "/api/v1/resources/no-such-thing",
    "/api/v1/resources/aws-rds-mysql?constraint=^7",
)


def assert_same_answers(pair: Pair) -> None:
    """Every read answers the same: byte-equal bodies, or the same error code."""
    for path in READS:
        central, local = get(pair.upstream, path), get(pair.sidecar, path)
        assert local.status_code == central.status_code, path
        if central.status_code == 200:
            assert local.content == central.content, path
        else:
            assert local.json()["error"]["code"] == central.json()["error"]["code"], path


def test_the_sidecar_answers_like_the_central_server(pair: Pair) -> None:
    assert_same_answers(pair)
    for path in READS:
        central, local = get(pair.upstream, path), get(pair.sidecar, path)
        for header in ("etag", "cache-control", "deprecation", "sunset", "x-resource-version"):
            assert local.headers.get(header) == central.headers.get(header), (path, header)
        assert link_target(local) == link_target(central), path
    status = pair.upstream_status()
    assert status["url"] == pair.upstream.url
    assert (status["connected"], status["lag_events"], status["lag_seconds"]) == (True, 0, 0.0)
    with pair.local() as client:
        assert client.status()["read_only"] is True
        assert client.ready()["checks"]["upstream"]["ok"] is True


def test_writes_to_the_sidecar_answer_405(pair: Pair) -> None:
    with pair.sidecar.client() as http:
        attempts = [
            http.post("/api/v1/resources", content=definition_yaml("x-y"), headers={"Content-Type": "text/yaml"}),
            http.put("/api/v1/resources/aws-rds-mysql/1.0.0/deprecation", json={"message": "m"}),
            http.delete("/api/v1/resources/aws-rds-mysql/1.0.0/deprecation"),
            http.delete("/api/v1/resources/aws-rds-mysql/1.0.0"),
            http.post("/api/v1/resources/aws-rds-mysql/1.0.0/restore"),
        ]
    for response in attempts:
        assert response.status_code == 405, response.request.url
        error = response.json()["error"]
        assert error["code"] == "READ_ONLY"
        assert error["service"] == "catalog"
        assert error["trace_id"] == response.headers["x-request-id"]
        assert "GET" in response.headers["allow"]
    with pair.local() as client:
        assert [v.version for v in client.versions("aws-rds-mysql")] == ["1.2.0", "1.1.0", "1.0.0"]


def test_clients_fail_over_between_sidecar_and_central_with_the_same_ids(pair: Pair) -> None:
    with pair.local() as local, pair.central() as central:
        with local.subscribe(since=0, heartbeat_timeout=WAIT) as from_sidecar:
            sidecar_items = [next(from_sidecar) for _ in range(3)]
        with central.subscribe(since=0, heartbeat_timeout=WAIT) as from_central:
            central_items = [next(from_central) for _ in range(3)]
        assert [(i.sequence, i.type, i.name) for i in sidecar_items if isinstance(i, Event)] == [
            (i.sequence, i.type, i.name) for i in central_items if isinstance(i, Event)
        ]
        last = sidecar_items[-1].sequence
        with central.subscribe(since=last, heartbeat_timeout=WAIT) as resumed:
            assert next(resumed).sequence == last + 1


class Reader(threading.Thread):
    """Reads from the sidecar all the time, recording every status code."""

    def __init__(self, server: ServerHandle) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.codes: list[int] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with self.server.client(timeout=5.0) as http:
            while not self.stop.is_set():
                self.codes.append(http.get("/api/v1/resources/aws-rds-mysql").status_code)
                self.codes.append(http.get("/ready").status_code)
                time.sleep(0.01)


def test_an_upstream_killed_mid_stream_is_caught_up_with_no_missed_event(pair: Pair) -> None:
    reader = Reader(pair.sidecar)
    reader.start()
    with pair.local() as local, pair.central() as central:
        start = central.status()["revision"]
        events = local.subscribe(since=start, heartbeat_timeout=WAIT, reconnect=FAST)
        central.publish(definition_yaml("before-the-crash"))
        received: list[Event | StreamReset] = [next(events)]
        pair.upstream.kill()
        eventually(lambda: not pair.upstream_status()["connected"])
        head = asyncio.run(publish_into(pair.database, *(f"while-down-{i}" for i in range(5))))
        assert local.get_resource("aws-rds-mysql").version == "1.2.0"
        outage = pair.upstream_status()
        assert outage["last_error"]
        assert outage["lag_seconds"] > 0
        pair.upstream.start()
        central.publish(definition_yaml("after-the-restart"))
        pair.wait_converged(head + 1)
        while len(received) < head + 1 - start:
            received.append(next(events))
        events.close()
    reader.stop.set()
    reader.join(WAIT)
    assert [item.sequence for item in received] == list(range(start + 1, head + 2))
    assert [item.name for item in received if isinstance(item, Event)] == [
        "before-the-crash",
        *(f"while-down-{i}" for i in range(5)),
        "after-the-restart",
    ]
    assert reader.codes
    assert set(reader.codes) == {200}
    assert_same_answers(pair)
    assert pair.upstream_status()["full_syncs"] == 1


def test_the_reset_path_relists_and_resets_sidecar_subscribers(pair: Pair) -> None:
    with pair.local() as local:
        old_position = local.status()["revision"]
    pair.sidecar.stop()
    pair.upstream.kill()
    head = asyncio.run(publish_into(pair.database, "missed-a", "missed-b", "missed-c", trim_to=1))
    pair.upstream.start()
    pair.sidecar.start()
    status = pair.wait_converged(head)
    assert status["full_syncs"] == 1  # this process started from the snapshot, then had to re-list
    assert "older than the upstream's retention; listing everything again" in pair.sidecar.logs()
    assert_same_answers(pair)
    with pair.local() as local, local.subscribe(since=old_position, heartbeat_timeout=WAIT) as events:
        reset = next(events)
    assert isinstance(reset, StreamReset)
    assert reset.sequence == head


def test_a_restarted_sidecar_serves_its_snapshot_while_the_upstream_is_away(pair: Pair) -> None:
    expected = {path: get(pair.upstream, path).content for path in READS if get(pair.upstream, path).is_success}
    pair.upstream.kill()
    pair.sidecar.restart()
    pair.sidecar.wait_ready(WAIT)
    for path, content in expected.items():
        assert get(pair.sidecar, path).content == content, path
    status = pair.upstream_status()
    assert status["ready"] is True
    assert status["connected"] is False
    assert status["persisted_revision"] == status["revision"]
    pair.upstream.start()
    with pair.central() as central:
        central.publish(definition_yaml("after-both-restarts"))
        head = central.status()["revision"]
    pair.wait_converged(head)
    assert get(pair.sidecar, "/api/v1/resources/after-both-restarts").status_code == 200


@pytest.mark.parametrize("url", ["ftp://catalog:21", "catalog:8080", "http://"])
def test_a_bad_upstream_url_is_a_configuration_error(url: str, tmp_path: Path) -> None:
    import subprocess

    from tests.support.server import server_command

    result = subprocess.run(
        [*server_command(), "serve", "--upstream", url, "--port", "0"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=WAIT,
        check=False,
    )
    assert result.returncode == 2
    assert "--upstream" in result.stderr
    assert "http:// or https://" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_sidecar_of_an_authenticated_upstream_presents_its_token(tmp_path: Path) -> None:
    import jwt

    secret = "k" * 40
    auth = {"enabled": True, "hs256_secret": secret, "algorithms": ["HS256"]}
    now = int(time.time())

    def token(groups: list[str]) -> str:
        return jwt.encode({"sub": "sidecar", "groups": groups, "iat": now, "exp": now + 3600}, secret, "HS256")

    up_dir = tmp_path / "upstream"
    with run_server({**upstream_config(up_dir), "auth": auth}, workdir=up_dir) as upstream:
        with CatalogClient(upstream.url, token=token(["platform-team"])) as writer:
            writer.publish(definition_yaml("guarded-thing"))
        good, bad = tmp_path / "good", tmp_path / "bad"
        good_config = sidecar_config(good)
        good_config["service"]["upstream_token"] = token(["readers"])
        with run_server(good_config, workdir=good, args=["--upstream", upstream.url]) as sidecar:
            sidecar.wait_ready(WAIT)
            assert get(sidecar, "/api/v1/resources/guarded-thing").status_code == 200
        with run_server(sidecar_config(bad), workdir=bad, args=["--upstream", upstream.url]) as anonymous:
            with CatalogClient(anonymous.url) as client:
                status = eventually(lambda: client.status()["upstream"]["last_error"] and client.status()["upstream"])
            assert "UNAUTHORIZED" in status["last_error"]
            assert status["ready"] is False
            assert get(anonymous, "/ready").status_code == 503
