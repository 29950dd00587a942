"""Real processes writing to one SQLite file: killed with SIGKILL in the middle of a batch
of publishes, and running side by side.

What WAL with ``synchronous=NORMAL`` (the shipped default) guarantees, and what these tests
check: a transaction is appended to the write-ahead log and becomes visible at its commit
record; a process killed at any instant leaves either the whole transaction or none of it,
and the next connection to open the file recovers from the log. Everything committed
before the kill survives a *process* crash, because the committed pages are already in the
OS page cache. Only an OS crash or power loss can lose the last commits under NORMAL (the
log is fsynced at checkpoints, not at each commit); ``synchronous=FULL`` fsyncs every commit
and closes that window. Neither mode can ever produce a half-written row or a hole in the
event log.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import sys
from contextlib import closing
from pathlib import Path

import pytest

from nestor_catalog_core.models import EventType
from nestor_catalog_core.storage import AuditQuery, SQLiteStore
from tests.core.storage.builders import publish_args

ROOT = Path(__file__).resolve().parents[3]
BATCH = 2000
#: Kills per test run, each at another random point (a torn write shows up in some of them).
ROUNDS = 8
pytestmark = pytest.mark.slow


async def _spawn(path: Path, prefix: str, count: int, concurrency: int = 1, *kill: str) -> asyncio.subprocess.Process:
    inherited = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), inherited] if inherited else [str(ROOT)])}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.core.storage._crash_writer",
        str(path),
        prefix,
        str(count),
        str(concurrency),
        *kill,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _progress_until(process: asyncio.subprocess.Process, target: int) -> int:
    """Read the writer's progress until it reports ``target`` publishes; returns how many
    it reported (each one committed)."""
    assert process.stdout is not None
    reported = 0
    while reported < target:
        line = (await process.stdout.readline()).decode()
        if not line:
            stderr = await process.stderr.read() if process.stderr else b""
            raise AssertionError(f"writer exited early after {reported} publishes: {stderr.decode()}")
        if line.startswith("published "):
            reported = int(line.split()[1])
    return reported


async def _kill(process: asyncio.subprocess.Process) -> None:
    process.send_signal(signal.SIGKILL)
    assert await process.wait() == -signal.SIGKILL


async def _all_audit(store: SQLiteStore) -> list[tuple[int | None, str | None, str | None]]:
    records: list[tuple[int | None, str | None, str | None]] = []
    cursor: str | None = None
    while True:
        page = await store.query_audit(AuditQuery(limit=1000, cursor=cursor))
        records.extend((r.event_sequence, r.resource, r.version) for r in page.records)
        if page.next_cursor is None:
            return records
        cursor = page.next_cursor


def _check_file(path: Path, context: str) -> None:
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)], context
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == [], context
        last_sequence, last_audit = conn.execute("SELECT last_sequence, last_audit FROM meta").fetchone()
        events = conn.execute("SELECT MAX(sequence), COUNT(*) FROM events").fetchone()
        assert events == (last_sequence, last_sequence), context
        assert conn.execute("SELECT COUNT(*) FROM versions").fetchone() == (last_sequence,), context
        assert conn.execute("SELECT COUNT(*) FROM audit").fetchone() == (last_audit,), context


async def _check_store(path: Path, *, at_least: int, context: str) -> int:
    """Every stored version has its event and audit record on one sequence; the log is
    exactly ``1..last``. Returns how many versions are stored."""
    _check_file(path, context)
    async with SQLiteStore(path) as store:
        last = await store.last_sequence()
        events = await store.read_events(0, limit=10_000)
        versions = [v async for v in store.scan_versions(page_size=500)]
        audit = await _all_audit(store)

    assert [e.sequence for e in events] == list(range(1, last + 1)), context
    assert len(versions) >= at_least, f"{context}: a publish reported as committed was lost"
    assert len(versions) == len(events) == len(audit) == last, context
    by_sequence = {e.sequence: e for e in events}
    audit_by_sequence = {sequence: (resource, version) for sequence, resource, version in audit}
    for version in versions:
        event = by_sequence[version.sequence]
        assert (event.type, event.name, event.version) == (EventType.RESOURCE_CREATED, version.name, version.version)
        assert event.data["digest"] == version.digest
        assert audit_by_sequence[version.sequence] == version.key, context
        assert version.definition().metadata.name == version.name
    return len(versions)


async def test_sigkill_mid_batch_leaves_whole_versions_and_a_gap_free_log(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    stored = 0
    for round_number in range(ROUNDS):
        writer = await _spawn(path, f"round{round_number}", BATCH, concurrency=rng.choice((1, 4, 16)))
        reported = await _progress_until(writer, rng.randrange(1, 400))
        await asyncio.sleep(rng.uniform(0, 0.02))
        await _kill(writer)
        context = f"seed={seed} round={round_number} reported={reported}"
        now_stored = await _check_store(path, at_least=stored + reported, context=context)
        assert now_stored < stored + BATCH, f"{context}: the writer finished before it was killed"
        stored = now_stored

    async with SQLiteStore(path) as store:
        last = await store.last_sequence()
        outcome = await store.publish(*publish_args("after-the-crash", "1.0.0").as_tuple())
        assert outcome.version.sequence == last + 1
        assert [e.sequence for e in await store.read_events(last - 1)] == [last, last + 1]
    await _check_store(path, at_least=stored + 1, context=f"seed={seed} after recovery")


@pytest.mark.parametrize(
    "statement",
    ["INSERT INTO owners", "INSERT INTO versions", "INSERT INTO events", "INSERT INTO audit", "COMMIT"],
)
async def test_a_kill_between_the_writes_of_one_publish_loses_that_publish_whole(
    tmp_path: Path, statement: str
) -> None:
    path = tmp_path / "catalog.db"
    kill_after = random.randrange(1, 50)
    writer = await _spawn(path, "torn", 200, 1, str(kill_after), statement)
    stdout, stderr = await writer.communicate()
    assert writer.returncode == -signal.SIGKILL, stderr.decode()
    reported = int(stdout.decode().split()[-1])
    assert reported == kill_after
    context = f"killed at {statement!r} after {kill_after}"
    assert await _check_store(path, at_least=reported, context=context) == kill_after
    async with SQLiteStore(path) as store:
        assert await store.get_version(f"torn-{kill_after:05d}", "1.0.0") is None
        assert await store.get_owner(f"torn-{kill_after:05d}") is None
        outcome = await store.publish(*publish_args(f"torn-{kill_after:05d}", "1.0.0").as_tuple())
        assert outcome.version.sequence == kill_after + 1


async def test_processes_sharing_one_file_get_one_gap_free_log(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    async with SQLiteStore(path):
        pass
    writers = [await _spawn(path, prefix, 150, concurrency=4) for prefix in ("cli", "server", "sidecar")]
    for writer in writers:
        stdout, stderr = await writer.communicate()
        assert writer.returncode == 0, stderr.decode()
        assert stdout.decode().splitlines()[-1] == "done"
    assert await _check_store(path, at_least=450, context="three writers") == 450
