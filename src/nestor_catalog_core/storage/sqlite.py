"""``SQLiteStore``: the embedded default store, one SQLite file in WAL mode.

Durability and sharing
    Every write is one ``BEGIN IMMEDIATE`` transaction, so several processes may share the
    file (the CLI's ``sync --once`` beside a running server): writers queue on SQLite's
    lock for up to ``busy_timeout`` ms, then fail with ``StorageUnavailable``. In WAL mode
    with ``synchronous=NORMAL`` (the default) a commit is atomic and survives the process
    being killed at any point; only an OS crash or power loss may lose the last few
    commits (never corrupt the file). ``synchronous=full`` makes each commit durable
    against power loss too, at the price of an fsync per write.

Threads
    ``sqlite3`` blocks, so the store owns two single-thread executors: one holds the write
    connection (writes are serialized there, in submission order), the other a read-only
    connection (WAL readers never wait for the writer). A coroutine cancelled while its
    write runs does not undo it: the transaction still commits or rolls back as a whole.

Schema
    Versioned by ``PRAGMA user_version`` and an ordered list of migrations applied at
    ``open()`` inside one transaction. A file written by a newer release is refused
    rather than guessed at.

URI: ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db`` with options
``busy_timeout`` (ms, default 5000) and ``synchronous`` (``normal``, ``full`` or ``extra``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Final, Self, TypeVar
from urllib.parse import unquote

from nestor_catalog_core._exceptions import (
    CatalogError,
    ConfigError,
    ImmutableVersionError,
    OwnershipConflict,
    StorageError,
    StorageUnavailable,
    VersionNotFound,
)
from nestor_catalog_core.models import (
    AuditRecord,
    Event,
    EventType,
    Lease,
    Source,
    StoredVersion,
    SyncState,
    format_time,
    parse_time,
    utcnow,
)
from nestor_catalog_core.models.records import stored_version_of
from nestor_catalog_core.storage._common import (
    LeaseDecision,
    LeaseRow,
    RowLeases,
    ThreadedStore,
    audit_id,
    audit_range,
    check_after,
    check_limit,
    choice_error,
    concurrent_error,
    dump_json,
    ensure_utc,
    event_data_json,
    from_micros,
    immutable_error,
    int_option,
    load_json,
    next_cursor,
    normalize_audit,
    normalize_event,
    normalize_version,
    ownership_error,
    retention_cutoff,
    split_uri,
    to_micros,
    uri_options,
)
from nestor_catalog_core.storage.base import AuditPage, AuditQuery, ComponentStore, PublishOutcome

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "Migration", "SQLiteStore", "migrate"]

T = TypeVar("T")

MIN_SQLITE_VERSION: Final = (3, 24, 0)  # UPSERT
SYNCHRONOUS_MODES: Final = ("normal", "full", "extra")
DEFAULT_BUSY_TIMEOUT_MS: Final = 5000
_OPTIONS: Final = frozenset({"busy_timeout", "synchronous"})
_UNAVAILABLE_CODES: Final = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_PROTOCOL,
    }
)


# -- schema --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Migration:
    """One schema step: statements run in order inside the migrating transaction."""

    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(
        1,
        "tables: meta counters, owners, versions, events, audit, sync state, leases",
        (
            """CREATE TABLE meta (
                id INTEGER PRIMARY KEY CHECK (id = 1),
                last_sequence INTEGER NOT NULL,
                last_audit INTEGER NOT NULL
            )""",
            "INSERT INTO meta (id, last_sequence, last_audit) VALUES (1, 0, 0)",
            "CREATE TABLE owners (name TEXT PRIMARY KEY, owner TEXT NOT NULL) WITHOUT ROWID",
            """CREATE TABLE versions (
                name TEXT NOT NULL REFERENCES owners (name),
                version TEXT NOT NULL,
                digest TEXT NOT NULL,
                document BLOB NOT NULL,
                provider TEXT NOT NULL,
                category TEXT NOT NULL,
                resource_type TEXT NOT NULL,
                source TEXT NOT NULL,
                published_at TEXT NOT NULL,
                sequence INTEGER NOT NULL UNIQUE,
                updated_at TEXT,
                withdrawn INTEGER NOT NULL CHECK (withdrawn IN (0, 1)),
                deprecated INTEGER NOT NULL CHECK (deprecated IN (0, 1)),
                PRIMARY KEY (name, version)
            )""",
            """CREATE TABLE events (
                sequence INTEGER PRIMARY KEY,
                type TEXT NOT NULL,
                time_us INTEGER NOT NULL,
                name TEXT,
                version TEXT,
                provider TEXT,
                category TEXT,
                resource_type TEXT,
                data TEXT NOT NULL
            )""",
            """CREATE TABLE audit (
                id TEXT PRIMARY KEY,
                action TEXT NOT NULL,
                resource TEXT,
                version TEXT,
                user_name TEXT,
                outcome TEXT NOT NULL,
                event_sequence INTEGER,
                record TEXT NOT NULL
            ) WITHOUT ROWID""",
            """CREATE TABLE sync_state (
                source TEXT PRIMARY KEY,
                updated_at TEXT,
                state TEXT NOT NULL
            ) WITHOUT ROWID""",
            """CREATE TABLE leases (
                name TEXT PRIMARY KEY,
                holder TEXT,
                expires_us INTEGER NOT NULL,
                token INTEGER NOT NULL
            ) WITHOUT ROWID""",
        ),
    ),
    Migration(
        2,
        "query indexes: versions by provider and category, audit by resource, user and action",
        (
            "CREATE INDEX versions_provider ON versions (provider)",
            "CREATE INDEX versions_category ON versions (category)",
            "CREATE INDEX audit_resource ON audit (resource, id)",
            "CREATE INDEX audit_resource_version ON audit (resource, version, id)",
            "CREATE INDEX audit_user ON audit (user_name, id)",
            "CREATE INDEX audit_action ON audit (action, id)",
        ),
    ),
)
SCHEMA_VERSION: Final = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    return version


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Bring the schema of ``conn``'s database to ``target`` in one ``BEGIN IMMEDIATE``
    transaction (safe when several processes open the file at once) and return the
    version it had. ``conn`` must be in autocommit mode (``isolation_level=None``).

    Raises ``StorageError`` for a file written by a newer release.
    """
    if not 0 <= target <= SCHEMA_VERSION:
        raise ValueError(f"no schema version {target}; this release knows 0..{SCHEMA_VERSION}")
    found = schema_version(conn)
    if found >= target:
        _refuse_newer_schema(found)
        return found
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = schema_version(conn)
        _refuse_newer_schema(found)
        for migration in MIGRATIONS[found:target]:
            for statement in migration.statements:
                conn.execute(statement)
        if target > found:
            conn.execute(f"PRAGMA user_version = {int(target)}")
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise
    return found


def _refuse_newer_schema(found: int) -> None:
    if found > SCHEMA_VERSION:
        raise StorageError(
            f"the SQLite database has schema version {found}, newer than this release supports "
            f"({SCHEMA_VERSION}); upgrade nestor-catalog",
            details={"schema_version": found, "supported": SCHEMA_VERSION},
        )


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


# -- rows ----------------------------------------------------------------------------------

_VERSION_COLUMNS: Final = (
    "name, version, digest, document, provider, category, resource_type, source, "
    "published_at, sequence, updated_at, withdrawn, deprecated"
)
_EVENT_COLUMNS: Final = "sequence, type, time_us, name, version, provider, category, resource_type, data"
_SELECT_VERSION: Final = f"SELECT {_VERSION_COLUMNS} FROM versions"  # noqa: S608 (constant column list)
_SELECT_EVENTS: Final = f"SELECT {_EVENT_COLUMNS} FROM events"  # noqa: S608 (constant column list)
_INSERT_VERSION: Final = f"INSERT INTO versions ({_VERSION_COLUMNS}) VALUES ({', '.join('?' * 13)})"  # noqa: S608 (constant)
_INSERT_EVENT: Final = f"INSERT INTO events ({_EVENT_COLUMNS}) VALUES ({', '.join('?' * 9)})"  # noqa: S608 (constant)
#: The name's owner and, if published, the version: one lookup for the publish checks (a
#: version row cannot exist without its owner row).
_SELECT_CLAIM: Final = (
    "SELECT o.owner, "  # noqa: S608 (constant column list)
    + ", ".join(f"v.{column.strip()}" for column in _VERSION_COLUMNS.split(","))
    + " FROM owners AS o LEFT JOIN versions AS v ON v.name = o.name AND v.version = ? WHERE o.name = ?"
)
#: Distinct source texts a scan keeps parsed at once (cleared when full).
_SCAN_SOURCES: Final = 4096
_SCAN_FIRST: Final = f"{_SELECT_VERSION} ORDER BY name, version LIMIT ?"
_SCAN_AFTER: Final = f"{_SELECT_VERSION} WHERE (name, version) > (?, ?) ORDER BY name, version LIMIT ?"


def _version_row(version: StoredVersion) -> tuple[Any, ...]:
    return (
        version.name,
        version.version,
        version.digest,
        version.document,
        version.provider,
        version.category,
        version.resource_type,
        dump_json(version.source.to_dict(), "Source"),
        format_time(version.published_at),
        version.sequence,
        format_time(version.updated_at) if version.updated_at else None,
        int(version.withdrawn),
        int(version.deprecated),
    )


def _version_from_row(row: Sequence[Any]) -> StoredVersion:
    return StoredVersion(
        name=row[0],
        version=row[1],
        digest=row[2],
        document=bytes(row[3]),
        provider=row[4],
        category=row[5],
        resource_type=row[6],
        source=Source.from_dict(load_json(row[7])),
        published_at=parse_time(row[8]),
        sequence=row[9],
        updated_at=parse_time(row[10]) if row[10] else None,
        withdrawn=bool(row[11]),
        deprecated=bool(row[12]),
    )


def _scanned_version(row: Sequence[Any], sources: dict[str, Source]) -> StoredVersion:
    """``_version_from_row`` for a scan: versions of one sync share their source, so its JSON is
    parsed once per distinct text and the ``Source`` (frozen) shared, as is the rest of a row
    already in the types ``StoredVersion`` holds (cold start: a 100,000-version scan parsed
    100,000 identical source objects, and kept them). The version is built field by field
    (``stored_version_of``), and a time as ``format_time`` wrote it read by ``fromisoformat``
    inline: this runs once per stored version on a cold start."""
    (name, version, digest, document, provider, category, resource_type, source_json, published, sequence, updated,
     withdrawn, deprecated) = row  # fmt: skip
    source = sources.get(source_json)
    if source is None:
        if len(sources) >= _SCAN_SOURCES:
            sources.clear()
        source = sources[source_json] = Source.from_dict(load_json(source_json))
    published_at = _fromisoformat(published)
    if published_at.tzinfo is not UTC or published[-1:] != "Z":
        published_at = parse_time(published)
    return stored_version_of(
        name,
        version,
        digest,
        document if type(document) is bytes else bytes(document),
        provider,
        category,
        resource_type,
        source,
        published_at,
        sequence,
        _scanned_time(updated) if updated else None,
        withdrawn == 1,
        deprecated == 1,
    )


_fromisoformat: Final = datetime.fromisoformat


def _scanned_time(text: str) -> datetime:
    """``parse_time`` of a stored time: what ``format_time`` wrote (UTC, ending in ``Z``), which
    ``datetime.fromisoformat`` reads as it is into the same aware datetime (tzinfo ``UTC``);
    anything else goes through ``parse_time``."""
    if text[-1:] == "Z":
        parsed = datetime.fromisoformat(text)
        if parsed.tzinfo is UTC:
            return parsed
    return parse_time(text)


def _event_from_row(row: Sequence[Any]) -> Event:
    return Event(
        sequence=row[0],
        type=EventType(row[1]),
        time=from_micros(row[2]),
        name=row[3],
        version=row[4],
        provider=row[5],
        category=row[6],
        resource_type=row[7],
        data=load_json(row[8]),
    )


def _lease_from_row(name: str, row: Sequence[Any] | None) -> LeaseRow | None:
    if row is None:
        return None
    return LeaseRow(name=name, holder=row[0], expires_at=from_micros(row[1]), token=row[2])


# -- errors --------------------------------------------------------------------------------


def _translate(exc: sqlite3.Error, path: Path) -> StorageError:
    """Our error for a driver error: ``StorageUnavailable`` when retrying later may work
    (locked, I/O, cannot open, disk full, closed), ``StorageError`` otherwise."""
    details = {"path": str(path), "sqlite_error": str(exc)}
    if isinstance(exc, sqlite3.ProgrammingError):
        return StorageUnavailable(f"SQLite store {path} is closed", details=details)
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in _UNAVAILABLE_CODES:
        return StorageUnavailable(f"SQLite database {path} is unavailable: {exc}", details=details)
    return StorageError(f"SQLite database {path} failed: {exc}", details=details)


# -- options -------------------------------------------------------------------------------


def _parse_synchronous(value: object) -> str:
    mode = str(value).strip().lower()
    if mode not in SYNCHRONOUS_MODES:
        raise choice_error("sqlite", "synchronous", value, SYNCHRONOUS_MODES, label="synchronous mode")
    return mode


def _parse_busy_timeout(value: object) -> int:
    return int_option("sqlite", "busy_timeout", value, 0, unit="milliseconds")


def _path_from_uri(uri: str, netloc: str, path: str) -> str:
    if netloc:
        raise ConfigError(
            f"sqlite URIs have no host: use sqlite:///relative/path.db or sqlite:////absolute/path.db (got {uri!r})"
        )
    if not path.startswith("/") or len(path) < 2:
        raise ConfigError(f"sqlite URI {uri!r} names no file: use sqlite:///relative/path.db or sqlite:////abs/path.db")
    return unquote(path[1:])


# -- the store -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Executors:
    writer: ThreadPoolExecutor
    reader: ThreadPoolExecutor


class SQLiteStore(RowLeases, ThreadedStore, ComponentStore):
    """A ``ComponentStore`` in one SQLite file (see the module docstring for guarantees)."""

    scheme: ClassVar[str] = "sqlite"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: str = "normal",
        busy_timeout: int = DEFAULT_BUSY_TIMEOUT_MS,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        if str(path) in ("", ":memory:") or str(path).startswith("file:"):
            raise ConfigError(
                f"SQLiteStore needs a file path (got {str(path)!r}); use memory:// for an in-memory store"
            )
        self.path = Path(path).absolute()
        self.synchronous = _parse_synchronous(synchronous)
        self.busy_timeout = _parse_busy_timeout(busy_timeout)
        self._clock = clock
        self._executors: _Executors | None = None
        self._state_lock = asyncio.Lock()
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None

    @classmethod
    def from_uri(cls, uri: str, **options: Any) -> Self:
        netloc, path, query = split_uri(uri, cls.scheme)
        clock = options.pop("clock", utcnow)
        merged = uri_options(cls.scheme, query, options, _OPTIONS)
        return cls(
            _path_from_uri(uri, netloc, path),
            synchronous=_parse_synchronous(merged.get("synchronous", "normal")),
            busy_timeout=_parse_busy_timeout(merged.get("busy_timeout", DEFAULT_BUSY_TIMEOUT_MS)),
            clock=clock,
        )

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r}, synchronous={self.synchronous!r}, open={self._executors is not None})"

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        async with self._state_lock:
            if self._executors is not None:
                return
            executors = _Executors(
                writer=ThreadPoolExecutor(max_workers=1, thread_name_prefix="nestor-sqlite-writer"),
                reader=ThreadPoolExecutor(max_workers=1, thread_name_prefix="nestor-sqlite-reader"),
            )
            loop = asyncio.get_running_loop()
            try:
                await loop.run_in_executor(executors.writer, self._open_writer)
                await loop.run_in_executor(executors.reader, self._open_reader)
            except BaseException:
                await loop.run_in_executor(executors.writer, self._close_writer)
                await loop.run_in_executor(executors.reader, self._close_reader)
                executors.writer.shutdown(wait=False)
                executors.reader.shutdown(wait=False)
                raise
            self._executors = executors

    async def close(self) -> None:
        async with self._state_lock:
            executors, self._executors = self._executors, None
            if executors is None:
                return
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(executors.writer, self._close_writer)
            await loop.run_in_executor(executors.reader, self._close_reader)
            executors.writer.shutdown(wait=False)
            executors.reader.shutdown(wait=False)

    async def ping(self) -> None:
        try:
            await self._read(lambda conn: conn.execute("SELECT 1").fetchone())
        except StorageError as exc:
            raise StorageUnavailable(exc.message, details=exc.details) from exc
        if not self.path.exists():
            raise StorageUnavailable(f"SQLite database {self.path} was removed", details={"path": str(self.path)})

    async def pragmas(self) -> dict[str, Any]:
        """The settings in force on the write connection (for diagnostics and tests)."""

        def read(conn: sqlite3.Connection) -> dict[str, Any]:
            return {
                name: conn.execute(f"PRAGMA {name}").fetchone()[0]
                for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys", "user_version")
            }

        executors = self._require_open()
        return await self._submit(executors.writer, lambda: read(self._connection(self._writer)))

    def _connect(self) -> sqlite3.Connection:
        if sqlite3.sqlite_version_info < MIN_SQLITE_VERSION:
            raise StorageError(f"SQLite {sqlite3.sqlite_version} is too old; nestor-catalog needs >= 3.24")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailable(f"cannot create the directory of {self.path}: {exc}") from exc
        try:
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout / 1000, isolation_level=None)
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout)}")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            conn.close()
            raise _translate(exc, self.path) from exc
        return conn

    def _enable_wal(self, conn: sqlite3.Connection) -> str:
        """Switch to WAL. Changing the journal mode needs an exclusive lock, and SQLite
        answers "database is locked" at once, without its busy handler, while another
        connection (a second process opening the same new file) holds any lock: retry
        until ``busy_timeout`` runs out."""
        deadline = time.monotonic() + self.busy_timeout / 1000
        delay = 0.005
        while True:
            try:
                return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() + delay > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.1)

    def _open_writer(self) -> None:
        conn = self._connect()
        try:
            mode = self._enable_wal(conn)
            if str(mode).lower() != "wal":
                raise StorageError(f"SQLite database {self.path} cannot use WAL mode (journal_mode={mode})")
            conn.execute(f"PRAGMA synchronous = {self.synchronous.upper()}")
            migrate(conn)
        except sqlite3.Error as exc:
            conn.close()
            raise _translate(exc, self.path) from exc
        except BaseException:
            conn.close()
            raise
        self._writer = conn

    def _open_reader(self) -> None:
        conn = self._connect()
        try:
            conn.execute("PRAGMA query_only = ON")
        except sqlite3.Error as exc:
            conn.close()
            raise _translate(exc, self.path) from exc
        self._reader = conn

    def _close_writer(self) -> None:
        conn, self._writer = self._writer, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("PRAGMA optimize")
            conn.close()

    def _close_reader(self) -> None:
        conn, self._reader = self._reader, None
        if conn is not None:
            conn.close()

    # -- plumbing --------------------------------------------------------------------------

    def _require_open(self) -> _Executors:
        if self._executors is None:
            raise StorageUnavailable(f"SQLite store {self.path} is not open", details={"path": str(self.path)})
        return self._executors

    def _closed_error(self) -> StorageUnavailable:
        return StorageUnavailable(f"SQLite store {self.path} is closed", details={"path": str(self.path)})

    def _connection(self, conn: sqlite3.Connection | None) -> sqlite3.Connection:
        if conn is None:
            raise self._closed_error()
        return conn

    async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in one ``BEGIN IMMEDIATE`` transaction on the writer thread; any
        exception (ours or the driver's) rolls the whole transaction back."""
        return await self._submit(self._require_open().writer, lambda: self._transaction(work))

    def _transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._connection(self._writer)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from exc
        return result

    async def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await self._submit(self._require_open().reader, lambda: self._run_read(work))

    def _run_read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return work(self._connection(self._reader))
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from exc

    @staticmethod
    def _next_counters(conn: sqlite3.Connection, *, event: bool, audit: bool) -> tuple[int, int]:
        """Advance the event sequence and/or the audit counter inside the caller's
        transaction; returns the new values (a counter not advanced is returned as is)."""
        last_sequence, last_audit = conn.execute("SELECT last_sequence, last_audit FROM meta").fetchone()
        sequence, counter = last_sequence + int(event), last_audit + int(audit)
        conn.execute("UPDATE meta SET last_sequence = ?, last_audit = ?", (sequence, counter))
        return sequence, counter

    @staticmethod
    def _insert_event(conn: sqlite3.Connection, event: Event, sequence: int) -> Event:
        stored = replace(event, sequence=sequence)
        conn.execute(
            _INSERT_EVENT,
            (
                sequence,
                stored.type.value,
                to_micros(stored.time),
                stored.name,
                stored.version,
                stored.provider,
                stored.category,
                stored.resource_type,
                event_data_json(stored),
            ),
        )
        return stored

    @staticmethod
    def _insert_audit(conn: sqlite3.Connection, audit: AuditRecord, counter: int, sequence: int | None) -> AuditRecord:
        stored = replace(
            audit,
            id=audit_id(audit.timestamp, counter),
            event_sequence=sequence if sequence is not None else audit.event_sequence,
        )
        conn.execute(
            "INSERT INTO audit (id, action, resource, version, user_name, outcome, event_sequence, record) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                stored.id,
                stored.action,
                stored.resource,
                stored.version,
                stored.user,
                stored.outcome,
                stored.event_sequence,
                dump_json(stored.to_dict(), "AuditRecord"),
            ),
        )
        return stored

    # -- versions --------------------------------------------------------------------------

    async def publish(
        self, version: StoredVersion, event: Event, audit: AuditRecord, *, expected_sequence: int | None = None
    ) -> PublishOutcome:
        work = self._publish_work(version, event, audit)
        if expected_sequence is None:
            return await self._write(work)

        def conditional(conn: sqlite3.Connection) -> PublishOutcome:
            (last,) = conn.execute("SELECT last_sequence FROM meta").fetchone()
            if last != expected_sequence:
                raise concurrent_error(expected_sequence, last)
            return work(conn)

        return await self._write(conditional)

    async def publish_many(
        self, items: Sequence[tuple[StoredVersion, Event, AuditRecord]]
    ) -> list[PublishOutcome | CatalogError]:
        """One ``BEGIN IMMEDIATE`` transaction (one commit, one hop to the writer thread)
        for the whole batch, a savepoint per item so a refused item leaves nothing behind;
        a crash loses the batch as a whole, never part of an item."""
        works = [self._publish_work(*item) for item in items]

        def work(conn: sqlite3.Connection) -> list[PublishOutcome | CatalogError]:
            out: list[PublishOutcome | CatalogError] = []
            for one in works:
                conn.execute("SAVEPOINT publish_item")
                try:
                    out.append(one(conn))
                except (ImmutableVersionError, OwnershipConflict) as exc:
                    conn.execute("ROLLBACK TO SAVEPOINT publish_item")
                    out.append(exc)
                conn.execute("RELEASE SAVEPOINT publish_item")
            return out

        return await self._write(work) if works else []

    def _publish_work(
        self, version: StoredVersion, event: Event, audit: AuditRecord
    ) -> Callable[[sqlite3.Connection], PublishOutcome]:
        version, event, audit = normalize_version(version), normalize_event(event), normalize_audit(audit)

        def work(conn: sqlite3.Connection) -> PublishOutcome:
            claim = conn.execute(_SELECT_CLAIM, (version.version, version.name)).fetchone()
            claimant = version.source.owner
            if claim is not None and claim[0] != claimant:
                raise ownership_error(version.name, claim[0], claimant)
            if claim is not None and claim[1] is not None:
                existing = _version_from_row(claim[1:])
                if existing.digest != version.digest:
                    raise immutable_error(existing, version)
                return PublishOutcome(created=False, version=existing)
            sequence, counter = self._next_counters(conn, event=True, audit=True)
            if claim is None:
                conn.execute("INSERT INTO owners (name, owner) VALUES (?, ?)", (version.name, claimant))
            stored = replace(version, sequence=sequence)
            conn.execute(_INSERT_VERSION, _version_row(stored))
            stored_event = self._insert_event(conn, event, sequence)
            stored_audit = self._insert_audit(conn, audit, counter, sequence)
            return PublishOutcome(created=True, version=stored, event=stored_event, audit=stored_audit)

        return work

    async def get_version(self, name: str, version: str) -> StoredVersion | None:
        row = await self._read(
            lambda conn: conn.execute(f"{_SELECT_VERSION} WHERE name = ? AND version = ?", (name, version)).fetchone()
        )
        return _version_from_row(row) if row is not None else None

    async def list_versions(self, name: str) -> list[StoredVersion]:
        rows = await self._read(
            lambda conn: conn.execute(f"{_SELECT_VERSION} WHERE name = ? ORDER BY sequence", (name,)).fetchall()
        )
        return [_version_from_row(row) for row in rows]

    async def scan_versions(self, *, page_size: int = 1000) -> AsyncIterator[StoredVersion]:
        """Keyset pagination on the primary key: each page is an index range scan that
        starts after the last key seen, so the cost per page stays flat. The next page is
        read on the reader thread while this one is converted and consumed (sqlite3 steps
        without the GIL): a cold start overlaps the reads with building the read model."""
        check_limit(page_size, "page_size")
        sources: dict[str, Source] = {}
        pending: asyncio.Future[list[Any]] | None = asyncio.ensure_future(self._scan_read(None, page_size))
        try:
            while pending is not None:
                rows = await pending
                pending = None
                if len(rows) == page_size:
                    pending = asyncio.ensure_future(self._scan_read((rows[-1][0], rows[-1][1]), page_size))
                for row in rows:
                    yield _scanned_version(row, sources)
        finally:
            if pending is not None:  # the consumer stopped early: drop the read ahead
                pending.cancel()

    def _scan_read(self, after: tuple[str, str] | None, page_size: int) -> Awaitable[list[Any]]:
        return self._read(functools.partial(self._scan_page, after=after, page_size=page_size))

    @staticmethod
    def _scan_page(conn: sqlite3.Connection, after: tuple[str, str] | None, page_size: int) -> list[Any]:
        if after is None:
            return conn.execute(_SCAN_FIRST, (page_size,)).fetchall()
        return conn.execute(_SCAN_AFTER, (*after, page_size)).fetchall()

    async def get_owner(self, name: str) -> str | None:
        row = await self._read(lambda conn: conn.execute("SELECT owner FROM owners WHERE name = ?", (name,)).fetchone())
        return row[0] if row is not None else None

    async def _update_version(
        self, name: str, version: str, event: Event, audit: AuditRecord, changes: dict[str, Any]
    ) -> StoredVersion:
        def work(conn: sqlite3.Connection) -> StoredVersion:
            row = conn.execute(f"{_SELECT_VERSION} WHERE name = ? AND version = ?", (name, version)).fetchone()
            if row is None:
                raise VersionNotFound(name, version, message=f"{name} {version} is not published")
            updated = replace(_version_from_row(row), updated_at=event.time, **changes)
            sequence, counter = self._next_counters(conn, event=True, audit=True)
            conn.execute(
                "UPDATE versions SET document = ?, deprecated = ?, withdrawn = ?, updated_at = ? "
                "WHERE name = ? AND version = ?",
                (
                    updated.document,
                    int(updated.deprecated),
                    int(updated.withdrawn),
                    format_time(event.time),
                    name,
                    version,
                ),
            )
            self._insert_event(conn, event, sequence)
            self._insert_audit(conn, audit, counter, sequence)
            return updated

        return await self._write(work)

    # -- events and audit ------------------------------------------------------------------

    async def _append(self, event: Event | None, audit: AuditRecord | None) -> tuple[Event | None, AuditRecord | None]:
        def work(conn: sqlite3.Connection) -> tuple[Event | None, AuditRecord | None]:
            sequence, counter = self._next_counters(conn, event=event is not None, audit=audit is not None)
            stored_event = self._insert_event(conn, event, sequence) if event is not None else None
            event_sequence = sequence if event is not None else None
            stored_audit = self._insert_audit(conn, audit, counter, event_sequence) if audit is not None else None
            return stored_event, stored_audit

        return await self._write(work)

    async def read_events(self, after: int, limit: int = 1000) -> list[Event]:
        check_after(after)
        check_limit(limit, "limit")
        rows = await self._read(
            lambda conn: conn.execute(
                f"{_SELECT_EVENTS} WHERE sequence > ? ORDER BY sequence LIMIT ?", (after, limit)
            ).fetchall()
        )
        return [_event_from_row(row) for row in rows]

    async def last_sequence(self) -> int:
        row = await self._read(lambda conn: conn.execute("SELECT last_sequence FROM meta").fetchone())
        return int(row[0])

    async def first_sequence(self) -> int:
        row = await self._read(
            lambda conn: conn.execute(
                "SELECT COALESCE((SELECT MIN(sequence) FROM events), last_sequence + 1) FROM meta"
            ).fetchone()
        )
        return int(row[0])

    async def trim_events(self, *, older_than: datetime | None = None, keep_last: int | None = None) -> int:
        cutoff_time = ensure_utc(older_than, "older_than") if older_than is not None else None

        def work(conn: sqlite3.Connection) -> int:
            last = conn.execute("SELECT last_sequence FROM meta").fetchone()[0]
            first_young = None
            if cutoff_time is not None:
                row = conn.execute(
                    "SELECT sequence FROM events WHERE time_us >= ? ORDER BY sequence LIMIT 1",
                    (to_micros(cutoff_time),),
                ).fetchone()
                first_young = row[0] if row is not None else None
            cutoff = retention_cutoff(last=last, first_young=first_young, older_than=cutoff_time, keep_last=keep_last)
            return conn.execute("DELETE FROM events WHERE sequence < ?", (cutoff,)).rowcount

        return await self._write(work)

    async def query_audit(self, query: AuditQuery) -> AuditPage:
        bounds = audit_range(query)
        clauses: list[str] = []
        params: list[Any] = []
        for column, value in (
            ("resource", query.resource),
            ("version", query.version),
            ("user_name", query.user),
            ("action", query.action),
        ):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if bounds.lower is not None:
            clauses.append("id >= ?")
            params.append(bounds.lower)
        if bounds.upper is not None:
            clauses.append("id < ?")
            params.append(bounds.upper)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT id, record FROM audit {where} ORDER BY id DESC LIMIT ?"  # noqa: S608 (constant columns)
        params.append(bounds.limit + 1)
        rows = await self._read(lambda conn: conn.execute(sql, params).fetchall())
        return AuditPage(
            records=[AuditRecord.from_dict(load_json(record)) for _, record in rows[: bounds.limit]],
            next_cursor=next_cursor([row[0] for row in rows], bounds.limit),
        )

    # -- sync state ------------------------------------------------------------------------

    async def get_sync_state(self, source: str) -> SyncState | None:
        row = await self._read(
            lambda conn: conn.execute("SELECT state FROM sync_state WHERE source = ?", (source,)).fetchone()
        )
        return SyncState.from_dict(load_json(row[0])) if row is not None else None

    async def put_sync_state(self, state: SyncState) -> None:
        if state.updated_at is not None:
            state = replace(state, updated_at=ensure_utc(state.updated_at, "SyncState.updated_at"))
        text = dump_json(state.to_dict(), "SyncState")
        updated_at = format_time(state.updated_at) if state.updated_at else None

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO sync_state (source, updated_at, state) VALUES (?, ?, ?) "
                "ON CONFLICT (source) DO UPDATE SET updated_at = excluded.updated_at, state = excluded.state",
                (state.source, updated_at, text),
            )

        await self._write(work)

    # -- leases ----------------------------------------------------------------------------

    async def _change_lease(self, name: str, decide: LeaseDecision) -> Lease | None:
        """Read the lease, let ``decide`` compute its next state and store it, all in one
        write transaction (the conditional write a lease needs)."""

        def work(conn: sqlite3.Connection) -> Lease | None:
            current = _lease_from_row(
                name, conn.execute("SELECT holder, expires_us, token FROM leases WHERE name = ?", (name,)).fetchone()
            )
            row = decide(current, self._clock())
            if row is None:
                return None
            conn.execute(
                "INSERT INTO leases (name, holder, expires_us, token) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_us = excluded.expires_us, "
                "token = excluded.token",
                (name, row.holder, to_micros(row.expires_at), row.token),
            )
            return row.as_lease() if row.holder is not None else None

        return await self._write(work)

    async def get_lease(self, name: str) -> Lease | None:
        row = await self._read(
            lambda conn: conn.execute("SELECT holder, expires_us, token FROM leases WHERE name = ?", (name,)).fetchone()
        )
        current = _lease_from_row(name, row)
        if current is None or current.is_free(self._clock()):
            return None
        return current.as_lease()
