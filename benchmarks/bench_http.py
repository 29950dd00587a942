"""HTTP throughput of the catalog with 10,000 definitions (1,000 with ``--quick``).

Four reads, each beside a ceiling measured in the same run: a bare Litestar app whose handler
for the same path returns the same bytes (no middleware, no dependencies, no headers beyond
the content type), served by the same ASGI server (granian, one worker, the options
``nestor-catalog serve`` uses). The load generator is ``wrk -t2 -c64`` (5 s per measurement,
2 s with ``--quick``, after a 1 s warm-up). All servers run at once and the measurements
alternate (ours, then the ceiling, endpoint by endpoint, three rounds; two with ``--quick``),
keeping the best of each, so a busy neighbour on a shared machine hits both sides alike. Goal
from the issues: every read at >= 80% of the bare endpoint.

- ``GET /api/v1/resources/{name}/{version}``: the hot path (the cached body, ETag, immutable
  caching headers, request id, metrics, access log);
- ``GET /api/v1/resources/{name}``: latest;
- ``GET /api/v1/resources?limit=50``: a page of the list (50 cached bodies joined);
- ``GET /api/v1/resources?category=database&limit=20``: a filtered page (a slice of the
  selection the read model keeps for that filter: its cost grows with the page, not the catalog);
- ``GET /api/v1/search?q=mysql&limit=20``: a ranked search.

Also the measurement behind the choice of ASGI server: the bare exact-version endpoint under
granian vs uvicorn (one worker each, uvicorn with its fastest installed loop and parser).

And a bulk read: every definition as pages of 1,000 (``GET /api/v1/resources?limit=1000``,
following each page's cursor: the ``Link: <...>; rel="next"`` header, which carries the body's
``next_cursor``), with one keep-alive ``httpx.Client``, wall time for the whole walk. Ceiling:
``GET /api/v1/export`` of the same versions (one streamed NDJSON response) from the same server,
alternating with the walk, three rounds, the best of each kept, after one walk that warms the
read model's bodies (reported as ``first_walk_s``). Goal (issue 13): <= 0.3 s at 10,000.

With ``BENCH_SERVE_LARGE=1`` (the opt-in of ``bench_serve``'s 100,000-definition rows; skipped
with ``--quick``) the filtered list and the search are measured at 100,000 definitions too,
against the same bare endpoint: the cost of a page grows with the page, not the catalog.

The definitions are ``bench_validate``'s generator; they are published into SQLite once with
``nestor-catalog sync --once`` and reused by later runs. Our server runs with the production
logging (JSON, info: one access-log line per request, to a file).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
import yaml
from litestar import Litestar, Request, Response, get

from benchmarks._harness import Context, Row
from benchmarks.bench_serve import LARGE_ENV
from benchmarks.bench_validate import generate

GOAL: Final = 0.80
WALK_GOAL_S: Final = 0.3
WALK_PAGE: Final = 1000
LARGE: Final = 100_000
LARGE_ENDPOINTS: Final = ("filtered", "search")
CONNECTIONS: Final = 64
THREADS: Final = 2
BODIES_ENV: Final = "BENCH_HTTP_BODIES"
ROOT: Final = Path(__file__).resolve().parent.parent
ENDPOINTS: Final = ("exact", "latest", "list", "filtered", "search")
_LABELS: Final = {
    "exact": "GET exact version",
    "latest": "GET latest",
    "list": "GET list (limit=50)",
    "filtered": "GET list category=database (limit=20)",
    "search": "GET search q=mysql (limit=20)",
}
_RPS = re.compile(r"Requests/sec:\s+([0-9.]+)")
_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")


# --------------------------------------------------------------------------------------------- the ceiling


def create_bare_app() -> Litestar:
    """The ceiling: the same paths answering the bytes our server answered, and nothing else."""
    folder = Path(os.environ[BODIES_ENV])
    bodies = {name: (folder / f"{name}.json").read_bytes() for name in ENDPOINTS}

    @get("/api/v1/resources/{name:str}/{version:str}", sync_to_thread=False)
    def exact(name: str, version: str) -> Response[bytes]:
        return Response(content=bodies["exact"], media_type="application/json")

    @get("/api/v1/resources/{name:str}", sync_to_thread=False)
    def latest(name: str) -> Response[bytes]:
        return Response(content=bodies["latest"], media_type="application/json")

    @get("/api/v1/resources", sync_to_thread=False)
    def listing(request: Request[Any, Any, Any]) -> Response[bytes]:
        body = bodies["filtered"] if b"category=" in request.scope["query_string"] else bodies["list"]
        return Response(content=body, media_type="application/json")

    @get("/api/v1/search", sync_to_thread=False)
    def search() -> Response[bytes]:
        return Response(content=bodies["search"], media_type="application/json")

    @get("/health", sync_to_thread=False)
    def health() -> Response[bytes]:
        return Response(content=b'{"status":"ok"}', media_type="application/json")

    return Litestar([exact, latest, listing, search, health], logging_config=None, openapi_config=None)


# --------------------------------------------------------------------------------------------- data


def _prepare_database(ctx: Context, count: int) -> Path:
    """A SQLite catalog holding ``count`` generated definitions (built once, then reused)."""
    folder = ctx.workdir / "bench_http"
    database = folder / f"catalog-{count}.db"
    marker = folder / f"catalog-{count}.complete"
    if marker.exists() and database.exists():
        return database
    for stale in folder.glob(f"catalog-{count}.db*"):
        stale.unlink()
    definitions = folder / f"definitions-{count}"
    generate(definitions, count)
    config = folder / f"sync-{count}.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "service": {"data_dir": str(folder / "data")},
                "logging": {"level": "warning"},
                "storage": {"type": "sqlite", "sqlite": {"path": str(database), "synchronous": "normal"}},
                "git": {"directories": [{"name": "bench", "path": str(definitions)}]},
            }
        )
    )
    started = time.perf_counter()
    subprocess.run([*_cli(), "sync", "--config", str(config), "--once"], check=True, stdout=subprocess.DEVNULL)
    print(f"published {count} definitions in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    marker.touch()
    return database


def _cli() -> list[str]:
    from tests.support.server import server_command

    return server_command()


# --------------------------------------------------------------------------------------------- load


@dataclass(frozen=True)
class Load:
    rps: float
    errors: int
    tool: str


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def measure(url: str, seconds: float) -> Load:
    """Requests per second ``url`` sustains under ``wrk -t2 -c64`` (after a 1 s warm-up)."""
    if not wrk_available():
        return asyncio.run(_httpx_load(url, seconds))
    subprocess.run(["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", "-d1s", url], check=True, capture_output=True)
    result = subprocess.run(
        ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds:g}s", url], check=True, capture_output=True, text=True
    )
    rps = _RPS.search(result.stdout)
    if rps is None:
        raise RuntimeError(f"cannot read wrk's output:\n{result.stdout}\n{result.stderr}")
    errors = _NON_2XX.search(result.stdout)
    return Load(float(rps.group(1)), int(errors.group(1)) if errors else 0, "wrk")


async def _httpx_load(url: str, seconds: float) -> Load:
    """The fallback without wrk: 64 keep-alive connections in one process (much slower than wrk;
    the ratio is still same-run, the absolute figures are not comparable)."""
    done = 0
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(limits=limits, timeout=10.0) as client:

        async def worker() -> None:
            nonlocal done, errors
            while time.perf_counter() < deadline:
                response = await client.get(url)
                done += 1
                errors += response.status_code >= 400

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
        elapsed = time.perf_counter() - started
    return Load(done / elapsed, errors, "httpx loop (wrk not installed)")


# --------------------------------------------------------------------------------------------- bulk read


def walk_pages(client: httpx.Client, limit: int = WALK_PAGE) -> tuple[int, int]:
    """Every definition as pages of ``limit``, following the next-page cursor (from the ``Link``
    header: the same cursor as the body's ``next_cursor``, without parsing megabytes of JSON on
    the client). Returns (pages, bytes)."""
    url: str | None = f"/api/v1/resources?limit={limit}"
    pages = size = 0
    while url is not None:
        response = client.get(url)
        response.raise_for_status()
        pages += 1
        size += len(response.content)
        found = _NEXT.search(response.headers.get("link", ""))
        url = found.group(1) if found else None
    return pages, size


def read_export(client: httpx.Client) -> int:
    """``GET /api/v1/export`` read to the end; returns its size in bytes."""
    with client.stream("GET", "/api/v1/export") as response:
        response.raise_for_status()
        return sum(len(chunk) for chunk in response.iter_bytes())


def _check_walk(client: httpx.Client, count: int) -> None:
    """The walk sees every definition once (checked outside the timing, bodies parsed)."""
    names: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": WALK_PAGE, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/resources", params=params).json()
        names += [item["metadata"]["name"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    if len(names) != count or len(set(names)) != count:
        raise RuntimeError(f"the walk saw {len(names)} items ({len(set(names))} names), expected {count}")


@dataclass(frozen=True)
class Walk:
    seconds: float
    export_seconds: float
    first_seconds: float
    pages: int
    size: int


def measure_walk(url: str, count: int, rounds: int) -> Walk:
    with httpx.Client(base_url=url, timeout=120.0) as client:
        started = time.perf_counter()
        walk_pages(client)  # the first walk builds most bodies (the read model keeps them)
        first = time.perf_counter() - started
        _check_walk(client, count)
        best_walk = best_export = float("inf")
        pages = size = 0
        for _round in range(rounds):
            started = time.perf_counter()
            pages, size = walk_pages(client)
            best_walk = min(best_walk, time.perf_counter() - started)
            started = time.perf_counter()
            read_export(client)
            best_export = min(best_export, time.perf_counter() - started)
    return Walk(best_walk, best_export, first, pages, size)


# --------------------------------------------------------------------------------------------- servers


@contextlib.contextmanager
def _bare_server(bodies: Path, *, server: str) -> Iterator[str]:
    """The bare app under ``granian`` or ``uvicorn`` (one worker); yields its base URL."""
    from tests.support.server import free_port

    port = free_port()
    target = "benchmarks.bench_http:create_bare_app"
    if server == "granian":
        command = [
            sys.executable, "-m", "granian", "--interface", "asgi", "--factory", "--workers", "1", "--http", "auto",
            "--no-ws", "--log-level", "warning", "--host", "127.0.0.1", "--port", str(port), target,
        ]  # fmt: skip
    else:
        command = [
            sys.executable, "-m", "uvicorn", "--factory", "--workers", "1", "--log-level", "warning",
            "--no-access-log", "--host", "127.0.0.1", "--port", str(port), target,
        ]  # fmt: skip
    env = {**os.environ, BODIES_ENV: str(bodies), "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{process.args!r} did not answer /health")


def _paths(client: httpx.Client) -> dict[str, str]:
    """The four request paths, on a resource that exists."""
    page = client.get("/api/v1/search", params={"q": "mysql", "limit": 1}).json()
    item = page["items"][0]["metadata"]
    return {
        "exact": f"/api/v1/resources/{item['name']}/{item['version']}",
        "latest": f"/api/v1/resources/{item['name']}",
        "list": "/api/v1/resources?limit=50",
        "filtered": "/api/v1/resources?category=database&limit=20",
        "search": "/api/v1/search?q=mysql&limit=20",
    }


def _save_bodies(client: httpx.Client, paths: dict[str, str], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, path in paths.items():
        response = client.get(path)
        response.raise_for_status()
        (folder / f"{name}.json").write_bytes(response.content)


def _server_config(database: Path) -> dict[str, Any]:
    return {
        "logging": {"level": "info", "format": "json"},
        "storage": {"type": "sqlite", "sqlite": {"path": str(database), "synchronous": "normal"}},
    }


# --------------------------------------------------------------------------------------------- run


def run(ctx: Context) -> list[Row]:
    if not wrk_available():
        print(
            "bench_http: wrk is not installed (scripts/ensure-bench-tools installs it); falling back to an httpx "
            "load loop in this process: the ratios still compare like with like, the req/s figures are much lower",
            file=sys.stderr,
        )
    count = ctx.scale(10_000, 1_000)
    rows = _measure(ctx, count, ENDPOINTS, walk=True, server_choice=True)
    if os.environ.get(LARGE_ENV) and not ctx.quick:
        rows += _measure(ctx, LARGE, LARGE_ENDPOINTS, walk=False, server_choice=False)
    return rows


def _measure(ctx: Context, count: int, endpoints: tuple[str, ...], *, walk: bool, server_choice: bool) -> list[Row]:
    """The throughput rows of ``endpoints`` at ``count`` definitions (and the walk, and the
    server-choice row, when asked)."""
    from tests.support.server import run_server

    seconds = 2.0 if ctx.quick else 5.0
    rounds = 2 if ctx.quick else 3
    database = _prepare_database(ctx, count)
    bodies = ctx.workdir / "bench_http" / f"bodies-{count}"
    ours: dict[str, list[Load]] = {name: [] for name in endpoints}
    bare: dict[str, list[Load]] = {name: [] for name in endpoints}
    uvicorn: list[Load] = []
    walked: Walk | None = None
    with run_server(_server_config(database), startup_timeout=600) as server, server.client() as client:
        paths = _paths(client)
        _save_bodies(client, paths, bodies)
        with contextlib.ExitStack() as stack:
            bare_url = stack.enter_context(_bare_server(bodies, server="granian"))
            uvicorn_url = stack.enter_context(_bare_server(bodies, server="uvicorn")) if server_choice else None
            for _round in range(rounds):
                for name in endpoints:
                    ours[name].append(measure(server.url + paths[name], seconds))
                    bare[name].append(measure(bare_url + paths[name], seconds))
                if uvicorn_url is not None:
                    uvicorn.append(measure(uvicorn_url + paths["exact"], seconds))
        if walk:
            walked = measure_walk(server.url, count, rounds)
    rows = [_row(name, ours[name], bare[name], count) for name in endpoints]
    if walked is not None:
        rows.append(_walk_row(walked, count))
    if server_choice:
        rows.append(_server_row(bare["exact"], uvicorn))
    return rows


def _walk_row(walk: Walk, count: int) -> Row:
    goal = count >= 10_000
    return Row(
        benchmark=f"every definition as pages of {WALK_PAGE:,} ({count:,} defs, {walk.pages} pages, HTTP)",
        figure=walk.seconds,
        unit="s",
        ceiling=walk.export_seconds,
        ceiling_label="GET /api/v1/export, same server",
        goal=f"<= {WALK_GOAL_S:g} s at 10,000" if goal else "",
        met=walk.seconds <= WALK_GOAL_S if goal else None,
        extra={"first_walk_s": round(walk.first_seconds, 3), "bytes": walk.size, "client": "httpx.Client"},
    )


def _best(loads: list[Load]) -> Load:
    return max(loads, key=lambda load: load.rps)


def _row(name: str, ours: list[Load], bare: list[Load], count: int) -> Row:
    mine, ceiling = _best(ours), _best(bare)
    ratio = mine.rps / ceiling.rps if ceiling.rps else 0.0
    goal = f">= {GOAL:.0%} of ceiling"
    return Row(
        benchmark=f"{_LABELS[name]} ({count:,} defs, HTTP)",
        figure=mine.rps,
        unit="req/s",
        ceiling=ceiling.rps,
        ceiling_label="bare Litestar, same bytes, granian",
        goal=goal,
        met=ratio >= GOAL,
        extra={"load": mine.tool, "errors": mine.errors + ceiling.errors, "rounds": len(ours)},
    )


def _server_row(granian: list[Load], uvicorn: list[Load]) -> Row:
    fast, slow = _best(granian), _best(uvicorn)
    return Row(
        benchmark="bare endpoint: granian vs uvicorn (server choice)",
        figure=fast.rps,
        unit="req/s",
        ceiling=slow.rps,
        ceiling_label="uvicorn, same bare app",
        goal="granian faster",
        met=fast.rps > slow.rps,
        extra={"load": fast.tool},
    )
