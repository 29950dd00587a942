"""What a new user sees: ``nestor-catalog serve`` with the default configuration syncing a git
repository given by its local path, as a real process.

A repository of N definitions (``bench_validate``'s generator: varied providers, categories,
inputs and engine configs, about 2 KB each; 10,000, or 1,000 with ``--quick``) is committed
with the ``git`` CLI. The server starts with no configuration file: only ``DATA_DIR`` (an empty
directory), ``PORT`` and ``GIT_REPOSITORIES=[{url: <path>}]`` in its environment, so storage is
the default SQLite file. Measured, each beside a ceiling from the same run:

- process start -> every definition listed (``GET /api/v1/resources?limit=1`` reports
  ``total == N``), polled every 50 ms. Ceiling: ``git clone`` (with checkout) of the same
  repository, reading every file and parsing it with ``yaml.CSafeLoader``, in one process,
  run right before and right after the server (the best kept). Goal: within 1.5x.
- RSS of the server's process group (granian's parent and its worker) once all are listed,
  and again after a restart on the same data directory (cold start: the read model loaded
  from SQLite). Goal: <= 150 MB at 10,000. The ceiling column is the group's RSS serving an
  empty catalog (what the processes cost before any definition).
- cold start: process start -> all listed again after the restart (no sync work left: the
  commit is already applied).

With ``BENCH_SERVE_LARGE=1`` the same rows are measured at 100,000 definitions too (goal
<= 1 GB of RSS); that adds minutes, so it is opt-in.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx
import yaml

from benchmarks._harness import Context, Row
from benchmarks.bench_validate import generate

SYNC_GOAL: Final = 1.5
RSS_GOAL_10K_MB: Final = 150.0
RSS_GOAL_100K_MB: Final = 1024.0
POLL: Final = 0.05
LARGE_ENV: Final = "BENCH_SERVE_LARGE"
_GIT_ENV: Final = {
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def make_repository(root: Path, count: int) -> Path:
    """A git work tree of ``count`` generated definitions, one commit (reused when complete)."""
    repo = root / f"repo-{count}"
    marker = root / f"repo-{count}.complete"
    if marker.exists():
        return repo
    shutil.rmtree(repo, ignore_errors=True)
    generate(repo / "definitions", count)
    for stale in (repo / "definitions").glob(".complete-*"):
        stale.unlink()
    env = {**os.environ, **_GIT_ENV, "HOME": str(root)}
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True, env=env)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True, env=env)
    subprocess.run(["git", "commit", "-q", "-m", "definitions"], cwd=repo, check=True, env=env)
    marker.touch()
    return repo


def clone_and_parse(repo: Path, target: Path) -> float:
    """The ceiling: ``git clone`` with checkout, then read and ``CSafeLoader`` every file."""
    shutil.rmtree(target, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run(["git", "clone", "-q", str(repo), str(target)], check=True)
    for path in sorted(target.rglob("*.yaml")):
        yaml.load(path.read_bytes(), Loader=yaml.CSafeLoader)
    return time.perf_counter() - start


def group_rss_mb(pgid: int) -> float:
    """Summed VmRSS of every process in process group ``pgid`` (Linux)."""
    total_kb = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.getpgid(int(entry)) != pgid:
                continue
            with open(f"/proc/{entry}/status") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total_kb += int(line.split()[1])
        except (OSError, ValueError):
            continue
    return total_kb / 1024


@dataclass
class Started:
    process: subprocess.Popen[bytes]
    url: str
    listed_after: float


def _environment(data_dir: Path, port: int, repo: Path | None) -> dict[str, str]:
    from nestor_catalog_server.config import ENV_OVERRIDES, GENERIC_ENV_PREFIX

    names = {override.variable for override in ENV_OVERRIDES}
    env = {k: v for k, v in os.environ.items() if k not in names and not k.startswith(GENERIC_ENV_PREFIX)}
    env.pop("NESTOR_CATALOG_CONFIG", None)
    env.update({"DATA_DIR": str(data_dir), "PORT": str(port), "HOST": "127.0.0.1"})
    if repo is not None:
        env["GIT_REPOSITORIES"] = f"[{{url: '{repo}'}}]"
    return env


@contextlib.contextmanager
def serve(data_dir: Path, repo: Path | None, count: int, log: Path) -> Iterator[Started]:
    """``nestor-catalog serve`` (no config file) until ``count`` definitions are listed."""
    from tests.support.server import free_port

    port = free_port()
    command = [str(Path(sys.executable).parent / "nestor-catalog"), "serve"]
    url = f"http://127.0.0.1:{port}"
    with log.open("ab") as output:
        start = time.perf_counter()
        process = subprocess.Popen(
            command,
            env=_environment(data_dir, port, repo),
            cwd=data_dir,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        listed_after = _wait_listed(url, process, count, start)
        yield Started(process, url, listed_after)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_listed(url: str, process: subprocess.Popen[bytes], count: int, start: float) -> float:
    deadline = start + 3600
    with httpx.Client(base_url=url, timeout=10) as client:
        while time.perf_counter() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"nestor-catalog serve exited with {process.returncode}")
            with contextlib.suppress(httpx.TransportError):
                response = client.get("/api/v1/resources", params={"limit": 1})
                if response.status_code == 200 and response.json()["total"] >= count:
                    return time.perf_counter() - start
            time.sleep(POLL)
    raise RuntimeError(f"the server did not list {count} definitions within an hour")


def _settled_rss(pgid: int) -> float:
    """The group's RSS once the post-sync work (follow-up polls, the first collection) is done."""
    time.sleep(2.0)
    return group_rss_mb(pgid)


def measure(ctx: Context, count: int) -> list[Row]:
    work = ctx.workdir / "serve"
    work.mkdir(parents=True, exist_ok=True)
    repo = make_repository(work, count)
    ceilings = [clone_and_parse(repo, work / "ceiling-clone")]
    log = work / "server.log"
    empty_dir = work / "data-empty"
    shutil.rmtree(empty_dir, ignore_errors=True)
    empty_dir.mkdir()
    with serve(empty_dir, None, 0, log) as empty:
        empty_rss = _settled_rss(empty.process.pid)
    data_dir = work / f"data-{count}"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir()
    with serve(data_dir, repo, count, log) as first:
        synced_rss = _settled_rss(first.process.pid)
    # The ceiling once before and once right after, the best kept: on a shared machine the
    # load changes within a minute, and both sides should see the quietest moment.
    ceilings.append(clone_and_parse(repo, work / "ceiling-clone"))
    shutil.rmtree(work / "ceiling-clone", ignore_errors=True)
    ceiling = min(ceilings)
    with serve(data_dir, repo, count, log) as again:
        cold_rss = _settled_rss(again.process.pid)
    shutil.rmtree(data_dir, ignore_errors=True)
    goal_mb = RSS_GOAL_10K_MB if count <= 10_000 else RSS_GOAL_100K_MB
    scale = f"{count:,} defs"
    return [
        Row(
            f"serve (default config, local git path): start -> all {scale} listed",
            first.listed_after * 1000,
            "ms",
            ceiling=ceiling * 1000,
            ceiling_label="git clone + read files + C YAML parse",
            goal=f"<= {SYNC_GOAL}x ceiling",
            met=first.listed_after <= SYNC_GOAL * ceiling,
            extra={"definitions_per_s": count / first.listed_after},
        ),
        Row(
            f"serve RSS, process group, after the initial sync ({scale})",
            synced_rss,
            "MB",
            ceiling=empty_rss,
            ceiling_label="same server, empty catalog",
            goal=f"<= {goal_mb:,.0f} MB",
            met=synced_rss <= goal_mb,
        ),
        Row(
            f"serve RSS, process group, after a restart ({scale})",
            cold_rss,
            "MB",
            ceiling=empty_rss,
            ceiling_label="same server, empty catalog",
            goal=f"<= {goal_mb:,.0f} MB",
            met=cold_rss <= goal_mb,
        ),
        Row(
            f"serve restart: start -> all {scale} listed (nothing to sync)",
            again.listed_after * 1000,
            "ms",
            ceiling=ceiling * 1000,
            ceiling_label="git clone + read files + C YAML parse",
        ),
    ]


def run(ctx: Context) -> list[Row]:
    rows = measure(ctx, ctx.scale(10_000, 1_000))
    if os.environ.get(LARGE_ENV) and not ctx.quick:
        rows.extend(measure(ctx, 100_000))
    return rows
