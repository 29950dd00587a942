"""``nestor-catalog storage init``: create (or migrate) the store a storage URI names.

Run it once before the first ``serve`` on DynamoDB (the server only checks that its table
exists and has the right layout; it never creates tables), or any time to check a store:
it is idempotent.

- ``dynamodb://table?region=..&endpoint=..`` (or ``--table``/``--region``/``--endpoint``):
  creates the table with its indexes, on demand or with ``--read-capacity`` and
  ``--write-capacity`` (provisioned), waits until it is ACTIVE (``--no-wait`` returns at
  once), enables point-in-time recovery with ``--pitr``. An existing table with the right
  layout is left as it is; one with another layout is an error naming every difference.
- ``sqlite:///path.db``: creates the file or migrates its schema to this release.
- ``memory://``: nothing to do.

The command takes a URI rather than ``--config``: reading the server's YAML configuration
would make core import the server package. ``Settings.store_uri()`` builds the same URI the
server opens; the DynamoDB capacity and PITR settings map one to one onto the flags here.

Exit codes: 0 done, 1 the store failed (unreachable, refused), 2 a usage or configuration
error (bad URI, options for the wrong store, a table with another layout).
"""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import click

from nestor_catalog_core._exceptions import CatalogError, ConfigError
from nestor_catalog_core.cli._output import EXIT_FINDINGS, EXIT_USAGE
from nestor_catalog_core.storage import ComponentStore, SQLiteStore, open_store

__all__ = ["init", "storage"]

_DYNAMODB_FLAGS = ("region", "endpoint", "billing_mode", "read_capacity", "write_capacity", "pitr")


@click.group()
def storage() -> None:
    """Create and check the catalog's storage."""


@storage.command()
@click.option(
    "--uri",
    envvar="NESTOR_CATALOG_STORAGE_URI",
    help="Storage URI: memory://, sqlite:///path/catalog.db or dynamodb://table?region=...&endpoint=... "
    "(env NESTOR_CATALOG_STORAGE_URI).",
)
@click.option("--table", help="DynamoDB table name, instead of --uri.")
@click.option("--region", help="AWS region of the DynamoDB table.")
@click.option("--endpoint", help="DynamoDB endpoint override, e.g. http://127.0.0.1:8000 (DynamoDB Local).")
@click.option(
    "--billing-mode",
    type=click.Choice(["PAY_PER_REQUEST", "PROVISIONED"], case_sensitive=False),
    help="DynamoDB billing of a new table (default: PROVISIONED when capacities are given, else PAY_PER_REQUEST).",
)
@click.option("--read-capacity", type=click.IntRange(min=1), help="Provisioned read capacity units of a new table.")
@click.option("--write-capacity", type=click.IntRange(min=1), help="Provisioned write capacity units of a new table.")
@click.option("--pitr/--no-pitr", default=None, help="Enable DynamoDB point-in-time recovery.")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait until a new table is ACTIVE.")
def init(
    uri: str | None,
    table: str | None,
    region: str | None,
    endpoint: str | None,
    billing_mode: str | None,
    read_capacity: int | None,
    write_capacity: int | None,
    pitr: bool | None,
    wait: bool,
) -> None:
    """Create the store a URI names, or migrate it; idempotent."""
    uri = _resolve_uri(uri, table)
    scheme = uri.partition("://")[0].lower()
    flags: dict[str, Any] = {
        "region": region,
        "endpoint": endpoint,
        "billing_mode": billing_mode.upper() if billing_mode else None,
        "read_capacity": read_capacity,
        "write_capacity": write_capacity,
        "pitr": pitr,
    }
    given = {name: value for name, value in flags.items() if value is not None}
    try:
        if scheme == "dynamodb":
            lines = asyncio.run(_init_dynamodb(uri, given, wait=wait))
        else:
            if given:
                options = ", ".join("--" + name.replace("_", "-") for name in given)
                raise click.UsageError(f"{options}: only for dynamodb:// stores, not {scheme}://")
            lines = asyncio.run(_init_other(uri, scheme))
    except ConfigError as exc:
        click.echo(f"nestor-catalog storage init: {exc.message}", err=True)
        raise SystemExit(EXIT_USAGE) from exc
    except CatalogError as exc:
        click.echo(f"nestor-catalog storage init: {exc.message}", err=True)
        raise SystemExit(EXIT_FINDINGS) from exc
    for line in lines:
        click.echo(line)


def _resolve_uri(uri: str | None, table: str | None) -> str:
    if uri and table:
        raise click.UsageError("give either --uri or --table, not both")
    if table:
        return f"dynamodb://{table}"
    if not uri:
        raise click.UsageError("give the store to initialize: --uri URI (or --table NAME for DynamoDB)")
    return uri


async def _init_dynamodb(uri: str, flags: dict[str, Any], *, wait: bool) -> list[str]:
    options: dict[str, Any] = {key: value for key, value in flags.items() if key in _DYNAMODB_FLAGS and key != "pitr"}
    if "pitr" in flags:
        options["enable_point_in_time_recovery"] = flags["pitr"]
    store = open_store(uri, **options)  # reports a missing boto3 as the extra to install
    from nestor_catalog_core.storage.dynamodb import DynamoDBStore

    if not isinstance(store, DynamoDBStore):  # a plugin registered for dynamodb://
        return await _open_and_ping(store, uri)
    setup = await store.ensure_table(wait=wait)
    where = f" at {store.endpoint}" if store.endpoint else ""
    return [f"DynamoDB table {store.table_name}{where}:", *(f"  {line}" for line in setup.lines())]


async def _init_other(uri: str, scheme: str) -> list[str]:
    if scheme == "memory":
        open_store(uri)  # validates the URI
        return [f"{uri}: the memory store lives in process memory; nothing to initialize"]
    store = open_store(uri)
    if isinstance(store, SQLiteStore):
        return await _init_sqlite(store)
    return await _open_and_ping(store, uri)


async def _open_and_ping(store: ComponentStore, uri: str) -> list[str]:
    async with store:
        await store.ping()
    return [f"{uri}: opened; its adapter created or migrated what it needs"]


async def _init_sqlite(store: SQLiteStore) -> list[str]:
    before = _sqlite_schema_version(store.path)
    async with store:
        after = int((await store.pragmas())["user_version"])
    if before is None:
        return [f"created SQLite database {store.path} (schema version {after})"]
    if before < after:
        return [f"migrated SQLite database {store.path} from schema version {before} to {after}"]
    return [f"SQLite database {store.path} is already at schema version {after}: nothing to do"]


def _sqlite_schema_version(path: Path) -> int | None:
    """The schema version of an existing database file (0 for an empty one); None when the
    file does not exist yet. A file that is not a database is left for the store to refuse."""
    if not path.exists():
        return None
    try:
        with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as conn:
            version: int = conn.execute("PRAGMA user_version").fetchone()[0]
            return version
    except sqlite3.DatabaseError:
        return 0
