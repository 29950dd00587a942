"""``GET /api/v1/events`` end to end: a real server process (granian) on a free port, real sockets.

Clients are httpx + httpx-sse for event flows and raw sockets where the bytes themselves matter
(the retry frame, heartbeats, a client that stops reading). Events are published through the
server's write endpoint, ``POST /api/v1/resources`` with YAML, exactly as a platform team would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse

from nestor_catalog_core.storage import open_store
from tests.support.server import ServerHandle, run_server

pytestmark = pytest.mark.e2e

WAIT = 30.0  # seconds a test waits for what should come at once: a guard, never a measured figure
HEARTBEAT = "300ms"


def definition_yaml(name: str, *, provider: str = "aws", category: str = "database", padding: int = 0) -> bytes:
    description = f"{name} for the SSE end-to-end tests"
    # Padding goes where no limit applies (descriptions stop at validation.limits' 4,096).
    pad = "?pad=" + "x" * padding if padding else ""
    return f"""apiVersion: catalog.nestor.io/v1
kind: ResourceDefinition
metadata:
  name: {name}
  version: "1.0.0"
  provider: {provider}
  category: {category}
  resource_type: mysql
  description: "{description}"
  maintainers:
    - platform-team@company.com
spec:
  supported_engines:
    - terraform
  required_inputs:
    - name: size
      type: string
      description: "Size"
  outputs:
    - name: endpoint
      type: string
      description: "Endpoint"
  engine_configs:
    terraform:
      module_source: "terraform-aws-modules/rds/aws{pad}"
""".encode()


async def publish(client: httpx.AsyncClient, name: str, **kwargs: Any) -> int:
    """Publish one definition through the API; returns the sequence of its event."""
    response = await client.post(
        "/api/v1/resources", content=definition_yaml(name, **kwargs), headers={"Content-Type": "application/yaml"}
    )
    assert response.status_code == 201, response.text
    sequence: int = response.json()["results"][0]["resource"]["status"]["sequence"]
    return sequence


async def head(client: httpx.AsyncClient) -> int:
    revision: int = (await client.get("/api/v1/status")).json()["revision"]
    return revision


@dataclass(frozen=True)
class Received:
    id: int
    event: str
    data: dict[str, Any]

    @property
    def name(self) -> str | None:
        name = self.data.get("metadata", {}).get("name")
        return name if isinstance(name, str) else None


@contextlib.asynccontextmanager
async def subscription(
    client: httpx.AsyncClient, params: Any = None, headers: dict[str, str] | None = None
) -> AsyncIterator[AsyncIterator[Received]]:
    """Events (frames with data) of one SSE connection; closing the block drops the connection."""
    async with aconnect_sse(client, "GET", "/api/v1/events", params=params, headers=dict(headers or {})) as source:
        assert source.response.status_code == 200, await source.response.aread()

        async def events() -> AsyncIterator[Received]:
            async for sse in source.aiter_sse():
                if sse.data:  # the retry hint and heartbeats carry no data
                    yield Received(int(sse.id), sse.event, json.loads(sse.data))

        yield events()


async def take(events: AsyncIterator[Received], until: Callable[[list[Received]], bool]) -> list[Received]:
    received: list[Received] = []
    async with asyncio.timeout(WAIT):
        async for event in events:
            received.append(event)
            if until(received):
                return received
    raise AssertionError(f"the stream ended after {received}")


# --------------------------------------------------------------------------------------------- raw HTTP


class RawStream:
    """An SSE request on a bare socket: the exact bytes, chunked encoding decoded by hand."""

    def __init__(self, server: ServerHandle, target: str = "/api/v1/events", *, receive_buffer: int = 0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(WAIT)
        self.sock.connect((server.host, server.port))
        self.sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {server.host}\r\nAccept: text/event-stream\r\n\r\n".encode())
        self.raw = b""
        self.headers = self._read_until(b"\r\n\r\n").decode("latin-1")
        self.ended = False

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.raw += data
        return bool(data)

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.raw:
            if not self._fill():
                raise EOFError(f"connection closed before {marker!r}")
        head, _, self.raw = self.raw.partition(marker)
        return head

    def chunk(self) -> bytes:
        """The next chunk of the body; b"" for the last one."""
        size = int(self._read_until(b"\r\n").split(b";")[0], 16)
        while len(self.raw) < size + 2:
            if not self._fill():
                raise EOFError("connection closed inside a chunk")
        data, self.raw = self.raw[:size], self.raw[size + 2 :]
        if size == 0:
            self.ended = True
        return data

    def body_until(self, pattern: re.Pattern[bytes]) -> bytes:
        body = b""
        while not pattern.search(body):
            body += self.chunk()
        return body

    def drain(self) -> bytes:
        """Everything until the server closes the connection (raw, chunk framing included)."""
        rest = self.raw
        while True:
            try:
                data = self.sock.recv(1 << 20)
            except ConnectionResetError:
                return rest
            if not data:
                return rest
            rest += data

    def close(self) -> None:
        self.sock.close()


@contextlib.contextmanager
def raw_stream(server: ServerHandle, target: str = "/api/v1/events", **kwargs: Any) -> Iterator[RawStream]:
    stream = RawStream(server, target, **kwargs)
    try:
        yield stream
    finally:
        stream.close()


def sse_ids(raw: bytes) -> list[int]:
    return [int(match) for match in re.findall(rb"(?m)^id: (\d+)$", raw)]


async def wait_for(probe: Callable[[], Any], what: str) -> Any:
    """Poll ``probe`` (a coroutine function) until it returns a truthy value."""
    async with asyncio.timeout(WAIT):
        while True:
            value = await probe()
            if value:
                return value
            await asyncio.sleep(0.05)
    raise AssertionError(what)


# --------------------------------------------------------------------------------------------- servers


@pytest.fixture(scope="module")
def server() -> Iterator[ServerHandle]:
    config = {
        "storage": {"type": "sqlite"},
        "logging": {"level": "warning"},
        "sse": {"heartbeat_interval": HEARTBEAT, "retry": "2500ms", "buffer_size": 5, "max_connections": 50},
    }
    with run_server(config) as handle:
        yield handle


@pytest.fixture
async def client(server: ServerHandle) -> AsyncIterator[httpx.AsyncClient]:
    async with server.async_client(timeout=WAIT) as opened:
        yield opened


# --------------------------------------------------------------------------------------------- wire format


def test_first_frame_is_the_retry_hint_without_a_data_line(server: ServerHandle) -> None:
    with raw_stream(server) as stream:
        assert stream.headers.startswith("HTTP/1.1 200")
        headers = stream.headers.lower()
        assert "content-type: text/event-stream" in headers
        assert "cache-control: no-cache" in headers
        assert "x-accel-buffering: no" in headers
        assert "transfer-encoding: chunked" in headers
        assert stream.chunk() == b"retry: 2500\n\n"


def test_heartbeats_are_comment_frames(server: ServerHandle) -> None:
    with raw_stream(server) as stream:
        stream.chunk()
        body = stream.body_until(re.compile(rb"(: heartbeat \d+\n\n){2}"))
    assert re.fullmatch(rb"(: heartbeat \d+\n\n)+", body)


async def test_replay_from_since_0_then_live_events(server: ServerHandle, client: httpx.AsyncClient) -> None:
    names = [f"replay-{i}" for i in range(3)]
    for name in names:
        await publish(client, name)
    last = await head(client)
    async with subscription(client, {"since": "0"}) as events:
        replayed = await take(events, lambda got: got[-1].id == last)
        live_sequence = await publish(client, "replay-live")
        live = await take(events, lambda got: True)
    assert [event.id for event in replayed] == list(range(1, last + 1))
    assert [e.name for e in replayed if e.name in names] == names
    mine = next(e for e in replayed if e.name == names[0])
    assert mine.event == "resource.created"
    assert set(mine.data) == {"apiVersion", "kind", "metadata", "spec", "status"}
    assert mine.data["status"]["source"]["kind"] == "api"
    assert (live[0].id, live[0].name) == (live_sequence, "replay-live")


async def test_resume_after_dropped_connections_misses_and_repeats_nothing(
    server: ServerHandle, client: httpx.AsyncClient
) -> None:
    start = await head(client)
    total = 40
    published: list[int] = []

    async def publisher() -> None:
        for i in range(total):
            published.append(await publish(client, f"resume-{i}"))
            await asyncio.sleep(0.01)

    running = asyncio.create_task(publisher())
    received: list[Received] = []
    last_id = str(start)
    try:
        for drop_after in (8, 8, None):
            async with subscription(client, headers={"Last-Event-ID": last_id}) as events:
                async with asyncio.timeout(WAIT):
                    async for event in events:
                        received.append(event)
                        if drop_after is not None and len(received) % drop_after == 0:
                            break
                        if len(received) == total:
                            break
            last_id = str(received[-1].id)
            await asyncio.sleep(0.1)  # publishing goes on while this client is away
    finally:
        await running
    assert [event.id for event in received] == published == list(range(start + 1, start + total + 1))
    assert [event.name for event in received] == [f"resume-{i}" for i in range(total)]


async def test_filters_are_anded(server: ServerHandle, client: httpx.AsyncClient) -> None:
    since = await head(client)
    await publish(client, "and-aws-db", provider="aws", category="database")
    await publish(client, "and-gcp-db", provider="gcp", category="database")
    await publish(client, "and-aws-cache", provider="aws", category="cache")
    await publish(client, "and-aws-db-2", provider="aws", category="database")
    params = [("since", str(since)), ("filter", "provider:aws"), ("filter", "category:database")]
    async with subscription(client, params) as events:
        got = await take(events, lambda got: got[-1].name == "and-aws-db-2")
    assert [event.name for event in got] == ["and-aws-db", "and-aws-db-2"]


async def test_filter_by_event_type_and_name(server: ServerHandle, client: httpx.AsyncClient) -> None:
    since = await head(client)
    await publish(client, "withdrawn-one")
    await publish(client, "withdrawn-two")
    for name in ("withdrawn-one", "withdrawn-two"):
        assert (await client.delete(f"/api/v1/resources/{name}/1.0.0")).status_code == 200
    params = [("since", str(since)), ("filter", "event:resource.deleted"), ("filter", "name:withdrawn-two")]
    async with subscription(client, params) as events:
        got = await take(events, lambda got: True)
    assert (got[0].event, got[0].name, got[0].data["status"]["withdrawn"]) == (
        "resource.deleted",
        "withdrawn-two",
        True,
    )


async def test_bad_filter_and_position_are_400(client: httpx.AsyncClient) -> None:
    bad_filter = await client.get("/api/v1/events", params={"filter": "colour:blue"})
    bad_since = await client.get("/api/v1/events", params={"since": "-3"})
    bad_header = await client.get("/api/v1/events", headers={"Last-Event-ID": "soon"})
    for response, parameter in ((bad_filter, "filter"), (bad_since, "since"), (bad_header, "Last-Event-ID")):
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "INVALID_REQUEST"
        assert parameter in error["message"]


# --------------------------------------------------------------------------------------------- slow clients


async def test_a_client_that_stops_reading_is_disconnected_and_resumes_without_loss(
    server: ServerHandle, client: httpx.AsyncClient
) -> None:
    since = await head(client)
    with raw_stream(server, f"/api/v1/events?since={since}", receive_buffer=4096) as stuck:
        assert stuck.chunk().startswith(b"retry:")
        published: list[int] = []

        async def cut() -> bool:
            metrics = (await client.get("/metrics")).text
            return 'catalog_sse_disconnects_total{reason="slow_consumer"}' in metrics

        async with asyncio.timeout(WAIT * 2):
            while not await cut():  # big events fill the socket, the server, then the lag
                published.append(await publish(client, f"slow-{len(published)}", padding=16_000))
        await wait_for(lambda: _open_streams(client, 0), "the server still counts the slow client's stream")
        seen = sse_ids(stuck.drain())  # everything that reached the socket before the cut
    assert seen == published[: len(seen)]
    assert len(seen) < len(published)
    async with subscription(client, headers={"Last-Event-ID": str(seen[-1] if seen else since)}) as events:
        rest = await take(events, lambda got: got[-1].id == published[-1])
    assert [event.id for event in rest] == published[len(seen) :]


async def _open_streams(client: httpx.AsyncClient, expected: int) -> bool:
    return bool((await client.get("/api/v1/status")).json()["sse"]["connections"] == expected)


# --------------------------------------------------------------------------------------------- retention


async def test_a_position_older_than_retention_gets_a_reset(tmp_path: Path) -> None:
    database = tmp_path / "catalog.db"
    config = {
        "storage": {"type": "sqlite", "sqlite": {"path": str(database)}},
        "logging": {"level": "warning"},
        "sse": {"heartbeat_interval": HEARTBEAT},
    }
    with run_server(config) as server:
        async with server.async_client(timeout=WAIT) as client:
            for i in range(5):
                await publish(client, f"retained-{i}")
            store = open_store(f"sqlite:///{database}")
            await store.open()
            try:
                assert await store.trim_events(keep_last=2) == 3
            finally:
                await store.close()
            async with subscription(client, {"since": "1"}) as events:
                reset = await take(events, lambda got: True)
                after = await publish(client, "retained-after")
                live = await take(events, lambda got: True)
    assert reset[0].event == "reset"
    assert reset[0].id == 5
    assert reset[0].data["sequence"] == 5
    assert reset[0].data["first_available"] == 4
    assert "re-list" in reset[0].data["reason"]
    assert (live[0].id, live[0].name) == (after, "retained-after")


# --------------------------------------------------------------------------------------------- limits


async def test_max_connections_answers_503_with_retry_after() -> None:
    config = {"storage": {"type": "memory"}, "logging": {"level": "warning"}, "sse": {"max_connections": 3}}
    with run_server(config) as server:
        streams = [RawStream(server) for _ in range(3)]
        try:
            for stream in streams:
                assert stream.headers.startswith("HTTP/1.1 200")
            async with server.async_client(timeout=WAIT) as client:
                refused = await client.get("/api/v1/events")
                assert refused.status_code == 503
                assert refused.headers["Retry-After"].isdigit()
                error = refused.json()["error"]
                assert (error["code"], error["details"]["max_connections"]) == ("SERVICE_UNAVAILABLE", 3)
                assert error["service"] == "catalog"
                streams.pop().close()
                await wait_for(lambda: _open_streams(client, 2), "the closed stream still holds its slot")
                async with subscription(client) as _:
                    assert await _open_streams(client, 3)
        finally:
            for stream in streams:
                stream.close()


def test_graceful_stop_ends_open_streams() -> None:
    config = {"storage": {"type": "memory"}, "logging": {"level": "warning"}}
    with run_server(config) as server, raw_stream(server) as stream:
        stream.chunk()
        code = server.stop(timeout=5)  # then SIGKILL, a status of -9
        assert code == 0, server.logs()[-2000:]
        while not stream.ended:  # the body ends properly (last chunk), not a reset connection
            stream.chunk()
