"""A mirror's copy on disk: every mirrored version, the revision it reflects and the recent
events, in one SQLite file, so a sidecar starts serving before its upstream answers.

Plain stdlib ``sqlite3`` rather than a core store: a store assigns its own sequences, while a
mirror must keep the upstream's. Every write is one transaction that moves the file from one
consistent revision to a later one (versions, events and revision together), in WAL mode, so a
crash at any point leaves a snapshot of some revision the mirror can resume from with
``Last-Event-ID``; losing the last moments before a crash costs only a replay.

Calls block: the mirror runs them in a worker thread, one at a time.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from nestor_catalog_core import Event, StorageError, StoredVersion

__all__ = ["Snapshot", "SnapshotFile"]

_SCHEMA_VERSION: Final = 1
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS versions (
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (name, version)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (sequence INTEGER PRIMARY KEY, record TEXT NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class Snapshot:
    upstream: str
    revision: int
    versions: list[StoredVersion]
    events: list[Event]


class SnapshotFile:
    """The snapshot database at ``path`` (created with its folder on first use)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
                connection.executescript(_SCHEMA)
            except (sqlite3.Error, OSError) as exc:
                raise StorageError(
                    f"cannot open the mirror snapshot {self.path}: {exc}", details={"path": str(self.path)}
                ) from exc
            self._connection = connection
        return self._connection

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def load(self) -> Snapshot | None:
        """The stored snapshot, or None when the file holds none (new, or another schema)."""
        with self._lock:
            connection = self._connect()
            try:
                meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
                if meta.get("schema") != str(_SCHEMA_VERSION) or "revision" not in meta:
                    return None
                versions = [
                    StoredVersion.from_dict(json.loads(record))
                    for (record,) in connection.execute("SELECT record FROM versions")
                ]
                events = [
                    Event.from_dict(json.loads(record))
                    for (record,) in connection.execute("SELECT record FROM events ORDER BY sequence")
                ]
            except (sqlite3.Error, ValueError, KeyError) as exc:
                raise StorageError(f"cannot read the mirror snapshot {self.path}: {exc}") from exc
            return Snapshot(
                upstream=meta.get("upstream", ""), revision=int(meta["revision"]), versions=versions, events=events
            )

    def replace(self, upstream: str, revision: int, versions: Iterable[StoredVersion], events: Iterable[Event]) -> None:
        """Make the file hold exactly this state (after a full sync)."""
        with self._lock, self._transaction() as connection:
            connection.execute("DELETE FROM versions")
            connection.execute("DELETE FROM events")
            self._write(connection, upstream, revision, versions, events, keep_events=None)

    def update(
        self,
        upstream: str,
        revision: int,
        versions: Iterable[StoredVersion],
        events: Iterable[Event],
        *,
        keep_events: int,
    ) -> None:
        """Move the file forward to ``revision``: changed versions, new events (the oldest
        beyond ``keep_events`` dropped)."""
        with self._lock, self._transaction() as connection:
            self._write(connection, upstream, revision, versions, events, keep_events=keep_events)

    @staticmethod
    def _write(
        connection: sqlite3.Connection,
        upstream: str,
        revision: int,
        versions: Iterable[StoredVersion],
        events: Iterable[Event],
        *,
        keep_events: int | None,
    ) -> None:
        connection.executemany(
            "INSERT OR REPLACE INTO versions (name, version, record) VALUES (?, ?, ?)",
            ((v.name, v.version, json.dumps(v.to_dict(), separators=(",", ":"))) for v in versions),
        )
        connection.executemany(
            "INSERT OR REPLACE INTO events (sequence, record) VALUES (?, ?)",
            ((e.sequence, json.dumps(e.to_dict(), separators=(",", ":"))) for e in events),
        )
        if keep_events is not None:
            connection.execute(
                "DELETE FROM events WHERE sequence <= (SELECT MAX(sequence) FROM events) - ?", (keep_events,)
            )
        connection.executemany(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
            [("schema", str(_SCHEMA_VERSION)), ("upstream", upstream), ("revision", str(revision))],
        )

    def _transaction(self) -> _Transaction:
        return _Transaction(self._connect(), self.path)


class _Transaction:
    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._connection = connection
        self._path = path

    def __enter__(self) -> sqlite3.Connection:
        self._connection.execute("BEGIN IMMEDIATE")
        return self._connection

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc_type is None:
            try:
                self._connection.execute("COMMIT")
            except sqlite3.Error as error:
                self._connection.execute("ROLLBACK")
                raise StorageError(f"cannot write the mirror snapshot {self._path}: {error}") from error
            return
        self._connection.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error):
            raise StorageError(f"cannot write the mirror snapshot {self._path}: {exc}") from exc
