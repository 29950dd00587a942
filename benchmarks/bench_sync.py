"""Git sync end to end: a served repository -> ``SyncManager`` -> Catalog on SQLite.

A repository of N valid definitions (10,000; 1,000 with ``--quick``) in 100 folders is made
with ``git fast-import`` and served by a real ``git daemon`` on loopback; the catalog is a
SQLite file (WAL, ``synchronous=normal``) under the benchmark work directory.

- Initial sync: ``sync_once`` into an empty data dir and an empty store (fetch, snapshot, read
  every blob, load, validate, publish each version with its event and audit record, save the
  sync state, emit ``sync.completed``). Ceiling: ``git clone`` (CLI, with checkout) plus reading
  every file and parsing it with ``yaml.CSafeLoader``. Goal: within 3x.
- Incremental sync: a one-file commit (a new version) lands; ``sync_once`` fetches it, diffs,
  loads the file, publishes the version and emits ``sync.completed`` (fetch -> published ->
  event). Ceiling: ``git fetch`` of the same commit into a bare clone. Goal: 200 ms whatever
  the repository's size.
- Webhook: a one-file commit lands and a GitHub-signed push delivery reaches
  ``handle_webhook`` of a started manager; the time until a Catalog subscriber receives the
  new version's event (it is then readable). Ceiling: ``git fetch``. Goal: within 1 s.
- No-change poll: ``sync_once`` when the branch has not moved. Ceiling: ``git ls-remote``.
- Local directory (``make run`` with ``examples/``): a watched directory of 100 definitions;
  a file is saved with a new version; the time until a Catalog subscriber receives its event.
  Ceiling: the watcher's settle step (50 ms: watchfiles yields once changes pause that long,
  at most ``debounce`` after the first), the least any such watcher waits. Goal: 1 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import shutil
import statistics
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import yaml
from pydantic import SecretStr
from tests.server.sync.definitions import definition
from tests.support.git import git, git_daemon, git_env

from benchmarks._harness import Context, Row
from nestor_catalog_core import Catalog, Event, MemoryStore, SQLiteStore
from nestor_catalog_server.config import DirectoryConfig, GitConfig, RepositoryConfig
from nestor_catalog_server.process import tune_gc
from nestor_catalog_server.sync import SyncManager, SyncReport, sign_payload
from nestor_catalog_server.sync.local import WATCH_STEP_MS

INCREMENTAL_COMMITS = 5
WEBHOOKS = 5
LOCAL_FILES = 100
LOCAL_EDITS = 5
DEBOUNCE = timedelta(milliseconds=200)
POLLS = 5
SECRET = "bench-webhook-secret"


def _path(index: int) -> str:
    return f"resources/group-{index % 100:02d}/res-{index}.yaml"


def _blob(index: int, minor: int = 0) -> bytes:
    optional = [f"option_{n}" for n in range(minor)]
    return definition(f"res-{index}", f"1.{minor}.0", optional=optional).encode()


def _fast_import(repo: Path, stream: bytes) -> None:
    subprocess.run(["git", "fast-import", "--quiet"], input=stream, cwd=repo, env=git_env(), check=True)


def _make_repository(bare: Path, files: int) -> None:
    git("init", "-q", "--bare", "-b", "main", str(bare))
    chunks = [b"commit refs/heads/main\ncommitter Bench <bench@example.com> 1700000000 +0000\ndata 7\ninitial\n"]
    for index in range(files):
        body = _blob(index)
        chunks.append(b"M 100644 inline %s\ndata %d\n%s\n" % (_path(index).encode(), len(body), body))
    _fast_import(bare, b"".join(chunks) + b"\n")


def _commit_new_version(bare: Path, index: int, minor: int) -> None:
    body = _blob(index, minor)
    stream = (
        b"commit refs/heads/main\ncommitter Bench <bench@example.com> %d +0000\ndata 6\nchange\n"
        b"from refs/heads/main^0\nM 100644 inline %s\ndata %d\n%s\n\n"
        % (1700000000 + minor, _path(index).encode(), len(body), body)
    )
    _fast_import(bare, stream)


def _git_config(url: str) -> GitConfig:
    repository = RepositoryConfig(
        name="platform", url=url, path="resources", poll_interval=timedelta(0), webhook_secret=SecretStr(SECRET)
    )
    return GitConfig(repositories=(repository,))


def _push_delivery(after: str) -> tuple[dict[str, str], bytes]:
    body = json.dumps({"ref": "refs/heads/main", "after": after}).encode()
    return {"X-GitHub-Event": "push", "X-Hub-Signature-256": sign_payload(SECRET, body)}, body


def _clone_and_parse(url: str, target: Path) -> float:
    shutil.rmtree(target, ignore_errors=True)
    start = time.perf_counter()
    git("clone", "-q", "--single-branch", "-b", "main", url, str(target))
    for path in sorted((target / "resources").rglob("*.yaml")):
        yaml.load(path.read_bytes(), Loader=yaml.CSafeLoader)
    return time.perf_counter() - start


async def _sync(manager: SyncManager) -> tuple[float, SyncReport]:
    start = time.perf_counter()
    [report] = await manager.sync_once()
    elapsed = time.perf_counter() - start
    assert report.ok, report.error
    return elapsed, report


async def _measure(url: str, bare: Path, work: Path, files: int) -> dict[str, float]:
    data_dir = work / "data"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    figures: dict[str, float] = {}
    async with Catalog(SQLiteStore(data_dir / "catalog.db")) as catalog:
        manager = SyncManager(catalog, _git_config(url), data_dir=data_dir)
        figures["initial"], report = await _sync(manager)
        assert report.counts.published == files, report.counts
        incremental: list[float] = []
        for minor in range(1, INCREMENTAL_COMMITS + 1):
            index = minor * 7 % files
            _commit_new_version(bare, index, minor)
            elapsed, report = await _sync(manager)
            assert (report.counts.loaded, report.counts.published) == (1, 1), report.counts
            assert catalog.has(f"res-{index}", f"1.{minor}.0")
            incremental.append(elapsed)
        figures["incremental"] = statistics.median(incremental)
        polls = [(await _sync(manager))[0] for _ in range(POLLS)]
        figures["poll"] = statistics.median(polls)
        figures["webhook"] = await _webhooks(manager, catalog, bare, files)
        await manager.stop()
    return figures


async def _webhooks(manager: SyncManager, catalog: Catalog, bare: Path, files: int) -> float:
    await manager.start()
    await manager.wait_ready()
    latencies: list[float] = []
    for minor in range(INCREMENTAL_COMMITS + 1, INCREMENTAL_COMMITS + WEBHOOKS + 1):
        index = minor * 13 % files
        _commit_new_version(bare, index, minor)
        head = git("rev-parse", "refs/heads/main", cwd=bare).strip()
        async with contextlib.aclosing(catalog.subscribe(name=f"res-{index}", since=catalog.revision)) as events:
            start = time.perf_counter()
            await manager.handle_webhook("github", "platform", *_push_delivery(head))
            async for event in events:
                if isinstance(event, Event) and event.version == f"1.{minor}.0":
                    break
            latencies.append(time.perf_counter() - start)
        assert catalog.has(f"res-{index}", f"1.{minor}.0")
    return statistics.median(latencies)


def _ceilings(url: str, bare: Path, work: Path) -> dict[str, float]:
    clone = work / "ceiling.git"
    shutil.rmtree(clone, ignore_errors=True)
    git("clone", "-q", "--bare", "--single-branch", "-b", "main", url, str(clone))
    fetches: list[float] = []
    for minor in range(INCREMENTAL_COMMITS + WEBHOOKS + 1, 2 * INCREMENTAL_COMMITS + WEBHOOKS + 1):
        _commit_new_version(bare, minor * 11, minor)
        start = time.perf_counter()
        git("fetch", "-q", url, "+refs/heads/main:refs/heads/main", cwd=clone)
        fetches.append(time.perf_counter() - start)
    ls_remote: list[float] = []
    for _ in range(POLLS):
        start = time.perf_counter()
        git("ls-remote", url, "refs/heads/main")
        ls_remote.append(time.perf_counter() - start)
    return {"fetch": statistics.median(fetches), "ls_remote": statistics.median(ls_remote)}


async def _local_edits(work: Path) -> float:
    root = work / "local"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    for index in range(LOCAL_FILES):
        (root / f"res-{index}.yaml").write_bytes(_blob(index))
    config = GitConfig(directories=(DirectoryConfig(name="examples", path=root, debounce=DEBOUNCE),))
    latencies: list[float] = []
    async with Catalog(MemoryStore()) as catalog:
        manager = SyncManager(catalog, config, data_dir=work / "local-data")
        await manager.start()
        await manager.wait_ready()
        for minor in range(1, LOCAL_EDITS + 1):
            name = f"res-{minor}"
            async with contextlib.aclosing(catalog.subscribe(name=name, since=catalog.revision)) as events:
                start = time.perf_counter()
                (root / f"{name}.yaml").write_bytes(_blob(minor, minor))
                async for event in events:
                    if isinstance(event, Event) and event.version == f"1.{minor}.0":
                        break
                latencies.append(time.perf_counter() - start)
        await manager.stop()
    return statistics.median(latencies)


def run(ctx: Context) -> list[Row]:
    files = ctx.scale(10_000, 1_000)
    work = ctx.workdir / "sync"
    shutil.rmtree(work, ignore_errors=True)
    served = work / "served"
    served.mkdir(parents=True)
    bare = served / "platform.git"
    _make_repository(bare, files)
    with git_daemon(served) as base_url:
        url = base_url + "platform.git"
        clone_parse = min(_clone_and_parse(url, work / "clone") for _ in range(2))
        # The sync runs tuned as in `nestor-catalog serve` and `nestor-catalog sync` processes.
        thresholds = gc.get_threshold()
        tune_gc()
        try:
            ours = asyncio.run(_measure(url, bare, work, files))
        finally:
            gc.set_threshold(*thresholds)
        ceilings = _ceilings(url, bare, work)
    local = asyncio.run(_local_edits(work))
    shutil.rmtree(work, ignore_errors=True)
    return [
        Row(
            f"sync initial: {files:,} definitions, git:// -> Catalog on SQLite",
            ours["initial"] * 1000,
            "ms",
            ceiling=clone_parse * 1000,
            ceiling_label="git clone + read files + C YAML parse",
            goal="<= 3x ceiling",
            met=ours["initial"] <= 3 * clone_parse,
            extra={"definitions_per_s": files / ours["initial"]},
        ),
        Row(
            f"sync incremental: 1-file commit -> published + event ({files:,} definitions)",
            ours["incremental"] * 1000,
            "ms",
            ceiling=ceilings["fetch"] * 1000,
            ceiling_label="git fetch",
            goal="<= 200 ms",
            met=ours["incremental"] <= 0.2,
        ),
        Row(
            f"sync webhook: push delivery -> version readable ({files:,} definitions)",
            ours["webhook"] * 1000,
            "ms",
            ceiling=ceilings["fetch"] * 1000,
            ceiling_label="git fetch",
            goal="<= 1 s",
            met=ours["webhook"] <= 1.0,
        ),
        Row(
            "sync poll, branch unchanged",
            ours["poll"] * 1000,
            "ms",
            ceiling=ceilings["ls_remote"] * 1000,
            ceiling_label="git ls-remote",
        ),
        Row(
            f"local directory: file saved -> version readable ({LOCAL_FILES} definitions)",
            local * 1000,
            "ms",
            ceiling=WATCH_STEP_MS,
            ceiling_label="watcher settle step",
            goal="<= 1 s",
            met=local <= 1.0,
        ),
    ]
