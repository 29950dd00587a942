"""``nestor-catalog storage init`` on DynamoDB (moto_server over HTTP), SQLite and memory."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result

from nestor_catalog_core.cli import main
from nestor_catalog_core.storage.sqlite import SCHEMA_VERSION, migrate
from tests.support.moto import REGION, moto_or_skip, unique_table_name


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_or_skip() as server:
        yield server.endpoint


@pytest.fixture(scope="module")
def raw(endpoint: str) -> Iterator[Any]:
    client = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)
    yield client
    client.close()


@pytest.fixture
def table(raw: Any) -> Iterator[str]:
    name = unique_table_name("cli")
    yield name
    if name in raw.list_tables()["TableNames"]:
        raw.delete_table(TableName=name)


def init(*args: str) -> Result:
    return CliRunner().invoke(main, ["storage", "init", *args])


def test_storage_is_a_core_command() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "storage" in result.output
    assert "init" in CliRunner().invoke(main, ["storage", "--help"]).output


def test_dynamodb_init_creates_the_table_once_and_enables_pitr(endpoint: str, table: str, raw: Any) -> None:
    uri = f"dynamodb://{table}?region={REGION}&endpoint={endpoint}"

    first = init("--uri", uri, "--pitr")
    second = init("--uri", uri, "--pitr")

    assert first.exit_code == 0, first.output
    assert first.output.splitlines() == [
        f"DynamoDB table {table} at {endpoint}:",
        f"  created table {table} (billing PAY_PER_REQUEST, indexes GSI1, GSI2, status ACTIVE)",
        "  point-in-time recovery: enabled",
    ]
    assert second.exit_code == 0, second.output
    assert f"table {table} already exists with the expected layout" in second.output
    assert "point-in-time recovery: already enabled" in second.output
    backups = raw.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_dynamodb_init_from_table_flags_with_provisioned_capacity(endpoint: str, table: str, raw: Any) -> None:
    result = init(
        "--table", table, "--region", REGION, "--endpoint", endpoint, "--read-capacity", "4", "--write-capacity", "2"
    )

    assert result.exit_code == 0, result.output
    assert "billing PROVISIONED" in result.output
    assert "point-in-time recovery: not requested" in result.output
    throughput = raw.describe_table(TableName=table)["Table"]["ProvisionedThroughput"]
    assert (throughput["ReadCapacityUnits"], throughput["WriteCapacityUnits"]) == (4, 2)

    again = init("--table", table, "--region", REGION, "--endpoint", endpoint, "--billing-mode", "pay_per_request")
    assert again.exit_code == 0, again.output
    assert "note: PAY_PER_REQUEST billing was requested but the existing table uses PROVISIONED" in again.output


def test_dynamodb_init_refuses_a_table_with_another_layout(endpoint: str, table: str, raw: Any) -> None:
    raw.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "N"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )

    result = init("--table", table, "--region", REGION, "--endpoint", endpoint)

    assert result.exit_code == 2
    assert f"table {table} exists but is not laid out for nestor-catalog" in result.output
    assert "attribute SK has type N, expected S (string)" in result.output
    assert "global secondary index GSI1 (GSI1PK, GSI1SK) is missing" in result.output


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_dynamodb_init_reports_an_unreachable_endpoint(table: str) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    result = init("--uri", f"dynamodb://{table}?region={REGION}&endpoint={endpoint}&max_attempts=1&timeout=1")
    assert result.exit_code == 1
    assert f"nestor-catalog storage init: cannot reach DynamoDB at {endpoint}" in result.output


def test_sqlite_init_creates_migrates_and_then_has_nothing_to_do(tmp_path: Path) -> None:
    created = init("--uri", f"sqlite:///{tmp_path}/new.db")
    assert created.exit_code == 0, created.output
    assert created.output == f"created SQLite database {tmp_path}/new.db (schema version {SCHEMA_VERSION})\n"
    again = init("--uri", f"sqlite:///{tmp_path}/new.db")
    assert (
        again.output
        == f"SQLite database {tmp_path}/new.db is already at schema version {SCHEMA_VERSION}: nothing to do\n"
    )

    with closing(sqlite3.connect(tmp_path / "old.db", isolation_level=None)) as conn:
        migrate(conn, target=1)
    migrated = init("--uri", f"sqlite:///{tmp_path}/old.db")
    assert migrated.exit_code == 0, migrated.output
    assert migrated.output == f"migrated SQLite database {tmp_path}/old.db from schema version 1 to {SCHEMA_VERSION}\n"


def test_memory_init_has_nothing_to_do() -> None:
    result = init("--uri", "memory://")
    assert result.exit_code == 0
    assert result.output == "memory://: the memory store lives in process memory; nothing to initialize\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give the store to initialize: --uri URI"),
        (("--uri", "memory://", "--table", "catalog"), "give either --uri or --table, not both"),
        (
            ("--uri", "sqlite:///x.db", "--pitr", "--read-capacity", "2"),
            "--read-capacity, --pitr: only for dynamodb://",
        ),
        (("--uri", "redis://x"), "unknown storage URI scheme 'redis'"),
        (("--uri", "dynamodb://catalog?colour=red"), "unknown dynamodb:// storage option"),
    ],
)
def test_usage_errors_exit_2(args: tuple[str, ...], message: str) -> None:
    result = init(*args)
    assert result.exit_code == 2
    assert message in result.output
