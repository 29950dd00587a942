"""The container's way of starting: ``nestor-catalog serve`` with no configuration file, configured
by environment variables alone, as ``docker run -e ...`` and the Kubernetes manifests start it.

The spec's line ``docker run -e STORAGE_TYPE=dynamodb -e DYNAMODB_ENDPOINT=http://dynamodb:8000
nestor/catalog:dev`` is run here as the real server process with exactly those two variables
(and no AWS credentials at all) against a fresh ``moto_server``: the table is created at start
and the catalog serves and takes writes. Git repositories come from the environment too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from nestor_catalog_core import open_store
from tests.server.api.builders import as_yaml, definition
from tests.support.git import ServedRepo, git_daemon
from tests.support.moto import AWS_ENV, REGION, MotoServer, moto_or_skip, unique_table_name
from tests.support.server import ServerStartError, run_server

pytestmark = pytest.mark.e2e


@pytest.fixture
def moto() -> Iterator[MotoServer]:
    with moto_or_skip() as server:
        yield server


def _dynamodb(endpoint: str) -> object:
    return boto3.client("dynamodb", endpoint_url=endpoint, region_name=REGION, **_credentials())


def _credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": AWS_ENV["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": AWS_ENV["AWS_SECRET_ACCESS_KEY"],
    }


def test_the_specs_docker_run_line_serves_with_those_two_variables_alone(moto: MotoServer) -> None:
    env = {"STORAGE_TYPE": "dynamodb", "DYNAMODB_ENDPOINT": moto.endpoint}
    with run_server(None, env=env, drop_env=("AWS_",)) as server:
        assert "--config" not in server.args
        ready = server.wait_ready()
        assert ready["status"] in {"ready", "ok"}, ready
        with server.client() as client:
            created = client.post(
                "/api/v1/resources",
                content=as_yaml(definition("env-only-queue")),
                headers={"Content-Type": "text/yaml"},
            )
            assert created.status_code == 201, created.text
            fetched = client.get("/api/v1/resources/env-only-queue/1.0.0")
            assert fetched.status_code == 200
            assert client.get("/api/v1/status").json()["storage"]["type"] == "dynamodb"
    table = _dynamodb(moto.endpoint).describe_table(TableName="nestor-catalog")["Table"]  # type: ignore[attr-defined]
    assert table["TableStatus"] == "ACTIVE"
    assert {index["IndexName"] for index in table["GlobalSecondaryIndexes"]} == {"GSI1", "GSI2"}
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_create_table_applies_capacities_and_point_in_time_recovery(moto: MotoServer) -> None:
    table = unique_table_name("created")
    env = {
        "STORAGE_TYPE": "dynamodb",
        "DYNAMODB_ENDPOINT": moto.endpoint,
        "DYNAMODB_TABLE": table,
        "DYNAMODB_CREATE_TABLE": "true",
        "NESTOR_CATALOG__STORAGE__DYNAMODB__READ_CAPACITY": "7",
        "NESTOR_CATALOG__STORAGE__DYNAMODB__WRITE_CAPACITY": "3",
        "NESTOR_CATALOG__STORAGE__DYNAMODB__ENABLE_POINT_IN_TIME_RECOVERY": "true",
    }
    with run_server(None, env=env) as server:
        server.wait_ready()
    client = _dynamodb(moto.endpoint)
    described = client.describe_table(TableName=table)["Table"]  # type: ignore[attr-defined]
    assert described["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
    throughput = described["ProvisionedThroughput"]
    assert (throughput["ReadCapacityUnits"], throughput["WriteCapacityUnits"]) == (7, 3)
    for index in described["GlobalSecondaryIndexes"]:
        assert index["ProvisionedThroughput"]["ReadCapacityUnits"] == 7
    backups = client.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]  # type: ignore[attr-defined]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


async def _create_plain_table(endpoint: str, table: str) -> None:
    store = open_store(f"dynamodb://{table}?region={REGION}&endpoint={endpoint}&create_table=true")
    await store.open()
    await store.close()


def test_point_in_time_recovery_is_turned_on_for_an_existing_table(moto: MotoServer) -> None:
    import asyncio

    table = unique_table_name("existing")
    asyncio.run(_create_plain_table(moto.endpoint, table))
    client = _dynamodb(moto.endpoint)
    before = client.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]  # type: ignore[attr-defined]
    assert before["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "DISABLED"
    env = {
        "STORAGE_TYPE": "dynamodb",
        "DYNAMODB_ENDPOINT": moto.endpoint,
        "DYNAMODB_TABLE": table,
        "DYNAMODB_CREATE_TABLE": "false",
        "NESTOR_CATALOG__STORAGE__DYNAMODB__ENABLE_POINT_IN_TIME_RECOVERY": "true",
    }
    with run_server(None, env=env) as server:
        server.wait_ready()
    after = client.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]  # type: ignore[attr-defined]
    assert after["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_without_table_creation_a_missing_table_stops_the_start_with_the_fix(moto: MotoServer) -> None:
    env = {"STORAGE_TYPE": "dynamodb", "DYNAMODB_ENDPOINT": moto.endpoint, "DYNAMODB_CREATE_TABLE": "false"}
    with pytest.raises(ServerStartError) as failure, run_server(None, env=env):
        pass
    assert "DynamoDB table nestor-catalog does not exist" in str(failure.value)
    assert "nestor-catalog storage init" in str(failure.value)


def test_git_repositories_from_the_environment(tmp_path: Path) -> None:
    """SQLite (the built-in default) and two repositories, one in each documented form."""
    first = ServedRepo.create(tmp_path / "served", tmp_path / "work", "platform-resources.git")
    first.work.write("resources/queue.yaml", as_yaml(definition("env-queue")).decode())
    first.publish("a queue")
    second = ServedRepo.create(tmp_path / "served", tmp_path / "work", "aws-resources.git")
    second.work.write("definitions/bucket.json", json.dumps(definition("env-bucket")))
    second.publish("a bucket")
    with git_daemon(tmp_path / "served") as git_url:
        env = {
            "NESTOR_CATALOG__GIT__REPOSITORIES__0__URL": first.url(git_url),
            "NESTOR_CATALOG__GIT__REPOSITORIES__0__PATH": "resources/",
            "NESTOR_CATALOG__GIT__REPOSITORIES__0__POLL_INTERVAL": "0s",
            "LOG_FORMAT": "json",
        }
        with run_server(None, env=env) as server:
            server.wait_ready()
            with server.client() as client:
                sources = client.get("/api/v1/sync").json()
                assert client.get("/api/v1/resources/env-queue").status_code == 200
        assert "platform-resources" in json.dumps(sources)
        listed = json.dumps([{"url": second.url(git_url), "path": "definitions", "poll_interval": "0s"}])
        with run_server(None, env={"GIT_REPOSITORIES": listed}) as server:
            server.wait_ready()
            with server.client() as client:
                assert client.get("/api/v1/resources/env-bucket").status_code == 200
                assert client.get("/api/v1/sync/aws-resources").status_code == 200


def test_a_bad_environment_value_names_the_variable_and_exits_2(tmp_path: Path) -> None:
    with (
        pytest.raises(ServerStartError) as failure,
        run_server(None, env={"NESTOR_CATALOG__SSE__MAX_CONNECTIONS": "many"}),
    ):
        pass
    message = str(failure.value)
    assert "exited with status 2" in message
    assert "sse.max_connections" in message
    assert "NESTOR_CATALOG__SSE__MAX_CONNECTIONS" in message
