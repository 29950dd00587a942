"""The client side: reads through a sidecar vs straight from the central server, the client
library's own cost, and how fast a mirror catches up.

A real central server (granian, SQLite) holds 1,000 names with two versions each (200 with
``--quick``); a real sidecar process (``nestor-catalog serve --upstream``) mirrors it on the same
machine. Rows, each beside a ceiling measured in the same run:

- **GET an exact version through the sidecar vs from the central server**: latency p50 and p99
  over sequential keep-alive requests (alternating between the two, so a busy neighbour hits
  both alike), and throughput under ``wrk -t2 -c64`` (``benchmarks.bench_http.measure``).
  Goal: the sidecar costs no more than the central server (ratio <= 1.1); its point is to be
  near the consumer and to survive the central server's outages.
- **Embedded ``Mirror.get``** (an in-process dict lookup) vs the central server's HTTP p50.
- **``CatalogClient.get_resource``** of an exact version (ETag revalidation; the parsed model is
  kept with the cached body) vs a bare ``httpx.Client.get`` of the same URL: the library's
  overhead. Goal: <= 1.25x.
- **Catch-up after 1,000 missed events** (200 with ``--quick``): a mirror restarted from its
  SQLite snapshot while 1,000 versions were published upstream, until it has applied them all;
  the alternative is building the copy from scratch by listing every name and version (the
  upstream's event log trimmed so no replay is possible). Goal: catching up beats re-listing.
  A full copy by replaying the whole event log is reported too.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import httpx

from benchmarks._harness import Context, Row, median_us
from benchmarks.bench_http import measure
from nestor_catalog_client import CatalogClient, Mirror
from nestor_catalog_core import Catalog, Source, SourceKind
from nestor_catalog_core.storage import open_store

SOURCE: Final = Source(kind=SourceKind.API, user="bench")
EXACT: Final = "/api/v1/resources/res-00007/1.1.0"
WAIT: Final = 120.0


def _definition(name: str, version: str, optional: int) -> Any:
    from tests.client.helpers import definition

    return definition(name, version, optional=[f"extra_{i}" for i in range(optional)])


async def _publish(database: Path, names: list[str], versions: tuple[str, ...], *, trim: int | None = None) -> int:
    catalog = Catalog(open_store(f"sqlite:///{database}?synchronous=normal"))
    await catalog.start()
    try:
        for name in names:
            for index, version in enumerate(versions):
                await catalog.publish(_definition(name, version, index), source=SOURCE)
        if trim is not None:
            await catalog.store.trim_events(keep_last=trim)
        return catalog.revision
    finally:
        await catalog.close()


def _config(folder: Path, database: Path | None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "logging": {"level": "info"},
        "sse": {"heartbeat_interval": "5s", "retry": "200ms"},
        "service": {"data_dir": str(folder / "data")},
    }
    if database is not None:
        config["storage"] = {"type": "sqlite", "sqlite": {"path": str(database)}}
    return config


@contextmanager
def _servers(ctx: Context, names: int) -> Iterator[tuple[Any, Any, Path, int]]:
    from tests.support.server import run_server

    folder = ctx.workdir / "client"
    for old in folder.rglob("*.db*"):
        old.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    database = folder / "upstream.db"
    started = time.perf_counter()
    head = asyncio.run(_publish(database, [f"res-{i:05}" for i in range(names)], ("1.0.0", "1.1.0")))
    print(f"bench_client: {head} events published in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    with run_server(_config(folder / "upstream", database), workdir=folder / "upstream") as upstream:
        sidecar_dir = folder / "sidecar"
        with run_server(_config(sidecar_dir, None), workdir=sidecar_dir, args=["--upstream", upstream.url]) as side:
            side.wait_ready(WAIT)
            yield upstream, side, database, head


def _latencies(urls: dict[str, str], count: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {key: [] for key in urls}
    with httpx.Client(timeout=10.0) as http:
        for _ in range(200):
            for url in urls.values():
                http.get(url).raise_for_status()
        for _ in range(count):
            for key, url in urls.items():
                started = time.perf_counter()
                response = http.get(url)
                samples[key].append((time.perf_counter() - started) * 1e3)
                response.raise_for_status()
    return samples


def _percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1]


def _read_rows(ctx: Context, upstream: Any, sidecar: Any) -> list[Row]:
    urls = {"central": upstream.url + EXACT, "sidecar": sidecar.url + EXACT}
    samples = _latencies(urls, ctx.scale(3000, 500))
    rows = []
    for q in (50, 99):
        ours, ceiling = _percentile(samples["sidecar"], q), _percentile(samples["central"], q)
        rows.append(
            Row(
                f"GET exact version via sidecar, p{q} latency",
                ours,
                "ms",
                ceiling,
                "central server, same request",
                "<= 1.1x central",
                ours <= 1.1 * ceiling,
            )
        )
    seconds = ctx.scale(5, 2)
    best: dict[str, float] = {"central": 0.0, "sidecar": 0.0}
    tool = ""
    for _ in range(ctx.scale(3, 2)):
        for key, url in urls.items():
            load = measure(url, seconds)
            best[key] = max(best[key], load.rps)
            tool = load.tool
    rows.append(
        Row(
            "GET exact version via sidecar, throughput",
            best["sidecar"],
            "req/s",
            best["central"],
            "central server, same request",
            ">= 0.9x central",
            best["sidecar"] >= 0.9 * best["central"],
            extra={"load": tool},
        )
    )
    return rows


def _embedded_row(upstream: Any, central_p50_ms: float) -> Row:
    async def measure_mirror() -> float:
        async with asyncio.timeout(WAIT), Mirror(upstream.url) as mirror:
            return median_us(lambda: mirror.get("res-00007", "1.1.0"), number=20_000)

    ours = asyncio.run(measure_mirror())
    return Row(
        "Mirror.get exact version (embedded, in-process)",
        ours,
        "us",
        central_p50_ms * 1000,
        "central server HTTP p50",
        "",
        None,
    )


def _client_overhead_row(upstream: Any) -> Row:
    with CatalogClient(upstream.url) as client, httpx.Client(base_url=upstream.url, timeout=10.0) as bare:
        for _ in range(200):
            client.get_resource("res-00007", "1.1.0")
            bare.get(EXACT)
        ours, ceiling = _interleaved(
            lambda: client.get_resource("res-00007", "1.1.0"), lambda: bare.get(EXACT).raise_for_status()
        )
        hits = client.cache.hits if client.cache is not None else 0
    return Row(
        "CatalogClient.get_resource exact (ETag 304, parsed once)",
        ours,
        "us",
        ceiling,
        "bare httpx GET of the same URL",
        "<= 1.25x bare httpx",
        ours <= 1.25 * ceiling,
        extra={"cache_hits": hits},
    )


def _interleaved(ours: Callable[[], Any], ceiling: Callable[[], Any], *, number: int = 200) -> tuple[float, float]:
    """Median microseconds per call of each, measured in alternating batches so that a busy
    neighbour slows both alike."""
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(9):
        for fn, out in ((ours, samples[0]), (ceiling, samples[1])):
            started = time.perf_counter()
            for _ in range(number):
                fn()
            out.append((time.perf_counter() - started) / number * 1e6)
    return statistics.median(samples[0]), statistics.median(samples[1])


def _timed_mirror(upstream_url: str, revision: int, **options: Any) -> tuple[float, dict[str, Any]]:
    async def build() -> tuple[float, dict[str, Any]]:
        started = time.perf_counter()
        async with asyncio.timeout(WAIT), Mirror(upstream_url, **options) as mirror:
            await mirror.wait_for(revision)
            elapsed = time.perf_counter() - started
            return elapsed, mirror.status().to_dict()

    return asyncio.run(build())


def _wait_revision(url: str, revision: int) -> None:
    deadline = time.monotonic() + WAIT
    with CatalogClient(url) as client:
        while client.status()["revision"] < revision:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the upstream never reached revision {revision}")
            time.sleep(0.05)


def _catch_up_rows(ctx: Context, upstream: Any, database: Path, head: int) -> list[Row]:
    snapshot = ctx.workdir / "client" / "catch-up-mirror.db"
    replay_seconds, _ = _timed_mirror(upstream.url, head, persist=snapshot, flush_interval=0.05)
    missed = ctx.scale(1000, 200)
    new_head = asyncio.run(_publish(database, [f"missed-{i:05}" for i in range(missed)], ("1.0.0",)))
    _wait_revision(upstream.url, new_head)
    catch_up, status = _timed_mirror(upstream.url, new_head, persist=snapshot, flush_interval=0.05)
    asyncio.run(_publish(database, [], (), trim=1))
    listing, listed = _timed_mirror(upstream.url, new_head)
    return [
        Row(
            f"mirror catch-up after {missed:,} missed events (from its snapshot)",
            catch_up * 1000,
            "ms",
            listing * 1000,
            "full copy by listing every name and version",
            "< listing",
            catch_up < listing,
            extra={"events": missed, "full_syncs": status["full_syncs"], "listed_full_syncs": listed["full_syncs"]},
        ),
        Row(
            f"mirror full copy by replaying the event log ({head:,} events)",
            replay_seconds * 1000,
            "ms",
            listing * 1000,
            "full copy by listing every name and version",
            "",
            None,
        ),
    ]


def run(ctx: Context) -> list[Row]:
    names = ctx.scale(1000, 200)
    with _servers(ctx, names) as (upstream, sidecar, database, head):
        rows = _read_rows(ctx, upstream, sidecar)
        rows.append(_embedded_row(upstream, rows[0].ceiling or 0.0))
        rows.append(_client_overhead_row(upstream))
        rows.extend(_catch_up_rows(ctx, upstream, database, head))
    for row in rows:
        row.extra.setdefault("names", names)
    return rows
