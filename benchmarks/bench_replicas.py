"""Scale-out: read throughput of two replicas against one, and event latency across replicas.

Two ``nestor-catalog serve`` processes (granian, one worker each, production JSON logging) share
one catalog of 10,000 definitions (1,000 with ``--quick``; ``bench_http``'s SQLite database,
copied) and a private Redis (``cache.type: redis``), as replicas behind a load balancer would.

- **Read throughput**: ``GET`` of an exact version. Two replicas: two ``wrk -t1 -c32`` at once,
  one per replica (a balancer pinning each connection to a replica), their req/s summed. The
  ceiling is one replica under ``wrk -t2 -c64``, measured in alternating rounds in the same
  run (best of each). The machine has 2 cores: ``wrk`` and the servers share them, so a second
  process can add little; the ratio says how much it adds here, not what more cores would give.
- **Event latency across replicas**: a definition published with ``POST /api/v1/resources`` on
  replica A, timed from the start of the request to the moment an SSE subscriber on replica B
  reads its frame; one event at a time, each after a random pause of up to one poll interval
  (so publishes do not fall in step with the poller). First through Redis (the stream), then
  with Redis stopped (polling the store's log every 0.5 s). The ceiling is the same event
  reaching a subscriber on A itself (no cross-replica hop), measured on the same events.
  p50 and p99.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx

from benchmarks._harness import Context, Row
from benchmarks.bench_http import Load, _prepare_database, measure, wrk_available

CONNECTIONS: Final = 64
EVENT_TIMEOUT: Final = 30.0
_RPS = re.compile(r"Requests/sec:\s+([0-9.]+)")


# --------------------------------------------------------------------------------------------- setup


def _database(ctx: Context, count: int) -> Path:
    """A private copy of ``bench_http``'s catalog (this benchmark writes into it)."""
    source = _prepare_database(ctx, count)
    folder = ctx.workdir / "bench_replicas"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"replicas-{count}.db"
    for stale in folder.glob(f"replicas-{count}.db*"):
        stale.unlink()
    shutil.copy(source, target)
    return target


def _config(database: Path, redis_url: str) -> dict[str, Any]:
    return {
        "logging": {"level": "info", "format": "json"},
        "storage": {"type": "sqlite", "sqlite": {"path": str(database), "synchronous": "normal"}},
        "cache": {"type": "redis", "redis": {"url": redis_url, "stream": f"bench:{database.stem}:events"}},
        "sse": {"heartbeat_interval": "5s"},
    }


@contextlib.contextmanager
def _replicas(ctx: Context, database: Path, redis_url: str) -> Iterator[tuple[Any, Any]]:
    from tests.support.server import run_server

    folder = ctx.workdir / "bench_replicas"
    config = _config(database, redis_url)
    with (
        run_server(config, workdir=folder / "a", startup_timeout=180) as first,
        run_server(config, workdir=folder / "b", startup_timeout=180) as second,
    ):
        for server in (first, server_b := second):
            server.wait_ready(180)
        _wait_mode(first, "streaming")
        _wait_mode(server_b, "streaming")
        yield first, second


def _mode(server: Any) -> str:
    with server.client() as client:
        mode: str = client.get("/api/v1/status").json()["components"]["redis"]["mode"]
        return mode


def _wait_mode(server: Any, mode: str) -> None:
    deadline = time.monotonic() + 60
    while _mode(server) != mode:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.url} never reached redis mode {mode!r}")
        time.sleep(0.05)


def _exact_path(server: Any) -> str:
    with server.client() as client:
        item = client.get("/api/v1/search", params={"q": "mysql", "limit": 1}).json()["items"][0]["metadata"]
    return f"/api/v1/resources/{item['name']}/{item['version']}"


# --------------------------------------------------------------------------------------------- throughput


def _measure_pair(urls: tuple[str, str], seconds: float) -> Load:
    """Two ``wrk -t1 -c32`` at once, one per URL; their req/s summed."""
    half = CONNECTIONS // 2
    for url in urls:
        subprocess.run(["wrk", "-t1", f"-c{half}", "-d1s", url], check=True, capture_output=True)
    processes = [
        subprocess.Popen(
            ["wrk", "-t1", f"-c{half}", f"-d{seconds:g}s", url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for url in urls
    ]
    total = 0.0
    for process in processes:
        out, err = process.communicate(timeout=seconds + 60)
        found = _RPS.search(out)
        if process.returncode != 0 or found is None:
            raise RuntimeError(f"wrk failed:\n{out}\n{err}")
        total += float(found.group(1))
    return Load(total, 0, "2 x wrk -t1 -c32")


# --------------------------------------------------------------------------------------------- latency


@dataclass
class Subscriber:
    """Reads one replica's event stream; resolves ``waiting[name]`` when that resource arrives."""

    url: str
    waiting: dict[str, asyncio.Future[float]] = field(default_factory=dict)
    open: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        async with (
            httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None)) as client,
            client.stream("GET", f"{self.url}/api/v1/events") as response,
        ):
            self.open.set()
            async for line in response.aiter_lines():
                if not line.startswith("data: "):
                    continue
                arrived = time.perf_counter()
                name = json.loads(line[6:]).get("metadata", {}).get("name")
                future = self.waiting.pop(name, None) if isinstance(name, str) else None
                if future is not None and not future.done():
                    future.set_result(arrived)


@dataclass
class Latencies:
    across: list[float] = field(default_factory=list)  # A -> B, ms
    local: list[float] = field(default_factory=list)  # A -> A, ms


def _definition_yaml(name: str) -> bytes:
    from tests.server.api.builders import as_yaml, definition

    return as_yaml(definition(name, "1.0.0"))


async def _latencies(writer: str, reader: str, label: str, count: int, spacing: float) -> Latencies:
    """``count`` events, one at a time, each after a random pause of up to ``spacing`` seconds
    (otherwise every publish would follow the previous arrival, in step with the poller)."""
    pauses = random.Random(count)
    local, remote = Subscriber(writer), Subscriber(reader)
    tasks = [asyncio.create_task(local.run()), asyncio.create_task(remote.run())]
    result = Latencies()
    try:
        await asyncio.wait_for(asyncio.gather(local.open.wait(), remote.open.wait()), EVENT_TIMEOUT)
        loop = asyncio.get_running_loop()
        async with httpx.AsyncClient(base_url=writer, timeout=30.0) as client:
            for index in range(count):
                await asyncio.sleep(pauses.uniform(0, spacing))
                name = f"bench-{label}-{index}-{int(time.time() * 1000) % 1_000_000}"
                here, there = loop.create_future(), loop.create_future()
                local.waiting[name], remote.waiting[name] = here, there
                started = time.perf_counter()
                response = await client.post(
                    "/api/v1/resources", content=_definition_yaml(name), headers={"Content-Type": "application/yaml"}
                )
                response.raise_for_status()
                arrived_here, arrived_there = await asyncio.wait_for(asyncio.gather(here, there), EVENT_TIMEOUT)
                result.local.append((arrived_here - started) * 1000)
                result.across.append((arrived_there - started) * 1000)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return result


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _latency_rows(path: str, measured: Latencies, extra: dict[str, Any]) -> list[Row]:
    rows = []
    for label, share in (("p50", 0.5), ("p99", 0.99)):
        rows.append(
            Row(
                benchmark=f"event latency replica A -> SSE on B, {path}, {label}",
                figure=_percentile(measured.across, share),
                unit="ms",
                ceiling=_percentile(measured.local, share),
                ceiling_label="same event, SSE on A itself",
                extra={**extra, "events": len(measured.across), "mean_ms": round(statistics.fmean(measured.across), 2)},
            )
        )
    return rows


# --------------------------------------------------------------------------------------------- run


def run(ctx: Context) -> list[Row]:
    from tests.support.redis import RedisServer

    from nestor_catalog_server.scaleout.redis_bus import POLLING_INTERVAL

    if not wrk_available():
        print("bench_replicas: wrk is not installed (scripts/ensure-bench-tools); skipped", file=sys.stderr)
        return []
    count = ctx.scale(10_000, 1_000)
    seconds = 2.0 if ctx.quick else 5.0
    rounds = 2 if ctx.quick else 3
    events = ctx.scale(100, 20)
    database = _database(ctx, count)
    redis = RedisServer.start()
    try:
        with _replicas(ctx, database, redis.url) as (first, second):
            path = _exact_path(first)
            one: list[Load] = []
            two: list[Load] = []
            for _round in range(rounds):
                one.append(measure(first.url + path, seconds))
                two.append(_measure_pair((first.url + path, second.url + path), seconds))
            streamed = asyncio.run(_latencies(first.url, second.url, "redis", events, POLLING_INTERVAL))
            redis.stop()
            _wait_mode(first, "polling")
            _wait_mode(second, "polling")
            polled = asyncio.run(_latencies(first.url, second.url, "polling", events, POLLING_INTERVAL))
    finally:
        redis.close()
    best_one, best_two = max(one, key=lambda load: load.rps), max(two, key=lambda load: load.rps)
    throughput = Row(
        benchmark=f"GET exact version, 2 replicas vs 1 ({count:,} defs, 2-core machine)",
        figure=best_two.rps,
        unit="req/s",
        ceiling=best_one.rps,
        ceiling_label="1 replica, wrk -t2 -c64",
        extra={"load": best_two.tool, "rounds": rounds, "cores": _cores()},
    )
    return [
        throughput,
        *_latency_rows("via redis stream", streamed, {}),
        *_latency_rows("via polling (redis down)", polled, {"poll_interval_ms": POLLING_INTERVAL * 1000}),
    ]


def _cores() -> int:
    return os.cpu_count() or 0
