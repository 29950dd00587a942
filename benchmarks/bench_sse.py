"""SSE fan-out: 1,000 concurrent subscribers on one server process (200 with ``--quick``).

Two servers run, one after the other, each as its own process under granian (one worker):

- **ours**: ``nestor-catalog serve`` on a memory store, streaming ``GET /api/v1/events``;
  events are published one at a time through ``POST /api/v1/resources`` (YAML, the full
  publish pipeline: load, validate, compatibility, store, event, read model, hub);
- **ceiling**: a bare Litestar app whose ``GET /events`` is a ``Stream`` fed by a per-connection
  ``asyncio.Queue`` and whose ``POST /publish`` puts a frame of the same size into every queue
  (a plain asyncio broadcast), served the same way.

A separate load-generator process (this module run as a script) holds every subscriber on raw
asyncio streams (an HTTP/1.1 request, a chunked-body decoder and an SSE frame splitter; no
HTTP client library, so the generator is not the bottleneck on a 2-core machine). For each
event it records the time from the start of the publish request to the moment the LAST
subscriber received the frame, and reports p50/p99 (goal: p99 <= 250 ms). Memory per idle
connection is the server's resident set (the process and its workers) after opening the
subscribers minus before, divided by their number.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from litestar import Litestar, Request, get, post
from litestar.response import Stream

from benchmarks._harness import Context, Row, median_us
from nestor_catalog_core import Catalog, Source, SourceKind
from nestor_catalog_server.api.sse import FrameCache, event_frame

ROOT = Path(__file__).resolve().parent.parent
P99_GOAL_MS = 250.0
CONNECT_BATCH = 100
SETTLE_SECONDS = 1.0
EVENT_TIMEOUT = 30.0
FILL_BATCH = 250


# --------------------------------------------------------------------------------------------- payloads


def definition_yaml(name: str) -> bytes:
    """A valid definition of about the size of the examples (a new name per event)."""
    return f"""apiVersion: catalog.nestor.io/v1
kind: ResourceDefinition
metadata:
  name: {name}
  version: "1.0.0"
  provider: aws
  category: database
  resource_type: mysql
  description: "Benchmark definition {name} for the SSE fan-out"
  maintainers:
    - platform-team@company.com
spec:
  supported_engines:
    - terraform
  required_inputs:
    - name: instance_class
      type: string
      description: "DB instance class"
      validation:
        pattern: "^db\\\\.[a-z0-9]+\\\\.[a-z]+$"
    - name: allocated_storage
      type: integer
      description: "Storage in GB"
      validation:
        min: 20
        max: 65536
  optional_inputs:
    - name: multi_az
      type: boolean
      default: false
      description: "Standby replica in another zone"
  outputs:
    - name: endpoint
      type: string
      description: "Connection endpoint"
  engine_configs:
    terraform:
      module_source: "terraform-aws-modules/rds/aws"
      module_version: "~> 6.0"
""".encode()


# --------------------------------------------------------------------------------------------- ceiling app


def create_bare_app() -> Litestar:
    """The ceiling: Litestar streaming a per-connection queue that a POST fills for everyone."""
    subscribers: set[asyncio.Queue[bytes]] = set()
    sequence = itertools.count(1)

    async def frames(queue: asyncio.Queue[bytes]) -> AsyncIterator[bytes]:
        subscribers.add(queue)
        try:
            yield b"retry: 3000\n\n"
            while True:
                yield await queue.get()
        finally:
            subscribers.discard(queue)

    @get("/events", media_type="text/event-stream")
    async def events() -> Stream:
        return Stream(frames(asyncio.Queue()), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @post("/publish")
    async def publish(request: Request[Any, Any, Any]) -> dict[str, int]:
        body = await request.body()
        number = next(sequence)
        frame = b"id: %d\nevent: resource.created\ndata: %s\n\n" % (number, body)
        for queue in subscribers:
            queue.put_nowait(frame)
        return {"sequence": number}

    @get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return Litestar([events, publish, health], logging_config=None)


# --------------------------------------------------------------------------------------------- load generator


@dataclass
class Arrivals:
    """How many subscribers received each sequence, and when the last one did."""

    count: dict[int, int] = field(default_factory=dict)
    last: dict[int, float] = field(default_factory=dict)
    complete: dict[int, asyncio.Event] = field(default_factory=dict)
    subscribers: int = 0

    def waiter(self, sequence: int) -> asyncio.Event:
        return self.complete.setdefault(sequence, asyncio.Event())

    def arrived(self, sequence: int, now: float) -> None:
        count = self.count.get(sequence, 0) + 1
        self.count[sequence] = count
        self.last[sequence] = now
        if count == self.subscribers:
            self.waiter(sequence).set()


class Subscriber:
    """One SSE connection on raw asyncio streams: chunked decoding and frame splitting by hand."""

    def __init__(self, host: str, port: int, path: str, arrivals: Arrivals) -> None:
        self.host, self.port, self.path = host, port, path
        self.arrivals = arrivals
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.task: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        """Open the stream and wait for its first frame (the subscription is in place)."""
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nAccept: text/event-stream\r\n\r\n".encode()
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"subscription refused: {head.decode(errors='replace')}")
        if b"chunked" not in head.lower():
            raise RuntimeError("expected a chunked stream")
        body = await self._chunk()
        if not body.startswith(b"retry:"):
            raise RuntimeError(f"unexpected first frame {body!r}")
        self.task = asyncio.create_task(self._read())

    async def _chunk(self) -> bytes:
        assert self.reader is not None
        size_line = await self.reader.readuntil(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        data = await self.reader.readexactly(size + 2)
        return data[:-2]

    async def _read(self) -> None:
        pending = b""
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                chunk = await self._chunk()
                if not chunk:
                    return
                now = time.perf_counter()
                pending += chunk
                *frames, pending = pending.split(b"\n\n")
                for frame in frames:
                    if frame.startswith(b"id: "):
                        self.arrivals.arrived(int(frame[4 : frame.index(b"\n")]), now)

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError):
                await self.writer.wait_closed()


async def _open(host: str, port: int, path: str, arrivals: Arrivals, count: int) -> list[Subscriber]:
    subscribers: list[Subscriber] = []
    for start in range(0, count, CONNECT_BATCH):
        batch = [Subscriber(host, port, path, arrivals) for _ in range(min(CONNECT_BATCH, count - start))]
        await asyncio.gather(*(s.connect() for s in batch))
        subscribers.extend(batch)
    return subscribers


def _publish_request(kind: str, name: str) -> tuple[str, bytes, str]:
    """The path, body and content type of the request publishing ``name``."""
    if kind == "ours":
        return "/api/v1/resources", definition_yaml(name), "application/yaml"
    body = json.dumps({"metadata": {"name": name}, "yaml": definition_yaml(name).decode()})
    return "/publish", body.encode(), "application/json"


def _sequence_of(kind: str, answer: dict[str, Any]) -> int:
    if kind == "ours":
        sequence: int = answer["results"][0]["resource"]["status"]["sequence"]
        return sequence
    number: int = answer["sequence"]
    return number


async def _publish_all(kind: str, base: str, arrivals: Arrivals, names: list[str]) -> tuple[list[float], list[float]]:
    fanout: list[float] = []
    requests: list[float] = []
    async with httpx.AsyncClient(base_url=base, timeout=EVENT_TIMEOUT) as client:
        for name in names:
            path, body, content_type = _publish_request(kind, name)
            start = time.perf_counter()
            response = await client.post(path, content=body, headers={"Content-Type": content_type})
            requests.append(time.perf_counter() - start)
            response.raise_for_status()
            sequence = _sequence_of(kind, response.json())
            await asyncio.wait_for(arrivals.waiter(sequence).wait(), EVENT_TIMEOUT)
            fanout.append(arrivals.last[sequence] - start)
    return fanout, requests


def _say(message: dict[str, Any]) -> None:
    print(json.dumps(message), flush=True)


async def _listen() -> str:
    line: str = await asyncio.to_thread(sys.stdin.readline)
    return line.strip()


async def generate_load(kind: str, url: str, path: str, subscribers: int, events: int, prefix: str) -> None:
    """The load-generator process: warm up, open the subscribers, publish, report (JSON lines)."""
    host, port = url.removeprefix("http://").split(":")
    warm = Arrivals(subscribers=4)
    warmers = await _open(host, int(port), path, warm, 4)
    await _publish_all(kind, url, warm, [f"{prefix}-warmup-{i}" for i in range(3)])
    for subscriber in warmers:
        await subscriber.close()
    _say({"phase": "warm"})
    await _listen()
    arrivals = Arrivals(subscribers=subscribers)
    opened = await _open(host, int(port), path, arrivals, subscribers)
    _say({"phase": "connected", "subscribers": len(opened)})
    await _listen()
    fanout, requests = await _publish_all(kind, url, arrivals, [f"{prefix}-event-{i}" for i in range(events)])
    _say({"phase": "done", "fanout": fanout, "requests": requests})
    for subscriber in opened:
        await subscriber.close()


# --------------------------------------------------------------------------------------------- the runs


def raise_open_files_limit(wanted: int) -> None:
    """Lift the soft ``RLIMIT_NOFILE`` (inherited by the servers and the generator we start)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def tree_rss_kib(pid: int) -> int:
    """Resident set of ``pid`` and all its descendants (granian runs its worker as a child)."""
    total = 0
    for member in _process_tree(pid):
        with contextlib.suppress(OSError), open(f"/proc/{member}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def _process_tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


@dataclass
class Measured:
    fanout_ms: list[float]
    request_ms: list[float]
    kib_per_connection: float

    def percentile(self, q: float) -> float:
        ordered = sorted(self.fanout_ms)
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def measure(
    kind: str, url: str, path: str, server_pid: int, subscribers: int, events: int, prefix: str = "bare"
) -> Measured:
    """Drive one server with the load generator and collect the figures."""
    generator = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_sse", kind, url, path, str(subscribers), str(events), prefix],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert generator.stdin is not None
    assert generator.stdout is not None
    try:
        _expect(generator, "warm")
        before = tree_rss_kib(server_pid)
        generator.stdin.write("open\n")
        generator.stdin.flush()
        _expect(generator, "connected")
        time.sleep(SETTLE_SECONDS)
        after = tree_rss_kib(server_pid)
        generator.stdin.write("publish\n")
        generator.stdin.flush()
        done = _expect(generator, "done")
    finally:
        generator.stdin.close()
        generator.wait(timeout=60)
    return Measured(
        fanout_ms=[seconds * 1000 for seconds in done["fanout"]],
        request_ms=[seconds * 1000 for seconds in done["requests"]],
        kib_per_connection=(after - before) / subscribers,
    )


def _expect(generator: subprocess.Popen[str], phase: str) -> dict[str, Any]:
    assert generator.stdout is not None
    line = generator.stdout.readline()
    if not line:
        raise RuntimeError(f"the load generator exited (status {generator.wait()}) before {phase!r}")
    message: dict[str, Any] = json.loads(line)
    if message.get("phase") != phase:
        raise RuntimeError(f"expected {phase!r} from the load generator, got {message}")
    return message


@contextlib.contextmanager
def bare_server(port: int) -> Iterator[subprocess.Popen[bytes]]:
    """The ceiling app under granian with the options ``nestor-catalog serve`` uses."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "granian",
            "--interface",
            "asgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--no-ws",
            "--log-level",
            "warning",
            "--factory",
            "benchmarks.bench_sse:create_bare_app",
        ],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_healthy(f"http://127.0.0.1:{port}/health", process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()


def _wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the ceiling server exited with status {process.returncode}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"no answer from {url}")


def _server_config(subscribers: int) -> dict[str, Any]:
    return {
        "storage": {"type": "memory"},
        "logging": {"level": "warning"},
        "sse": {"max_connections": subscribers + 50, "heartbeat_interval": "60s", "buffer_size": 100},
    }


def fill_event_log(url: str, events: int, batch: int = FILL_BATCH) -> None:
    """Publish ``events`` definitions through the API, ``batch`` documents per request, so the
    hub's ring of recent events is as full as on a server that has been running for a while."""
    with httpx.Client(base_url=url, timeout=120) as client:
        for start in range(0, events, batch):
            body = b"---\n".join(definition_yaml(f"fill-{i}") for i in range(start, min(start + batch, events)))
            response = client.post("/api/v1/resources", content=body, headers={"Content-Type": "application/yaml"})
            response.raise_for_status()


def run(ctx: Context) -> list[Row]:
    from tests.support.server import free_port, run_server

    subscribers = ctx.scale(1000, 200)
    events = ctx.scale(100, 30)
    ring = ctx.scale(10_000, 2_000)
    raise_open_files_limit(4 * subscribers + 1024)
    with run_server(_server_config(subscribers)) as server:
        pid = server.process.pid
        ours = measure("ours", server.url, "/api/v1/events", pid, subscribers, events, "cold")
        fill_event_log(server.url, ring)
        warm = measure("ours", server.url, "/api/v1/events", pid, subscribers, events, "warm")
    port = free_port()
    with bare_server(port) as process:
        bare = measure("bare", f"http://127.0.0.1:{port}", "/events", process.pid, subscribers, events)
    return [*_rows(ours, warm, bare, subscribers, events, ring), asyncio.run(_frame_row())]


async def _frame_row() -> Row:
    """Per-subscriber cost of an event's frame: the shared cache vs encoding it for each one."""
    catalog = await Catalog.open("memory://")
    try:
        results = await catalog.publish_bytes(definition_yaml("frame-cost"), source=Source(kind=SourceKind.API))
    finally:
        await catalog.close()
    event = results[0].event
    assert event is not None
    cache = FrameCache()
    cache.frame(event)
    return Row(
        f"SSE frame of one resource event ({len(event_frame(event)):,} B), per subscriber",
        median_us(lambda: cache.frame(event)),
        "us",
        median_us(lambda: event_frame(event)),
        "json.dumps + format for every subscriber",
        extra={"ours": "FrameCache hit: encoded once per event for all subscribers"},
    )


def _rows(ours: Measured, warm: Measured, bare: Measured, subscribers: int, events: int, ring: int) -> list[Row]:
    label = f"bare Litestar asyncio broadcast, {subscribers} subs"
    extra = {"subscribers": subscribers, "events": events}
    goal = f"p99 <= {P99_GOAL_MS:g} ms"
    return [
        Row(
            f"SSE publish -> last of {subscribers} subscribers, p50",
            ours.percentile(0.5),
            "ms",
            bare.percentile(0.5),
            label,
            extra=extra,
        ),
        Row(
            f"SSE publish -> last of {subscribers} subscribers, p99",
            ours.percentile(0.99),
            "ms",
            bare.percentile(0.99),
            label,
            goal=goal,
            met=ours.percentile(0.99) <= P99_GOAL_MS,
            extra=extra,
        ),
        Row(
            f"SSE publish -> last of {subscribers}, {ring:,} events in the log, p99",
            warm.percentile(0.99),
            "ms",
            bare.percentile(0.99),
            label,
            goal=goal,
            met=warm.percentile(0.99) <= P99_GOAL_MS,
            extra={**extra, "events_before": ring, "p50": warm.percentile(0.5)},
        ),
        Row(
            "SSE publish request (POST) alone, p50",
            statistics.median(ours.request_ms),
            "ms",
            statistics.median(bare.request_ms),
            "bare POST /publish (broadcast only)",
            extra={**extra, "ours": "full publish pipeline: load, validate, store, event"},
        ),
        Row(
            "SSE memory per idle connection",
            ours.kib_per_connection,
            "KiB",
            bare.kib_per_connection,
            label,
            extra=extra,
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    """``python -m benchmarks.bench_sse KIND URL PATH SUBSCRIBERS EVENTS PREFIX``: the load generator."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_sse")
    parser.add_argument("kind", choices=["ours", "bare"])
    parser.add_argument("url")
    parser.add_argument("path")
    parser.add_argument("subscribers", type=int)
    parser.add_argument("events", type=int)
    parser.add_argument("prefix", help="names of the published definitions start with this")
    args = parser.parse_args(argv)
    raise_open_files_limit(4 * args.subscribers + 1024)
    asyncio.run(generate_load(args.kind, args.url, args.path, args.subscribers, args.events, args.prefix))


if __name__ == "__main__":
    main()
