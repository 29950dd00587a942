"""Soak: a real server under mixed reads while a git repository moves, on SQLite and on DynamoDB
(moto_server) + Redis. Not a timed test: it prints what held over the run.

For each backend, ``nestor-catalog serve`` syncs a repository served by ``git daemon``; for 10
minutes (1 with ``--quick``) readers loop over four read kinds (``exact``: one version,
``latest``, ``list``: a filtered list, ``search``), SSE subscribers come and go (each reads the
stream for a few seconds from the sequence it last saw, then closes), and every 15 s a commit
adds a version and is announced by a signed webhook. Printed per backend:

- errors (goal 0): non-2xx answers, transport errors, an SSE stream that broke, and a push whose
  version never became readable;
- RSS of the server's process group at the start and the end (goal: end within 10% of start);
- p99 latency per read kind over each minute (the first minute is the ceiling the later ones are
  compared with, as a ratio).

Run alone: ``python -m benchmarks.bench_soak [--quick] [--backend sqlite|dynamodb]``; within the
suite: ``python -m benchmarks --only soak [--quick]``. Redis comes from ``REDIS_URL`` (default
``redis://127.0.0.1:6379/0``); without moto_server the DynamoDB run is reported as not run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import httpx

from benchmarks._harness import Context, Row, print_table

SECRET: Final = "soak-webhook-secret-0123456789"
PUSH_INTERVAL: Final = 15.0
READERS: Final = 4
SUBSCRIBERS: Final = 2
KINDS: Final = ("exact", "latest", "list", "search")
RSS_GOAL: Final = 1.10


@dataclass
class Tally:
    """What the load saw: latencies by (minute, kind), errors by kind, SSE events received."""

    started: float = field(default_factory=time.monotonic)
    minutes: int = 1
    latencies: dict[tuple[int, str], list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    samples: list[str] = field(default_factory=list)
    sse_events: int = 0
    sse_sessions: int = 0
    pushes: int = 0

    def minute(self) -> int:
        """The minute of the run, 0-based; the last few requests past the end count in the last."""
        return min(int((time.monotonic() - self.started) // 60), self.minutes - 1)

    def error(self, kind: str, what: str) -> None:
        self.errors[kind] += 1
        if len(self.samples) < 10:
            self.samples.append(f"{kind}: {what}")


def _definition(name: str, version: str) -> str:
    from tests.server.api.builders import definition

    body = definition(name, version, description=f"soak resource {name} {version}", category="queue")
    return json.dumps(body, indent=2)


def process_group_rss_mb(pgid: int) -> float:
    """Resident memory of every process in group ``pgid`` (the server and its workers), MB."""
    total = 0
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) == pgid:
                total += int(fields[21]) * page
    return total / 1e6


async def _reader(client: httpx.AsyncClient, tally: Tally, names: list[str], stop: asyncio.Event) -> None:
    rng = random.Random()
    while not stop.is_set():
        kind = rng.choice(KINDS)
        name = rng.choice(names)
        if kind == "exact":
            request = client.get(f"/api/v1/resources/{name}/1.0.0")
        elif kind == "latest":
            request = client.get(f"/api/v1/resources/{name}/latest")
        elif kind == "list":
            request = client.get("/api/v1/resources", params={"provider": "aws", "category": "queue", "limit": 20})
        else:
            request = client.get("/api/v1/search", params={"q": "soak queue", "limit": 10})
        start = time.perf_counter()
        try:
            response = await request
        except httpx.HTTPError as exc:
            tally.error(kind, f"{type(exc).__name__}: {exc}")
            continue
        elapsed = time.perf_counter() - start
        if response.status_code != 200:
            tally.error(kind, f"{response.status_code} {response.text[:200]}")
            continue
        tally.latencies[(tally.minute(), kind)].append(elapsed)


async def _subscriber(client: httpx.AsyncClient, tally: Tally, stop: asyncio.Event) -> None:
    """Come and go: read the stream for a few seconds from the last sequence seen, then close."""
    rng = random.Random()
    last = "0"
    while not stop.is_set():
        tally.sse_sessions += 1
        try:
            async with asyncio.timeout(rng.uniform(2.0, 6.0)):
                headers = {"Last-Event-ID": last}
                async with client.stream("GET", "/api/v1/events", headers=headers, timeout=None) as stream:
                    if stream.status_code != 200:
                        tally.error("sse", f"{stream.status_code}")
                        await asyncio.sleep(1.0)
                        continue
                    async for line in stream.aiter_lines():
                        if line.startswith("id: "):
                            last = line.removeprefix("id: ")
                            tally.sse_events += 1
        except TimeoutError:
            continue  # the planned goodbye
        except httpx.HTTPError as exc:
            tally.error("sse", f"{type(exc).__name__}: {exc}")
        await asyncio.sleep(rng.uniform(0.1, 1.0))


async def _pusher(repo: Any, client: httpx.AsyncClient, tally: Tally, stop: asyncio.Event) -> None:
    from nestor_catalog_server.sync import sign_payload

    index = 0
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(PUSH_INTERVAL):
                await stop.wait()
        if stop.is_set():
            return
        index += 1
        version = f"1.{index}.0"
        repo.work.write(f"resources/soak-queue-00-{version}.json", _definition("soak-queue-00", version))
        sha = await asyncio.to_thread(repo.publish, f"soak push {index}")
        body = json.dumps({"ref": "refs/heads/main", "after": sha}).encode()
        headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": sign_payload(SECRET, body)}
        tally.pushes += 1
        try:
            answer = await client.post("/api/v1/webhooks/github/platform", content=body, headers=headers)
            if answer.status_code != 202:
                tally.error("push", f"webhook {answer.status_code}")
                continue
            deadline = time.monotonic() + PUSH_INTERVAL
            while (await client.get(f"/api/v1/resources/soak-queue-00/{version}")).status_code != 200:
                if time.monotonic() > deadline:
                    tally.error("push", f"{version} not readable {PUSH_INTERVAL:g}s after its push")
                    break
                await asyncio.sleep(0.1)
        except httpx.HTTPError as exc:
            tally.error("push", f"{type(exc).__name__}: {exc}")


async def _load(server: Any, repo: Any, names: list[str], seconds: float) -> Tally:
    tally = Tally(minutes=max(1, round(seconds / 60)))
    stop = asyncio.Event()
    limits = httpx.Limits(max_connections=READERS + SUBSCRIBERS + 4)
    async with httpx.AsyncClient(base_url=server.url, timeout=30.0, limits=limits) as client:
        tasks = [asyncio.create_task(_reader(client, tally, names, stop)) for _ in range(READERS)]
        tasks += [asyncio.create_task(_subscriber(client, tally, stop)) for _ in range(SUBSCRIBERS)]
        tasks.append(asyncio.create_task(_pusher(repo, client, tally, stop)))
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.gather(*tasks)
    return tally


@contextlib.contextmanager
def _backend(name: str, workdir: Path) -> Iterator[tuple[dict[str, Any], dict[str, str]] | None]:
    """The storage (and cache) configuration and environment for ``name``; None when it cannot run."""
    if name == "sqlite":
        yield {"storage": {"type": "sqlite", "sqlite": {"synchronous": "normal"}}}, {}
        return
    from tests.support.moto import AWS_ENV, REGION, MotoServer, MotoUnavailable, unique_table_name

    try:
        moto = MotoServer.start()
    except MotoUnavailable as exc:
        print(f"soak on dynamodb not run: {exc}")
        yield None
        return
    with moto:
        redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
        prefix = f"soak-{uuid.uuid4().hex[:8]}"
        table = unique_table_name("nestor-soak")
        config = {
            "storage": {
                "type": "dynamodb",
                "dynamodb": {"table_name": table, "region": REGION, "endpoint": moto.endpoint, "create_table": True},
            },
            "cache": {"type": "redis", "redis": {"url": redis_url, "stream": f"{prefix}:events", "key_prefix": prefix}},
        }
        yield config, dict(AWS_ENV)


def soak(backend: str, workdir: Path, seconds: float, resources: int = 50) -> tuple[Tally, float, float] | None:
    """One soak run; (tally, RSS at start, RSS at end) or None when the backend cannot run."""
    from tests.support.git import ServedRepo, git_daemon
    from tests.support.server import run_server

    folder = workdir / f"soak-{backend}-{uuid.uuid4().hex[:6]}"
    repo = ServedRepo.create(folder / "served", folder / "work", "platform.git")
    names = [f"soak-queue-{index:02d}" for index in range(resources)]
    for name in names:
        repo.work.write(f"resources/{name}.json", _definition(name, "1.0.0"))
    repo.publish("soak seed")
    with git_daemon(folder / "served") as base_url, _backend(backend, folder) as prepared:
        if prepared is None:
            return None
        storage, env = prepared
        config = {
            "logging": {"format": "json", "level": "warning"},
            "sse": {"heartbeat_interval": "5s", "max_connections": 100},
            "git": {
                "repositories": [
                    {
                        "name": "platform",
                        "url": repo.url(base_url),
                        "path": "resources",
                        "poll_interval": "60s",
                        "webhook_secret": SECRET,
                    }
                ]
            },
            **storage,
        }
        with run_server(config, env=env, workdir=folder / "server", startup_timeout=180) as server:
            server.wait_ready(180)
            rss_start = process_group_rss_mb(server.process.pid)
            tally = asyncio.run(_load(server, repo, names, seconds))
            rss_end = process_group_rss_mb(server.process.pid)
    return tally, rss_start, rss_end


def _p99_ms(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] * 1000 if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[98] * 1000


def rows_of(backend: str, result: tuple[Tally, float, float]) -> list[Row]:
    tally, rss_start, rss_end = result
    errors = sum(tally.errors.values())
    growth = rss_end / rss_start if rss_start else 0.0
    rows = [
        Row(
            f"soak {backend}: errors ({tally.pushes} pushes, {tally.sse_sessions} SSE sessions)",
            float(errors),
            "errors",
            goal="0",
            met=errors == 0,
            extra={"by_kind": dict(tally.errors), "samples": tally.samples, "sse_events": tally.sse_events},
        ),
        Row(
            f"soak {backend}: RSS end vs start (process group)",
            round(rss_end, 1),
            "MB",
            ceiling=round(rss_start, 1),
            ceiling_label="RSS at start",
            goal=f"<= {RSS_GOAL:.2f}x",
            met=growth <= RSS_GOAL,
        ),
    ]
    minutes = sorted({minute for minute, _kind in tally.latencies})
    for kind in KINDS:
        per_minute = [_p99_ms(tally.latencies.get((minute, kind), [])) for minute in minutes]
        if not per_minute:
            continue
        first = per_minute[0] or None
        rows.append(
            Row(
                f"soak {backend}: p99 {kind}, last minute vs first",
                round(per_minute[-1], 2),
                "ms",
                ceiling=round(first, 2) if first else None,
                ceiling_label="p99 of the first minute",
                extra={
                    "p99_ms_by_minute": [round(value, 2) for value in per_minute],
                    "requests": sum(len(tally.latencies.get((m, kind), [])) for m in minutes),
                },
            )
        )
    return rows


def run(ctx: Context, backends: tuple[str, ...] = ("sqlite", "dynamodb"), minutes: float | None = None) -> list[Row]:
    seconds = 60.0 * (minutes if minutes is not None else (1 if ctx.quick else 10))
    rows: list[Row] = []
    for backend in backends:
        result = soak(backend, ctx.workdir, seconds)
        if result is None:
            rows.append(Row(f"soak {backend}: not run", 0.0, "", goal="runs", met=False))
            continue
        rows.extend(rows_of(backend, result))
        for row in rows[-(len(KINDS) + 2) :]:
            if "p99" in row.benchmark:
                print(f"{row.benchmark}: p99 ms by minute {row.extra['p99_ms_by_minute']}")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_soak")
    parser.add_argument("--quick", action="store_true", help="1 minute per backend instead of 10")
    parser.add_argument("--backend", choices=("sqlite", "dynamodb"), action="append", help="repeatable; default both")
    parser.add_argument("--minutes", type=float, help="override the duration per backend")
    args = parser.parse_args(argv)
    ctx = Context(quick=args.quick)
    ctx.workdir.mkdir(parents=True, exist_ok=True)
    rows = run(ctx, tuple(args.backend or ("sqlite", "dynamodb")), args.minutes)
    print_table(rows)
    return 0 if all(row.met is not False for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
