"""Publish throughput to SQLite: versions/s with their event and audit record.

Ours: ``SQLiteStore.publish`` awaited one after another (what a git sync does), and with
32 publishes in flight (concurrent API writers). Each publish is one ``BEGIN IMMEDIATE``
transaction that checks ownership and immutability, advances the counters and writes the
owner, version, event and audit rows, run on the store's writer thread.

Ceiling, same run, same schema and pragmas: bare ``sqlite3`` on the calling thread
inserting the same, pre-serialized version, event and audit rows (three INSERTs per
transaction) with nothing else. The ratio is what our layer (checks, counters, JSON,
the thread hop) costs over the database itself.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from tests.core.storage.builders import PublishArgs, publish_args

from benchmarks._harness import Context, Row
from nestor_catalog_core.models import format_time
from nestor_catalog_core.storage import SQLiteStore
from nestor_catalog_core.storage._common import audit_id, dump_json, to_micros
from nestor_catalog_core.storage.sqlite import migrate

#: A git sync of 10k definitions should store them in under ten seconds.
GOAL_RATE = 1000.0
IN_FLIGHT = 32


def _fresh(path: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


async def _publish_all(path: Path, synchronous: str, batch: list[PublishArgs], in_flight: int) -> float:
    async with SQLiteStore(path, synchronous=synchronous) as store:
        start = time.perf_counter()
        for first in range(0, len(batch), in_flight):
            chunk = batch[first : first + in_flight]
            await asyncio.gather(*(store.publish(*args.as_tuple()) for args in chunk))
        return time.perf_counter() - start


def _raw_rows(batch: list[PublishArgs]) -> list[tuple[tuple[Any, ...], tuple[Any, ...], tuple[Any, ...]]]:
    rows = []
    for sequence, args in enumerate(batch, start=1):
        version, event, audit = args.as_tuple()
        rows.append(
            (
                (
                    version.name,
                    version.version,
                    version.digest,
                    version.document,
                    version.provider,
                    version.category,
                    version.resource_type,
                    dump_json(version.source.to_dict(), "source"),
                    format_time(version.published_at),
                    sequence,
                    None,
                    0,
                    0,
                ),
                (
                    sequence,
                    event.type.value,
                    to_micros(event.time),
                    event.name,
                    event.version,
                    event.provider,
                    event.category,
                    event.resource_type,
                    dump_json(event.data, "data"),
                ),
                (
                    audit_id(audit.timestamp, sequence),
                    audit.action,
                    audit.resource,
                    audit.version,
                    audit.user,
                    audit.outcome,
                    sequence,
                    dump_json(audit.to_dict(), "audit"),
                ),
            )
        )
    return rows


def _raw_inserts(path: Path, synchronous: str, batch: list[PublishArgs]) -> float:
    rows = _raw_rows(batch)
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        migrate(conn)
        start = time.perf_counter()
        for version_row, event_row, audit_row in rows:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", version_row)
            conn.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", event_row)
            conn.execute("INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?)", audit_row)
            conn.execute("COMMIT")
        return time.perf_counter() - start


def _row(label: str, count: int, ours: float, ceiling: float, synchronous: str) -> Row:
    rate = count / ours
    return Row(
        benchmark=label,
        figure=rate,
        unit="versions/s",
        ceiling=count / ceiling,
        ceiling_label=f"bare sqlite3, 3 INSERTs/tx, {synchronous}",
        goal=f">= {GOAL_RATE:,.0f} versions/s",
        met=rate >= GOAL_RATE,
        extra={"versions": count, "synchronous": synchronous, "seconds": ours, "ceiling_seconds": ceiling},
    )


def run(ctx: Context) -> list[Row]:
    """Best of ``repeat`` interleaved runs per measurement: the machine is shared, and the
    best run is the one least disturbed by other work."""
    count = ctx.scale(3000, 300)
    repeat = ctx.scale(3, 1)
    batch = [publish_args(f"bench-{i:05d}", "1.0.0") for i in range(count)]
    directory = ctx.workdir / "storage"
    directory.mkdir(parents=True, exist_ok=True)
    rows = []
    for synchronous in ("normal", "full"):
        ceiling = sequential = concurrent = float("inf")
        for _ in range(repeat):
            ceiling = min(ceiling, _raw_inserts(_fresh(directory / "raw.db"), synchronous, batch))
            sequential = min(
                sequential, asyncio.run(_publish_all(_fresh(directory / "ours.db"), synchronous, batch, 1))
            )
            concurrent = min(
                concurrent, asyncio.run(_publish_all(_fresh(directory / "ours.db"), synchronous, batch, IN_FLIGHT))
            )
        rows.append(_row(f"SQLite publish, one at a time ({synchronous})", count, sequential, ceiling, synchronous))
        rows.append(
            _row(f"SQLite publish, {IN_FLIGHT} in flight ({synchronous})", count, concurrent, ceiling, synchronous)
        )
    return rows
