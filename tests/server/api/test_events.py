"""The SSE endpoint driven in-process through the ASGI interface, the way an ASGI server drives it.

``StreamClient`` plays the server's part: it sends the request, collects what the app sends,
can stop accepting data (a socket whose client stopped reading) and can disconnect. Every test
runs the real Litestar app, the real ``Catalog`` on a memory store and the real ``Metrics``.
End-to-end tests over real sockets and a real server process live in ``tests/e2e/test_sse*.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar

from nestor_catalog_core import Catalog, CatalogError, ResourceDefinition, Source, SourceKind
from nestor_catalog_core.catalog import CatalogSettings
from nestor_catalog_core.models import Event, EventType, utcnow
from nestor_catalog_core.storage import open_store
from nestor_catalog_server.api.errors import exception_handlers
from nestor_catalog_server.api.sse import (
    EVENTS_PATH,
    EventsController,
    FrameCache,
    event_frame,
    parse_position,
    route_handlers,
)
from nestor_catalog_server.config import Settings, SSEConfig
from nestor_catalog_server.observability import Metrics
from nestor_catalog_server.process import shutdown_on_signals
from nestor_catalog_server.state import STATE_KEY, AppState

API = Source(kind=SourceKind.API, user="tester")
WAIT = 10.0  # seconds a test waits for something that should happen at once: a guard, not a timing


# --------------------------------------------------------------------------------------------- helpers


def definition(name: str, *, provider: str = "aws", category: str = "database", version: str = "1.0.0") -> Any:
    return ResourceDefinition.model_validate(
        {
            "apiVersion": "catalog.nestor.io/v1",
            "kind": "ResourceDefinition",
            "metadata": {
                "name": name,
                "version": version,
                "provider": provider,
                "category": category,
                "resource_type": "mysql",
                "description": f"{name} for the SSE tests",
                "maintainers": ["platform-team@company.com"],
            },
            "spec": {
                "supported_engines": ["terraform"],
                "required_inputs": [{"name": "size", "type": "string", "description": "Size"}],
                "optional_inputs": [],
                "outputs": [{"name": "endpoint", "type": "string", "description": "Endpoint"}],
                "engine_configs": {"terraform": {"module_source": "terraform-aws-modules/rds/aws"}},
            },
        }
    )


async def publish(catalog: Catalog, name: str, **kwargs: Any) -> Event:
    result = await catalog.publish(definition(name, **kwargs), source=API)
    assert result.event is not None
    return result.event


def make_app(catalog: Catalog, **sse: Any) -> tuple[Litestar, AppState]:
    sse.setdefault("heartbeat_interval", timedelta(seconds=30))
    state = AppState(
        settings=Settings(sse=SSEConfig(**sse)),
        catalog=catalog,
        metrics=Metrics(process_metrics=False),
    )
    app = Litestar(route_handlers=route_handlers, exception_handlers=exception_handlers("catalog"), logging_config=None)
    app.state[STATE_KEY] = state
    return app, state


@dataclass
class Frame:
    raw: bytes
    fields: list[tuple[str, str]] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        values = [value for key, value in self.fields if key == name]
        return values[-1] if values else None

    @property
    def id(self) -> int:
        value = self.get("id")
        assert value is not None, self.raw
        return int(value)

    @property
    def event(self) -> str | None:
        return self.get("event")

    def json(self) -> Any:
        data = self.get("data")
        assert data is not None, self.raw
        return json.loads(data)


def parse_frame(raw: bytes) -> Frame:
    frame = Frame(raw)
    for line in raw.decode().split("\n"):
        if line.startswith(":"):
            frame.comments.append(line[1:].strip())
        elif line:
            key, _, value = line.partition(":")
            frame.fields.append((key, value.removeprefix(" ")))
    return frame


class StreamClient:
    """One request through the app's ASGI interface, with the server side under test control."""

    def __init__(self, app: Litestar, *, query: str = "", headers: dict[str, str] | None = None) -> None:
        self.app = app
        self.query = query
        self.headers = headers or {}
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.accepting = asyncio.Event()  # cleared: send() blocks like a full socket
        self.accepting.set()
        self.broken = False  # set: send() fails like a socket the peer reset
        self._gone = asyncio.Event()
        self._requested = False
        self._buffer = b""
        self.status = 0
        self.response_headers: dict[str, str] = {}
        self.ended = False
        self.task: asyncio.Task[None] | None = None

    async def _receive(self) -> dict[str, Any]:
        if not self._requested:
            self._requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def _send(self, message: dict[str, Any]) -> None:
        await self.accepting.wait()
        if self.broken:
            raise OSError("connection reset by peer")
        await self.messages.put(message)

    async def open(self) -> StreamClient:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": EVENTS_PATH,
            "raw_path": EVENTS_PATH.encode(),
            "query_string": self.query.encode(),
            "root_path": "",
            "headers": [(b"host", b"test"), *((k.lower().encode(), v.encode()) for k, v in self.headers.items())],
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 80),
            "state": {},
        }
        self.task = asyncio.create_task(self.app(scope, self._receive, self._send))  # type: ignore[arg-type]
        start = await asyncio.wait_for(self.messages.get(), WAIT)
        assert start["type"] == "http.response.start"
        self.status = start["status"]
        self.response_headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
        return self

    async def body(self) -> bytes:
        """The whole body of a response that ends (an error)."""
        chunks = []
        while True:
            message = await asyncio.wait_for(self.messages.get(), WAIT)
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def raw_frame(self) -> bytes | None:
        """The next frame's bytes, None when the stream ended."""
        while b"\n\n" not in self._buffer:
            if self.ended:
                return None
            message = await asyncio.wait_for(self.messages.get(), WAIT)
            self._buffer += message.get("body", b"")
            if not message.get("more_body", False):
                self.ended = True
        raw, _, self._buffer = self._buffer.partition(b"\n\n")
        return raw + b"\n\n"

    async def frame(self) -> Frame:
        raw = await self.raw_frame()
        assert raw is not None, "the stream ended"
        return parse_frame(raw)

    async def event(self) -> Frame:
        """The next frame that is not the retry hint or a heartbeat."""
        while True:
            frame = await self.frame()
            if frame.fields and frame.get("retry") is None:
                return frame

    async def events(self, count: int) -> list[Frame]:
        return [await self.event() for _ in range(count)]

    async def finished(self) -> None:
        """Wait until the app returned (the stream ended on the server side)."""
        assert self.task is not None
        await asyncio.wait_for(asyncio.shield(self.task), WAIT)

    async def disconnect(self) -> None:
        self._gone.set()
        self.accepting.set()
        await self.finished()


@asynccontextmanager
async def streaming(
    app: Litestar, query: str = "", headers: dict[str, str] | None = None
) -> AsyncIterator[StreamClient]:
    client = await StreamClient(app, query=query, headers=headers).open()
    try:
        yield client
    finally:
        await client.disconnect()


async def wait_until(condition: Callable[[], bool]) -> None:
    """Let other tasks run until ``condition`` holds (guarded by ``WAIT``)."""
    async with asyncio.timeout(WAIT):
        while not condition():  # noqa: ASYNC110 - the condition is state the app owns, with no event to await
            await asyncio.sleep(0.001)


def _other_tasks() -> set[asyncio.Task[Any]]:
    return {task for task in asyncio.all_tasks() if task is not asyncio.current_task()}


@pytest.fixture
async def catalog() -> AsyncIterator[Catalog]:
    async with Catalog(open_store("memory://"), CatalogSettings(event_buffer=8)) as opened:
        yield opened


# --------------------------------------------------------------------------------------------- wire format


async def test_first_frame_is_retry_hint_without_data_line(catalog: Catalog) -> None:
    app, _ = make_app(catalog, retry=timedelta(milliseconds=1500))
    async with streaming(app) as client:
        assert client.status == 200
        assert client.response_headers["content-type"].startswith("text/event-stream")
        assert client.response_headers["cache-control"] == "no-cache"
        assert client.response_headers["x-accel-buffering"] == "no"
        assert "content-length" not in client.response_headers
        assert await client.raw_frame() == b"retry: 1500\n\n"


async def test_live_event_frame_carries_sequence_type_and_resource_body(catalog: Catalog) -> None:
    app, state = make_app(catalog)
    async with streaming(app) as client:
        await client.frame()  # retry
        event = await publish(catalog, "aws-rds-mysql")
        frame = await client.event()
    assert frame.id == event.sequence
    assert frame.event == "resource.created"
    body = frame.json()
    assert body == event.data
    assert body["metadata"]["name"] == "aws-rds-mysql"
    assert set(body) == {"apiVersion", "kind", "metadata", "spec", "status"}
    assert frame.raw.count(b"\ndata: ") == 1
    assert frame.raw == event_frame(event)
    assert state.metrics.sample("catalog_sse_events_sent_total", type="resource.created") == 1


async def test_stream_without_position_starts_at_head(catalog: Catalog) -> None:
    await publish(catalog, "old-one")
    app, _ = make_app(catalog)
    async with streaming(app) as client:
        await client.frame()
        new = await publish(catalog, "new-one")
        frame = await client.event()
    assert (frame.id, frame.json()["metadata"]["name"]) == (new.sequence, "new-one")


async def test_events_published_between_admission_and_the_first_frame_are_delivered(catalog: Catalog) -> None:
    app, state = make_app(catalog)
    client = StreamClient(app)
    client.accepting.clear()  # the response head waits in send(): admitted, not yet streaming
    opening = asyncio.create_task(client.open())
    await wait_until(lambda: state.sse_connections == 1)
    event = await publish(catalog, "between")
    client.accepting.set()
    await opening
    try:
        frame = await client.event()
    finally:
        await client.disconnect()
    assert frame.id == event.sequence


async def test_heartbeat_comment_when_idle(catalog: Catalog) -> None:
    app, _ = make_app(catalog, heartbeat_interval=timedelta(milliseconds=20))
    async with streaming(app) as client:
        await client.frame()
        frame = await client.frame()
    assert frame.fields == []
    assert len(frame.comments) == 1
    word, stamp = frame.comments[0].split(" ")
    assert word == "heartbeat"
    assert stamp.isdigit()
    assert frame.raw == f": heartbeat {stamp}\n\n".encode()


# --------------------------------------------------------------------------------------------- replay


async def test_since_replays_from_the_durable_log_then_continues_live(catalog: Catalog) -> None:
    published = [await publish(catalog, f"res-{i}") for i in range(20)]  # more than the ring holds (8)
    app, _ = make_app(catalog, buffer_size=3)
    async with streaming(app, "since=0") as client:
        replayed = await client.events(20)
        live = await publish(catalog, "res-live")
        after = await client.event()
    assert [f.id for f in replayed] == [e.sequence for e in published]
    assert [f.json()["metadata"]["name"] for f in replayed] == [f"res-{i}" for i in range(20)]
    assert after.id == live.sequence


async def test_since_in_the_middle_skips_what_the_client_has(catalog: Catalog) -> None:
    published = [await publish(catalog, f"res-{i}") for i in range(5)]
    app, _ = make_app(catalog)
    async with streaming(app, f"since={published[2].sequence}") as client:
        frames = await client.events(2)
    assert [f.id for f in frames] == [published[3].sequence, published[4].sequence]


async def test_last_event_id_wins_over_since(catalog: Catalog) -> None:
    published = [await publish(catalog, f"res-{i}") for i in range(4)]
    app, _ = make_app(catalog)
    headers = {"Last-Event-ID": str(published[2].sequence)}
    async with streaming(app, "since=0", headers) as client:
        frame = await client.event()
    assert frame.id == published[3].sequence


async def test_empty_last_event_id_counts_as_absent(catalog: Catalog) -> None:
    published = [await publish(catalog, f"res-{i}") for i in range(2)]
    app, _ = make_app(catalog)
    async with streaming(app, "since=0", {"Last-Event-ID": ""}) as client:
        frame = await client.event()
    assert frame.id == published[0].sequence


async def test_position_older_than_retention_gets_reset_then_continues(catalog: Catalog) -> None:
    for i in range(6):
        await publish(catalog, f"res-{i}")
    assert await catalog.store.trim_events(keep_last=2) == 4
    head = catalog.revision
    app, _ = make_app(catalog)
    async with streaming(app, "since=1") as client:
        reset = await client.event()
        live = await publish(catalog, "res-after")
        after = await client.event()
    assert reset.event == "reset"
    assert reset.id == head
    data = reset.json()
    assert data["sequence"] == head
    assert data["requested"] == 1
    assert data["first_available"] == 5
    assert "older than the retained event log" in data["reason"]
    assert after.id == live.sequence


async def test_position_ahead_of_the_log_gets_reset(catalog: Catalog) -> None:
    await publish(catalog, "res-0")
    app, _ = make_app(catalog)
    async with streaming(app, headers={"Last-Event-ID": "500"}) as client:
        reset = await client.event()
        live = await publish(catalog, "res-1")
        after = await client.event()
    assert (reset.event, reset.id, reset.json()["sequence"], reset.json()["requested"]) == ("reset", 1, 1, 500)
    assert "ahead of this catalog's event log" in reset.json()["reason"]
    assert after.id == live.sequence == 2


# --------------------------------------------------------------------------------------------- filters


async def test_filters_are_anded(catalog: Catalog) -> None:
    app, _ = make_app(catalog)
    query = "since=0&filter=provider:aws&filter=category:database"
    await publish(catalog, "aws-db", provider="aws", category="database")
    await publish(catalog, "gcp-db", provider="gcp", category="database")
    await publish(catalog, "aws-store", provider="aws", category="storage")
    await publish(catalog, "aws-db-2", provider="aws", category="database")
    async with streaming(app, query) as client:
        frames = await client.events(2)
    assert [f.json()["metadata"]["name"] for f in frames] == ["aws-db", "aws-db-2"]


async def test_filter_on_event_type_and_name(catalog: Catalog) -> None:
    await publish(catalog, "aws-db")
    await publish(catalog, "aws-other")
    await catalog.withdraw("aws-db", "1.0.0", source=API)
    await catalog.withdraw("aws-other", "1.0.0", source=API)
    app, _ = make_app(catalog)
    async with streaming(app, "since=0&filter=event:resource.deleted,resource.deprecated&filter=name:aws-db") as c:
        frame = await c.event()
    assert frame.event == "resource.deleted"
    assert frame.json()["metadata"]["name"] == "aws-db"
    assert frame.json()["status"]["withdrawn"] is True


async def test_validation_failed_events_carry_their_data(catalog: Catalog) -> None:
    await publish(catalog, "aws-db")
    changed = definition("aws-db").model_dump(mode="json", by_alias=True, exclude_none=True)
    changed["metadata"]["description"] = "changed without a new version"
    with pytest.raises(CatalogError, match="immutable"):
        await catalog.publish(ResourceDefinition.model_validate(changed), source=API)
    app, _ = make_app(catalog)
    async with streaming(app, "since=0&filter=event:validation.failed") as client:
        frame = await client.event()
    assert frame.event == "validation.failed"
    assert frame.json()["code"] == "IMMUTABLE_VERSION"
    assert frame.json()["resource_name"] == "aws-db"


# --------------------------------------------------------------------------------------------- refusals


async def _refusal(
    app: Litestar, query: str = "", headers: dict[str, str] | None = None
) -> tuple[int, Any, dict[str, str]]:
    client = await StreamClient(app, query=query, headers=headers).open()
    body = json.loads(await client.body())
    await client.finished()
    return client.status, body, client.response_headers


@pytest.mark.parametrize(
    ("query", "headers", "message"),
    [
        ("filter=provider", {}, "invalid event filter 'provider'"),
        ("filter=colour:blue", {}, "invalid event filter 'colour:blue'"),
        ("filter=event:resource.exploded", {}, "unknown event type 'resource.exploded'"),
        ("filter=provider:aws&filter=provider:gcp", {}, "conflicting event filters for provider"),
        ("since=-1", {}, r"since must be an event sequence \(an integer >= 0\), got '-1'"),
        ("since=abc", {}, "since must be an event sequence"),
        ("since=1.5", {}, "since must be an event sequence"),
        ("since=", {}, "since must be an event sequence"),
        ("since=%D9%A3", {}, "since must be an event sequence"),  # an Arabic-Indic digit
        ("since=99999999999999999999", {}, "since must be an event sequence"),
        ("since=1", {"Last-Event-ID": "x1"}, "Last-Event-ID must be an event sequence"),
    ],
)
async def test_bad_parameters_are_400(catalog: Catalog, query: str, headers: dict[str, str], message: str) -> None:
    app, state = make_app(catalog)
    status, body, _ = await _refusal(app, query, headers)
    assert status == 400
    assert body["error"]["code"] == "INVALID_REQUEST"
    assert re.search(message, body["error"]["message"])
    assert state.sse_connections == 0


async def test_disabled_is_404(catalog: Catalog) -> None:
    app, _ = make_app(catalog, enabled=False)
    status, body, _ = await _refusal(app)
    assert status == 404
    assert body["error"]["code"] == "NOT_FOUND"
    assert "sse.enabled" in body["error"]["message"]


async def test_max_connections_is_503_with_retry_after_until_a_slot_frees(catalog: Catalog) -> None:
    app, state = make_app(catalog, max_connections=2, retry=timedelta(seconds=4))
    first = await StreamClient(app).open()
    second = await StreamClient(app).open()
    assert (state.sse_connections, state.metrics.sample("catalog_sse_connections")) == (2, 2)
    status, body, headers = await _refusal(app)
    assert status == 503
    assert body["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert body["error"]["details"]["max_connections"] == 2
    assert body["error"]["service"] == "catalog"
    assert headers["retry-after"] == "4"
    assert state.metrics.sample("catalog_sse_disconnects_total", reason="max_connections") == 1
    await first.disconnect()
    assert state.sse_connections == 1
    async with streaming(app) as third:
        assert third.status == 200
        assert state.sse_connections == 2
    await second.disconnect()
    assert (state.sse_connections, state.metrics.sample("catalog_sse_connections")) == (0, 0)


async def test_refused_while_shutting_down(catalog: Catalog) -> None:
    app, state = make_app(catalog)
    state.shutdown.set()
    status, body, headers = await _refusal(app)
    assert status == 503
    assert "shutting down" in body["error"]["message"]
    assert "retry-after" in headers


# --------------------------------------------------------------------------------------------- ending


async def test_client_disconnect_releases_the_slot_and_leaves_no_task(catalog: Catalog) -> None:
    app, state = make_app(catalog)
    before = _other_tasks()
    client = await StreamClient(app).open()
    await client.frame()
    assert state.sse_connections == 1
    await client.disconnect()
    assert state.sse_connections == 0
    assert _other_tasks() == before
    assert state.metrics.sample("catalog_sse_disconnects_total", reason="client_closed") == 0


async def test_shutdown_ends_streams_cleanly_and_leaves_no_task(catalog: Catalog) -> None:
    app, state = make_app(catalog)
    before = _other_tasks()
    clients = [await StreamClient(app).open() for _ in range(3)]
    for client in clients:
        await client.frame()
    state.shutdown.set()
    for client in clients:
        await client.finished()
        assert await client.raw_frame() is None
        assert client.ended  # the body was closed (more_body false), not cut
    assert state.sse_connections == 0
    assert state.metrics.sample("catalog_sse_disconnects_total", reason="shutdown") == 3
    assert _other_tasks() == before


async def test_catalog_close_ends_streams(catalog: Catalog) -> None:
    app, state = make_app(catalog)
    client = await StreamClient(app).open()
    await client.frame()
    catalog.hub.close()
    await client.finished()
    assert await client.raw_frame() is None
    assert state.sse_connections == 0


async def test_store_failure_during_replay_ends_the_stream(catalog: Catalog) -> None:
    for i in range(12):  # the ring keeps 8: since=0 must read the store
        await publish(catalog, f"res-{i}")
    await catalog.store.close()
    app, state = make_app(catalog)
    client = await StreamClient(app, query="since=0").open()
    await client.finished()
    assert await client.raw_frame() == b"retry: 3000\n\n"
    assert await client.raw_frame() is None
    assert state.metrics.sample("catalog_sse_disconnects_total", reason="error") == 1
    assert state.sse_connections == 0
    await catalog.store.open()


async def test_cancelled_request_releases_the_slot(catalog: Catalog) -> None:
    app, state = make_app(catalog)
    client = await StreamClient(app).open()
    await client.frame()
    assert client.task is not None
    client.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await client.task
    assert state.sse_connections == 0


async def test_a_signal_ends_streams_at_once_and_reaches_the_previous_handler(catalog: Catalog) -> None:
    app, state = make_app(catalog)
    seen: list[int] = []

    def previous(signum: int, frame: Any) -> None:
        seen.append(signum)

    original = signal.signal(signal.SIGUSR1, previous)
    try:
        restore = shutdown_on_signals(state.shutdown, [signal.SIGUSR1])
        client = await StreamClient(app).open()
        await client.frame()
        os.kill(os.getpid(), signal.SIGUSR1)
        await client.finished()
        assert state.shutdown.is_set()
        assert seen == [signal.SIGUSR1]
        assert state.sse_connections == 0
        restore()
        assert signal.getsignal(signal.SIGUSR1) is previous
    finally:
        signal.signal(signal.SIGUSR1, original)


def test_a_signal_with_the_default_disposition_still_ends_the_process() -> None:
    script = """
import asyncio, os, signal
from nestor_catalog_server.process import shutdown_on_signals

class State:
    shutdown = asyncio.Event()

async def main():
    shutdown_on_signals(State.shutdown, [signal.SIGTERM])
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.sleep(30)

asyncio.run(main())
"""
    finished = subprocess.run([sys.executable, "-c", script], timeout=60, capture_output=True, check=False)
    assert finished.returncode == -signal.SIGTERM, finished.stderr.decode()


async def test_signal_hook_is_a_no_op_outside_the_main_thread(catalog: Catalog) -> None:
    _, state = make_app(catalog)
    before = signal.getsignal(signal.SIGUSR2)
    restore = await asyncio.to_thread(shutdown_on_signals, state.shutdown, [signal.SIGUSR2])
    assert signal.getsignal(signal.SIGUSR2) is before
    restore()


# --------------------------------------------------------------------------------------------- slow clients


async def test_slow_client_is_disconnected_when_its_buffer_overflows(catalog: Catalog) -> None:
    app, state = make_app(catalog, buffer_size=2, heartbeat_interval=timedelta(milliseconds=50))
    before = _other_tasks()
    client = await StreamClient(app).open()
    await client.frame()
    client.accepting.clear()  # the socket is full: send() no longer returns
    for i in range(6):
        await publish(catalog, f"res-{i}")
    await client.finished()
    assert state.sse_connections == 0
    assert state.metrics.sample("catalog_sse_disconnects_total", reason="slow_consumer") == 1
    assert _other_tasks() == before


async def test_client_reading_slowly_but_steadily_is_not_disconnected(catalog: Catalog) -> None:
    """A replay larger than the buffer waits for the client instead of overflowing."""
    for i in range(30):
        await publish(catalog, f"res-{i}")
    app, state = make_app(catalog, buffer_size=2, heartbeat_interval=timedelta(seconds=5))
    async with streaming(app, "since=0") as client:
        frames = []
        for _ in range(30):
            frames.append(await client.event())
            await asyncio.sleep(0)
        assert [f.id for f in frames] == list(range(1, 31))
        assert client.task is not None
        assert not client.task.done()
    assert state.metrics.sample("catalog_sse_disconnects_total", reason="slow_consumer") == 0


async def test_stuck_client_keeps_its_stream_while_its_lag_is_under_the_buffer(catalog: Catalog) -> None:
    app, state = make_app(catalog, buffer_size=4, heartbeat_interval=timedelta(milliseconds=20))
    client = await StreamClient(app).open()
    await client.frame()
    client.accepting.clear()
    for i in range(3):
        await publish(catalog, f"res-{i}")
    await asyncio.sleep(0.2)  # ten heartbeat intervals stuck, three events behind
    assert client.task is not None
    assert not client.task.done()
    for i in range(3, 6):
        await publish(catalog, f"res-{i}")
    await client.finished()
    assert state.metrics.sample("catalog_sse_disconnects_total", reason="slow_consumer") == 1


async def test_send_failure_ends_the_stream_as_a_client_disconnect(catalog: Catalog) -> None:
    app, state = make_app(catalog)
    before = _other_tasks()
    client = await StreamClient(app).open()
    await client.frame()
    client.broken = True
    await publish(catalog, "res-0")
    await client.finished()
    assert state.sse_connections == 0
    assert state.metrics.sample("catalog_sse_disconnects_total", reason="error") == 0
    assert _other_tasks() == before


async def test_one_stuck_client_does_not_hold_back_the_others(catalog: Catalog) -> None:
    app, state = make_app(catalog, buffer_size=2, heartbeat_interval=timedelta(milliseconds=50))
    stuck = await StreamClient(app).open()
    await stuck.frame()
    stuck.accepting.clear()
    async with streaming(app) as healthy:
        await healthy.frame()
        published = [await publish(catalog, f"res-{i}") for i in range(10)]
        frames = await healthy.events(10)
        await stuck.finished()
    assert [f.id for f in frames] == [e.sequence for e in published]
    assert state.sse_connections == 0


# --------------------------------------------------------------------------------------------- pieces


def test_frame_cache_encodes_each_event_once() -> None:
    cache = FrameCache(capacity=2)
    event = Event(type=EventType.SYNC_COMPLETED, time=utcnow(), data={"repository": "platform"}, sequence=7)
    first = cache.frame(event)
    assert first == b'id: 7\nevent: sync.completed\ndata: {"repository":"platform"}\n\n'
    assert cache.frame(event) is first
    assert cache.frame(Event(type=event.type, time=event.time, data={"x": 1}, sequence=7)) is first


def test_frame_cache_re_encodes_a_reused_sequence_and_stays_bounded() -> None:
    cache = FrameCache(capacity=2)
    old = Event(type=EventType.SYNC_COMPLETED, time=utcnow(), data={"n": 1}, sequence=1)
    cache.frame(old)
    replaced = Event(type=EventType.SYNC_FAILED, time=old.time, data={"n": 2}, sequence=1)
    assert b"sync.failed" in cache.frame(replaced)
    for sequence in range(2, 6):
        cache.frame(Event(type=EventType.SYNC_COMPLETED, time=old.time, data={}, sequence=sequence))
    assert len(cache) == 2


def test_event_frame_keeps_data_on_one_line() -> None:
    event = Event(
        type=EventType.VALIDATION_FAILED,
        time=utcnow(),
        data={"message": "line one\nline two\r\nthree\u2028four", "name": "größe"},
        sequence=3,
    )
    frame = event_frame(event)
    assert frame.count(b"\n") == 4
    assert json.loads(parse_frame(frame).get("data") or "") == event.data


@pytest.mark.parametrize(
    ("value", "parameter", "expected"),
    [(None, "since", None), ("0", "since", 0), (" 42 ", "since", 42), ("", "Last-Event-ID", None)],
)
def test_parse_position(value: str | None, parameter: str, expected: int | None) -> None:
    assert parse_position(value, parameter) == expected


def test_route_handlers_register_the_controller() -> None:
    assert route_handlers == [EventsController]
    assert EventsController.path == EVENTS_PATH


async def test_openapi_describes_the_endpoint(catalog: Catalog) -> None:
    app, _ = make_app(catalog)
    schema = app.openapi_schema.to_schema()
    operation = schema["paths"][EVENTS_PATH]["get"]
    names = {(p["name"], p["in"]) for p in operation["parameters"]}
    assert {("filter", "query"), ("since", "query"), ("Last-Event-ID", "header")} <= names
    assert "text/event-stream" in operation["responses"]["200"]["content"]
    for status in ("400", "404", "503"):
        envelope = operation["responses"][status]["content"]["application/json"]["schema"]
        assert envelope["$ref"].endswith("ErrorEnvelope"), envelope
