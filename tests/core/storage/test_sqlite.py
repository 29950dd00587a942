"""What only the SQLite adapter has: pragmas, schema migrations, sharing one file between
connections, driver errors and query plans."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from nestor_catalog_core import OwnershipConflict, StorageError, StorageUnavailable
from nestor_catalog_core.storage import AuditQuery, SQLiteStore, open_store
from nestor_catalog_core.storage.sqlite import _SCAN_AFTER, _SCAN_FIRST, MIGRATIONS, SCHEMA_VERSION, migrate
from tests.core.storage.builders import audit_record, git_source, publish_args, simple_event


@contextmanager
def raw(path: Path) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        yield conn


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    opened = SQLiteStore(tmp_path / "catalog.db")
    await opened.open()
    yield opened
    await opened.close()


async def test_defaults_are_wal_normal_with_foreign_keys(store: SQLiteStore) -> None:
    pragmas = await store.pragmas()
    assert pragmas == {
        "journal_mode": "wal",
        "synchronous": 1,
        "busy_timeout": 5000,
        "foreign_keys": 1,
        "user_version": SCHEMA_VERSION,
    }


async def test_full_synchronous_and_busy_timeout_options(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/full.db?synchronous=full&busy_timeout=1234")
    assert isinstance(store, SQLiteStore)
    async with store:
        pragmas = await store.pragmas()
    assert (pragmas["synchronous"], pragmas["busy_timeout"]) == (2, 1234)


async def test_open_creates_missing_directories(tmp_path: Path) -> None:
    async with SQLiteStore(tmp_path / "data" / "nested" / "catalog.db") as store:
        await store.ping()
    assert (tmp_path / "data" / "nested" / "catalog.db").is_file()


async def test_a_v1_database_is_migrated_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    args = publish_args()
    with raw(path) as conn:
        assert migrate(conn, target=1) == 0
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        version = args.version
        conn.execute("INSERT INTO owners VALUES (?, ?)", (version.name, version.source.owner))
        conn.execute(
            "INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, NULL, 0, 0)",
            (
                version.name,
                version.version,
                version.digest,
                version.document,
                version.provider,
                version.category,
                version.resource_type,
                '{"kind":"git","repository":"platform-definitions"}',
                "2024-01-15T10:30:45Z",
            ),
        )
        conn.execute(
            "INSERT INTO events VALUES (1, 'resource.created', ?, ?, ?, 'aws', 'database', 'mysql', '{}')",
            (1705314645000000, version.name, version.version),
        )
        conn.execute("UPDATE meta SET last_sequence = 1")
        indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "audit_user" not in indexes

    async with SQLiteStore(path) as store:
        assert (await store.pragmas())["user_version"] == SCHEMA_VERSION == len(MIGRATIONS)
        stored = await store.get_version(version.name, version.version)
        assert stored is not None
        assert stored.digest == version.digest
        assert stored.source.owner == "git:platform-definitions"
        assert [e.sequence for e in await store.read_events(0)] == [1]
        outcome = await store.publish(*publish_args(version="1.3.0").as_tuple())
        assert outcome.version.sequence == 2

    with raw(path) as conn:
        indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"audit_user", "audit_action", "audit_resource", "versions_provider", "versions_category"} <= indexes


async def test_a_database_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with raw(path) as conn:
        migrate(conn)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    store = SQLiteStore(path)
    with pytest.raises(StorageError, match="newer than this release supports"):
        await store.open()
    with pytest.raises(StorageUnavailable, match="not open"):
        await store.ping()


async def test_migrating_to_an_unknown_version_is_a_programming_error(tmp_path: Path) -> None:
    with raw(tmp_path / "x.db") as conn, pytest.raises(ValueError, match="no schema version 99"):
        migrate(conn, target=99)


async def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    path.write_bytes(b"this is not an SQLite database, it is a text file" * 100)
    with pytest.raises(StorageError, match="file is not a database"):
        await SQLiteStore(path).open()


async def test_a_directory_cannot_be_opened(tmp_path: Path) -> None:
    (tmp_path / "catalog.db").mkdir()
    store = SQLiteStore(tmp_path / "catalog.db")
    with pytest.raises(StorageUnavailable, match="unable to open database file"):
        await store.open()
    with pytest.raises(StorageUnavailable, match="not open"):
        await store.ping()


async def test_ping_notices_a_removed_database_file(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    async with SQLiteStore(path) as store:
        await store.ping()
        path.unlink()
        with pytest.raises(StorageUnavailable, match="was removed"):
            await store.ping()


async def test_a_held_write_lock_makes_writes_unavailable_after_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    async with SQLiteStore(path, busy_timeout=50) as store:
        with raw(path) as other:
            other.execute("BEGIN IMMEDIATE")
            with pytest.raises(StorageUnavailable, match="database is locked"):
                await store.publish(*publish_args().as_tuple())
            assert await store.last_sequence() == 0
            other.execute("ROLLBACK")
        outcome = await store.publish(*publish_args().as_tuple())
        assert outcome.version.sequence == 1


async def test_a_scan_left_early_drops_its_read_ahead_and_the_store_keeps_reading(store: SQLiteStore) -> None:
    for i in range(7):
        await store.publish(*publish_args(f"res-{i:02d}", "1.0.0").as_tuple())
    scan = store.scan_versions(page_size=2)
    first = [await anext(scan) for _ in range(3)]  # the third page is being read ahead
    await scan.aclose()
    assert [v.name for v in first] == ["res-00", "res-01", "res-02"]
    assert [v.name async for v in store.scan_versions(page_size=2)] == [f"res-{i:02d}" for i in range(7)]


async def test_two_stores_on_one_file_share_one_gap_free_log(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    first, second = SQLiteStore(path), SQLiteStore(path)
    await asyncio.gather(first.open(), second.open())
    try:
        writes: list[Coroutine[Any, Any, object]] = []
        for i in range(20):
            target = first if i % 2 else second
            writes.append(target.publish(*publish_args(f"res-{i:02d}", "1.0.0").as_tuple()))
            writes.append(target.append(simple_event(index=i), audit_record("sync.completed", None, None)))
        await asyncio.gather(*writes)
        for store in (first, second):
            assert [e.sequence for e in await store.read_events(0, limit=100)] == list(range(1, 41))
            assert len([v async for v in store.scan_versions()]) == 20
            assert len((await store.query_audit(AuditQuery(limit=100))).records) == 40
        with pytest.raises(OwnershipConflict, match="owned by git:platform-definitions"):
            await first.publish(*publish_args("res-00", "2.0.0", source=git_source("other")).as_tuple())
    finally:
        await first.close()
        await second.close()


async def test_reads_continue_while_a_write_transaction_is_open(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    async with SQLiteStore(path) as store:
        await store.publish(*publish_args().as_tuple())
        with raw(path) as other:
            other.execute("BEGIN IMMEDIATE")
            other.execute("UPDATE meta SET last_audit = last_audit")
            assert await store.get_version("aws-rds-mysql", "1.2.0") is not None
            assert await store.last_sequence() == 1
            other.execute("ROLLBACK")


async def test_version_scan_and_audit_queries_use_indexes(store: SQLiteStore) -> None:
    with raw(store.path) as conn:

        def plan(sql: str, *args: object) -> str:
            return " ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", args))

        assert plan(_SCAN_AFTER, "a", "1.0.0", 10).startswith("SEARCH versions USING INDEX")
        assert "OFFSET" not in _SCAN_AFTER.upper()
        assert "TEMP B-TREE" not in plan(_SCAN_FIRST, 10)
        audit = "SELECT id, record FROM audit WHERE {} ORDER BY id DESC LIMIT 11"
        assert plan(audit.format("resource = ? AND id < ?"), "x", "y") == (
            "SEARCH audit USING INDEX audit_resource (resource=? AND id<?)"
        )
        assert plan(audit.format("user_name = ?"), "x") == "SEARCH audit USING INDEX audit_user (user_name=?)"
        assert plan(audit.format("action = ?"), "x") == "SEARCH audit USING INDEX audit_action (action=?)"


async def test_lease_expiry_follows_the_clock(tmp_path: Path) -> None:
    now = [datetime(2024, 1, 15, 10, 0, tzinfo=UTC)]
    async with SQLiteStore(tmp_path / "catalog.db", clock=lambda: now[0]) as store:
        lease = await store.acquire_lease("git-sync", "replica-a", timedelta(seconds=15))
        assert lease is not None
        assert lease.expires_at == now[0] + timedelta(seconds=15)
        now[0] += timedelta(seconds=14, microseconds=999_999)
        assert await store.acquire_lease("git-sync", "replica-b", timedelta(seconds=15)) is None
        now[0] += timedelta(microseconds=1)
        assert await store.get_lease("git-sync") is None
        taken = await store.acquire_lease("git-sync", "replica-b", timedelta(seconds=15))
        assert taken is not None
        assert taken.token == lease.token + 1
