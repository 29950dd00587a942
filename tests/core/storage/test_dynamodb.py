"""What only the DynamoDB adapter has: replicas sharing one table, item-size limits, the
retry paths (contention, throttling), table creation and checks, URI options, the item
layout itself (partitions, retention marks, audit copies) and the index queries.

Everything runs against moto_server over HTTP (``moto_endpoint``); throttling and refused
transactions are injected by a small proxy in front of it that answers chosen requests
with the error DynamoDB would send.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import os
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import urlsplit

import boto3
import pytest

from nestor_catalog_core import (
    ConfigError,
    ImmutableVersionError,
    InvalidRequest,
    PayloadTooLarge,
    StorageError,
    StorageUnavailable,
)
from nestor_catalog_core.models import EventType, SyncState
from nestor_catalog_core.storage import AuditQuery, open_store
from nestor_catalog_core.storage.dynamodb import DynamoDBStore
from tests.core.storage.builders import (
    BASE_TIME,
    audit_record,
    lifecycle_document,
    publish_args,
    simple_event,
    version_event,
)
from tests.support.moto import REGION, unique_table_name

# -- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def raw(moto_endpoint: str) -> Iterator[Any]:
    """A plain boto3 client on the same server, to look at and tamper with items."""
    client = boto3.client("dynamodb", region_name=REGION, endpoint_url=moto_endpoint)
    yield client
    client.close()


@pytest.fixture
def table(raw: Any) -> Iterator[str]:
    name = unique_table_name()
    yield name
    if name in raw.list_tables()["TableNames"]:
        raw.delete_table(TableName=name)


def dynamodb(endpoint: str, table: str, **options: Any) -> DynamoDBStore:
    return DynamoDBStore(table, region=REGION, endpoint=endpoint, **options)


@pytest.fixture
async def store(moto_endpoint: str, table: str) -> AsyncIterator[DynamoDBStore]:
    async with dynamodb(moto_endpoint, table, create_table=True) as opened:
        yield opened


def partition(raw: Any, table: str, key: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = raw.query(
        TableName=table,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": key}},
        ConsistentRead=True,
    )["Items"]
    return items


def meta(raw: Any, table: str) -> dict[str, Any]:
    item: dict[str, Any] = raw.get_item(TableName=table, Key={"PK": {"S": "META"}, "SK": {"S": "SEQ"}})["Item"]
    return item


async def sequences(store: DynamoDBStore) -> list[int]:
    return [event.sequence for event in await store.read_events(0, limit=10_000)]


# -- replicas sharing one table ------------------------------------------------------------


async def test_two_stores_racing_on_one_table_share_one_gap_free_sequence(store: DynamoDBStore) -> None:
    async with dynamodb(store.endpoint or "", store.table_name) as other:
        distinct = [publish_args(f"replica-{i:02d}", "1.0.0") for i in range(24)]
        rivals = [publish_args("contested", "1.0.0", max_storage=1000 + i) for i in range(6)]
        calls = [(store if i % 2 == 0 else other).publish(*args.as_tuple()) for i, args in enumerate(distinct + rivals)]
        results = await asyncio.gather(*calls, return_exceptions=True)

        outcomes = [r for r in results if not isinstance(r, BaseException)]
        failures = [r for r in results if isinstance(r, BaseException)]
        assert len(outcomes) == 25
        assert len(failures) == 5
        assert all(isinstance(f, ImmutableVersionError) for f in failures)
        assert sorted(o.version.sequence for o in outcomes) == list(range(1, 26))
        assert await sequences(store) == await sequences(other) == list(range(1, 26))
        events = {e.sequence: (e.name, e.version) for e in await other.read_events(0)}
        assert all(events[o.version.sequence] == o.version.key for o in outcomes)
        [winner] = [o for o in outcomes if o.version.name == "contested"]
        assert await other.get_version("contested", "1.0.0") == winner.version
        assert store.write_retries + other.write_retries > 0


async def test_a_stale_writer_rebuilds_its_transaction_on_fresh_counters(store: DynamoDBStore) -> None:
    await store.publish(*publish_args("first", "1.0.0").as_tuple())
    async with dynamodb(store.endpoint or "", store.table_name) as other:
        for i in range(3):
            await other.publish(*publish_args(f"other-{i}", "1.0.0").as_tuple())

    outcome = await store.publish(*publish_args("first", "1.1.0").as_tuple())

    assert outcome.version.sequence == 5
    assert store.write_retries == 1
    assert await sequences(store) == [1, 2, 3, 4, 5]


async def test_a_writer_gives_up_after_max_write_attempts_and_writes_nothing(moto_endpoint: str, table: str) -> None:
    async with (
        dynamodb(moto_endpoint, table, create_table=True, max_write_attempts=1) as store,
        dynamodb(moto_endpoint, table) as other,
    ):
        await store.publish(*publish_args("first", "1.0.0").as_tuple())
        await other.append(simple_event(), None)

        with pytest.raises(StorageUnavailable, match=r"gave up writing .* after 1 attempts"):
            await store.publish(*publish_args("first", "1.1.0").as_tuple())

        assert await store.get_version("first", "1.1.0") is None
        assert await store.last_sequence() == 2
        retried = await store.publish(*publish_args("first", "1.1.0").as_tuple())
        assert retried.version.sequence == 3


async def test_replicas_contend_for_one_lease(store: DynamoDBStore) -> None:
    others = [dynamodb(store.endpoint or "", store.table_name) for _ in range(3)]
    for other in others:
        await other.open()
    try:
        stores = [store, *others]
        leases = await asyncio.gather(
            *(s.acquire_lease("git-sync", f"replica-{i}", timedelta(minutes=5)) for i, s in enumerate(stores))
        )
        held = [lease for lease in leases if lease is not None]
        assert len(held) == 1
        assert [await s.get_lease("git-sync") for s in stores] == held * len(stores)
    finally:
        for other in others:
            await other.close()


async def test_lease_expiry_passes_the_lease_between_replicas(moto_endpoint: str, table: str) -> None:
    now = [datetime(2024, 1, 15, 10, 0, tzinfo=UTC)]

    def clock() -> datetime:
        return now[0]

    async with (
        dynamodb(moto_endpoint, table, create_table=True, clock=clock) as first,
        dynamodb(moto_endpoint, table, clock=clock) as second,
    ):
        lease = await first.acquire_lease("git-sync", "a", timedelta(seconds=30))
        assert lease is not None
        assert await second.acquire_lease("git-sync", "b", timedelta(seconds=30)) is None
        now[0] += timedelta(seconds=31)
        taken = await second.acquire_lease("git-sync", "b", timedelta(seconds=30))
        assert taken is not None
        assert taken.token == lease.token + 1
        assert await first.renew_lease("git-sync", "a", timedelta(seconds=30)) is None


# -- item sizes ----------------------------------------------------------------------------


def realistic_sync_state(files: int) -> SyncState:
    """Blob shas are random, as in a real repository (the JSON compresses to ~40%)."""
    return SyncState(
        source="platform-definitions",
        last_commit=os.urandom(20).hex(),
        updated_at=BASE_TIME,
        files={
            f"definitions/team-{i % 40:02d}/resource-{i:05d}.yaml": [os.urandom(20).hex(), f"resource-{i:05d}", "1.0.0"]
            for i in range(files)
        },
    )


async def test_sync_state_of_ten_thousand_files_is_chunked_under_the_item_limit(store: DynamoDBStore, raw: Any) -> None:
    state = realistic_sync_state(10_000)
    assert len(json.dumps(state.to_dict())) > 1_000_000

    await store.put_sync_state(state)

    items = partition(raw, store.table_name, "SYNC#platform-definitions")
    chunks = [item for item in items if item["SK"]["S"].startswith("CHUNK#")]
    assert len(chunks) >= 2
    assert all(len(item["data"]["B"]) <= 256 * 1024 for item in chunks)
    assert await store.get_sync_state("platform-definitions") == state

    small = replace(state, files={"a.yaml": ["0" * 40, "a", "1.0.0"]})
    await store.put_sync_state(small)
    items = partition(raw, store.table_name, "SYNC#platform-definitions")
    assert sorted(item["SK"]["S"] for item in items) == ["CHUNK#00000", "HEAD"]
    assert await store.get_sync_state("platform-definitions") == small


async def test_sync_state_beyond_fifteen_chunks_is_refused(store: DynamoDBStore) -> None:
    state = SyncState(source="huge", data={"noise": os.urandom(4_500_000).hex()})
    with pytest.raises(PayloadTooLarge, match=r"sync state of 'huge' is .* bytes compressed"):
        await store.put_sync_state(state)
    assert await store.get_sync_state("huge") is None


async def test_large_documents_are_stored_compressed(store: DynamoDBStore, raw: Any) -> None:
    args = publish_args()
    padding = json.dumps({"padding": "x" * 600_000}).encode()
    big = replace(args.version, document=args.version.document[:-1] + b"," + padding[1:])
    await store.publish(big, args.event, args.audit)

    [item] = [i for i in partition(raw, store.table_name, "RES#aws-rds-mysql") if i["SK"]["S"] == "VER#1.2.0"]
    assert "document_z" in item
    assert "document" not in item
    stored = await store.get_version("aws-rds-mysql", "1.2.0")
    assert stored is not None
    assert stored.document == big.document

    small = lifecycle_document(args.version)
    event = version_event(args.version, EventType.RESOURCE_DEPRECATED)
    await store.set_lifecycle("aws-rds-mysql", "1.2.0", small, True, event, audit_record())
    [item] = [i for i in partition(raw, store.table_name, "RES#aws-rds-mysql") if i["SK"]["S"] == "VER#1.2.0"]
    assert "document" in item
    assert "document_z" not in item
    updated = await store.get_version("aws-rds-mysql", "1.2.0")
    assert updated is not None
    assert updated.document == small


async def test_an_incompressible_document_over_the_item_limit_is_refused(store: DynamoDBStore) -> None:
    args = publish_args()
    noise = replace(args.version, document=os.urandom(450_000))
    with pytest.raises(PayloadTooLarge, match=r"document of aws-rds-mysql 1\.2\.0 needs .* bytes"):
        await store.publish(noise, args.event, args.audit)
    assert await store.last_sequence() == 0
    assert await store.get_owner("aws-rds-mysql") is None


# -- the layout ----------------------------------------------------------------------------


class SmallPartitions(DynamoDBStore):
    events_per_partition: ClassVar[int] = 4


async def test_events_span_partitions_and_trimming_deletes_their_items(
    moto_endpoint: str, table: str, raw: Any
) -> None:
    async with SmallPartitions(table, region=REGION, endpoint=moto_endpoint, create_table=True) as store:
        for index in range(10):
            await store.append(simple_event(index=index), None)
        assert [len(partition(raw, table, f"EVT#{p}")) for p in range(3)] == [3, 4, 3]
        assert await sequences(store) == list(range(1, 11))
        assert [e.data["index"] for e in await store.read_events(2, limit=5)] == [2, 3, 4, 5, 6]

        assert await store.trim_events(keep_last=3) == 7
        assert await sequences(store) == [8, 9, 10]
        assert [len(partition(raw, table, f"EVT#{p}")) for p in range(3)] == [0, 0, 3]
        assert (meta(raw, table)["first_sequence"], meta(raw, table)["purged_below"]) == ({"N": "8"}, {"N": "8"})


async def test_an_interrupted_trim_is_invisible_and_finished_by_the_next(store: DynamoDBStore, raw: Any) -> None:
    for _ in range(8):
        await store.append(simple_event(), None)
    # A trim that raised first_sequence and died before deleting anything.
    raw.update_item(
        TableName=store.table_name,
        Key={"PK": {"S": "META"}, "SK": {"S": "SEQ"}},
        UpdateExpression="SET first_sequence = :first",
        ExpressionAttributeValues={":first": {"N": "6"}},
    )
    assert await store.first_sequence() == 6
    assert await sequences(store) == [6, 7, 8]
    assert len(partition(raw, store.table_name, "EVT#0")) == 8

    assert await store.trim_events(keep_last=100) == 0

    assert [int(item["sequence"]["N"]) for item in partition(raw, store.table_name, "EVT#0")] == [6, 7, 8]
    assert meta(raw, store.table_name)["purged_below"] == {"N": "6"}


async def test_audit_records_are_kept_by_month_and_by_resource(store: DynamoDBStore, raw: Any) -> None:
    stamps = [datetime(2024, month, 10, tzinfo=UTC) for month in (1, 1, 2, 4, 4, 4)]
    for index, timestamp in enumerate(stamps):
        resource = "aws-rds-mysql" if index % 2 == 0 else "gcp-bucket"
        await store.append(None, audit_record(resource=resource, timestamp=timestamp, changes=[str(index)]))

    assert set(meta(raw, store.table_name)["audit_months"]["SS"]) == {"2024-01", "2024-02", "2024-04"}
    assert len(partition(raw, store.table_name, "AUDIT#2024-04")) == 3
    assert len(partition(raw, store.table_name, "AUDITRES#gcp-bucket")) == 3

    pages: list[list[str]] = []
    cursor = None
    while True:
        page = await store.query_audit(AuditQuery(limit=2, cursor=cursor))
        pages.append([record.changes[0] for record in page.records])
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == [["5", "4"], ["3", "2"], ["1", "0"]]

    window = await store.query_audit(
        AuditQuery(since=datetime(2024, 1, 31, tzinfo=UTC), until=datetime(2024, 4, 10, tzinfo=UTC))
    )
    assert [record.changes[0] for record in window.records] == ["2"]
    by_resource = await store.query_audit(AuditQuery(resource="gcp-bucket", limit=2))
    assert [record.changes[0] for record in by_resource.records] == ["5", "3"]
    rest = await store.query_audit(AuditQuery(resource="gcp-bucket", limit=2, cursor=by_resource.next_cursor))
    assert [record.changes[0] for record in rest.records] == ["1"]
    assert rest.next_cursor is None
    with pytest.raises(InvalidRequest, match="invalid audit cursor"):
        await store.query_audit(AuditQuery(cursor=base64.urlsafe_b64encode(b"not-an-id").decode()))


async def test_versions_by_provider_and_category_read_the_indexes(store: DynamoDBStore) -> None:
    await store.publish(*publish_args("aws-rds-mysql", "1.0.0").as_tuple())
    await store.publish(*publish_args("aws-rds-mysql", "1.1.0").as_tuple())
    await store.publish(*publish_args("aws-s3-bucket", "1.0.0", category="storage").as_tuple())
    await store.publish(*publish_args("gcp-sql", "2.0.0", provider="gcp").as_tuple())

    aws = await store.versions_by_provider("aws")
    assert [v.key for v in aws] == [("aws-rds-mysql", "1.0.0"), ("aws-rds-mysql", "1.1.0"), ("aws-s3-bucket", "1.0.0")]
    databases = await store.versions_by_category("database")
    assert [v.key for v in databases] == [("aws-rds-mysql", "1.0.0"), ("aws-rds-mysql", "1.1.0"), ("gcp-sql", "2.0.0")]
    assert databases[0] == await store.get_version("aws-rds-mysql", "1.0.0")
    assert await store.versions_by_provider("azure") == []


# -- the table -----------------------------------------------------------------------------


async def test_opening_without_a_table_names_the_command_that_creates_it(moto_endpoint: str, table: str) -> None:
    store = dynamodb(moto_endpoint, table)
    expected = f"nestor-catalog storage init --uri 'dynamodb://{table}?region={REGION}&endpoint={moto_endpoint}'"
    with pytest.raises(StorageError, match=f"table {table} does not exist; create it with: ") as caught:
        await store.open()
    assert expected in caught.value.message
    with pytest.raises(StorageUnavailable, match="not open"):
        await store.ping()


async def test_a_table_deleted_under_an_open_store_is_reported(store: DynamoDBStore, raw: Any) -> None:
    raw.delete_table(TableName=store.table_name)
    with pytest.raises(StorageError, match="does not exist; create it with: nestor-catalog storage init"):
        await store.get_version("aws-rds-mysql", "1.2.0")
    with pytest.raises(StorageUnavailable, match="does not exist"):
        await store.ping()


async def test_a_table_with_another_layout_is_refused_naming_the_differences(
    moto_endpoint: str, table: str, raw: Any
) -> None:
    raw.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for create in (False, True):
        with pytest.raises(ConfigError, match=f"table {table} exists but is not laid out for nestor-catalog") as caught:
            await dynamodb(moto_endpoint, table, create_table=create).open()
        assert caught.value.details["differences"] == [
            "key schema is HASH=id, expected HASH=PK, RANGE=SK",
            "global secondary index GSI1 (GSI1PK, GSI1SK) is missing",
            "global secondary index GSI2 (GSI2PK, GSI2SK) is missing",
        ]


async def test_ensure_table_is_idempotent_and_enables_point_in_time_recovery(
    moto_endpoint: str, table: str, raw: Any
) -> None:
    store = dynamodb(moto_endpoint, table, enable_point_in_time_recovery=True)

    first = await store.ensure_table()
    again = await store.ensure_table()

    assert (first.created, first.status, first.point_in_time_recovery) == (True, "ACTIVE", "enabled")
    assert (again.created, again.point_in_time_recovery) == (False, "already enabled")
    assert first.billing_mode == "PAY_PER_REQUEST"
    backups = raw.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    async with store:
        assert (await store.ensure_table()).created is False


async def test_provisioned_tables_get_capacity_on_the_table_and_its_indexes(
    moto_endpoint: str, table: str, raw: Any
) -> None:
    setup = await dynamodb(moto_endpoint, table, read_capacity=7, write_capacity=3).ensure_table()

    assert setup.billing_mode == "PROVISIONED"
    description = raw.describe_table(TableName=table)["Table"]
    throughput = description["ProvisionedThroughput"]
    assert (throughput["ReadCapacityUnits"], throughput["WriteCapacityUnits"]) == (7, 3)
    for index in description["GlobalSecondaryIndexes"]:
        assert index["ProvisionedThroughput"]["ReadCapacityUnits"] == 7


# -- URIs, credentials, connections --------------------------------------------------------


def test_uri_options_reach_the_store() -> None:
    store = open_store(
        "dynamodb://catalog-prod?region=us-west-2&endpoint=http://127.0.0.1:8000&read_capacity=10"
        "&write_capacity=5&enable_point_in_time_recovery=true&max_attempts=3&timeout=2.5",
        create_table="yes",
    )
    assert isinstance(store, DynamoDBStore)
    assert (store.table_name, store.region, store.endpoint) == ("catalog-prod", "us-west-2", "http://127.0.0.1:8000")
    assert store.create_table is True
    assert store.table_options.effective_billing_mode == "PROVISIONED"
    assert (store.table_options.read_capacity, store.table_options.write_capacity) == (10, 5)
    assert store.table_options.point_in_time_recovery is True
    assert (store.max_attempts, store.timeout) == (3, 2.5)


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("dynamodb://", "names no table"),
        ("dynamodb://ab", "invalid DynamoDB table name 'ab'"),
        ("dynamodb://table/extra", "name only a table"),
        ("dynamodb://table?colour=red", "unknown dynamodb:// storage option"),
        ("dynamodb://table?endpoint=localhost:8000", "invalid DynamoDB endpoint"),
        ("dynamodb://table?billing_mode=FREE", "invalid DynamoDB billing_mode 'FREE'"),
        ("dynamodb://table?billing_mode=PAY_PER_REQUEST&read_capacity=5", "PAY_PER_REQUEST takes no"),
        ("dynamodb://table?read_capacity=5", "PROVISIONED needs both"),
        ("dynamodb://table?read_capacity=0&write_capacity=1", "read_capacity '0'"),
        ("dynamodb://table?create_table=maybe", "expected true or false"),
        ("dynamodb://table?timeout=-1", "expected seconds > 0"),
    ],
)
def test_bad_uris_are_config_errors(uri: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        open_store(uri)


async def test_emulator_endpoints_work_without_configured_credentials(
    moto_endpoint: str, table: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert boto3.session.Session().get_credentials() is None

    async with dynamodb(moto_endpoint, table, create_table=True) as store:
        outcome = await store.publish(*publish_args().as_tuple())
    assert outcome.created is True


async def test_aws_without_a_region_is_a_config_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    for key in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    with pytest.raises(ConfigError, match="no AWS region for DynamoDB"):
        await DynamoDBStore("catalog-prod").open()


async def test_an_unreachable_endpoint_is_storage_unavailable(table: str) -> None:
    closed_port = http_server_port_that_is_closed()
    store = dynamodb(f"http://127.0.0.1:{closed_port}", table, max_attempts=1, timeout=1)
    with pytest.raises(StorageUnavailable, match=f"cannot reach DynamoDB at http://127.0.0.1:{closed_port}"):
        await store.open()


def http_server_port_that_is_closed() -> int:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = int(server.server_address[1])
    server.server_close()
    return port


# -- throttling and refused transactions (through a fault-injecting proxy) -----------------

_ERROR_TYPE = "com.amazonaws.dynamodb.v20120810#"


class FaultProxy(ThreadingHTTPServer):
    """Forwards DynamoDB calls to moto_server, answering the next calls of an operation with
    queued faults (status, JSON body) instead, the way DynamoDB answers when it throttles."""

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.faults: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.calls: list[str] = []
        self.lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def inject(self, operation: str, error: str, times: int = 1, **body: Any) -> None:
        fault = (400, {"__type": _ERROR_TYPE + error, "message": f"injected {error}", **body})
        self.faults.setdefault(operation, []).extend([fault] * times)


class _ProxyHandler(BaseHTTPRequestHandler):
    server: FaultProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        operation = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
        with self.server.lock:
            self.server.calls.append(operation)
            queued = self.server.faults.get(operation)
            fault = queued.pop(0) if queued else None
        if fault is not None:
            self._reply(fault[0], {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(fault[1]).encode())
            return
        connection = http.client.HTTPConnection(*self.server.upstream, timeout=30)
        try:
            headers = {key: value for key, value in self.headers.items() if key.lower() != "connection"}
            connection.request("POST", self.path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            kept = {k: v for k, v in response.getheaders() if k.lower() not in ("connection", "transfer-encoding")}
            self._reply(response.status, kept, payload)
        finally:
            connection.close()

    def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for key, value in headers.items():
            if key.lower() != "content-length":
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def proxy(moto_endpoint: str) -> Iterator[FaultProxy]:
    server = FaultProxy(moto_endpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


async def test_throttled_requests_are_retried_by_botocore(proxy: FaultProxy, table: str) -> None:
    async with dynamodb(proxy.endpoint, table, create_table=True, max_attempts=3) as store:
        proxy.inject("TransactWriteItems", "ProvisionedThroughputExceededException")
        outcome = await store.publish(*publish_args().as_tuple())
    assert outcome.version.sequence == 1
    assert proxy.calls.count("TransactWriteItems") == 2


async def test_throttling_beyond_max_attempts_is_storage_unavailable(proxy: FaultProxy, table: str) -> None:
    async with dynamodb(proxy.endpoint, table, create_table=True, max_attempts=2) as store:
        proxy.inject("TransactWriteItems", "ProvisionedThroughputExceededException", times=2)
        with pytest.raises(StorageUnavailable, match=r"ProvisionedThroughputExceededException, retries exhausted"):
            await store.publish(*publish_args().as_tuple())
        assert await store.last_sequence() == 0
        assert (await store.publish(*publish_args().as_tuple())).created is True


async def test_a_publish_is_one_round_trip_and_a_republish_reads_nothing(proxy: FaultProxy, table: str) -> None:
    async with dynamodb(proxy.endpoint, table, create_table=True) as store:
        opening = len(proxy.calls)
        await store.publish(*publish_args(version="1.0.0").as_tuple())
        await store.publish(*publish_args(version="1.1.0").as_tuple())
        again = await store.publish(*publish_args(version="1.1.0").as_tuple())

    assert again.created is False
    assert again.version.sequence == 2
    # The counters are read once; then every publish is one transaction, and the refusal of
    # a re-publish carries the stored version (ReturnValuesOnConditionCheckFailure).
    assert proxy.calls[opening:] == ["GetItem", "TransactWriteItems", "TransactWriteItems", "TransactWriteItems"]


def cancelled(*codes: str) -> dict[str, Any]:
    return {"CancellationReasons": [{"Code": code} for code in codes]}


async def test_a_transaction_cancelled_by_throttling_is_retried(proxy: FaultProxy, table: str) -> None:
    async with dynamodb(proxy.endpoint, table, create_table=True) as store:
        reasons = cancelled("None", "None", "ThrottlingError", "None", "None", "None")
        proxy.inject("TransactWriteItems", "TransactionCanceledException", **reasons)
        outcome = await store.publish(*publish_args().as_tuple())
        assert outcome.version.sequence == 1
        assert store.write_retries == 1
        assert await sequences(store) == [1]


async def test_a_transaction_refused_as_invalid_is_a_storage_error(proxy: FaultProxy, table: str) -> None:
    async with dynamodb(proxy.endpoint, table, create_table=True) as store:
        proxy.inject("TransactWriteItems", "TransactionCanceledException", **cancelled("None", "ValidationError"))
        with pytest.raises(StorageError, match=r"DynamoDB refused a write to table .*: ValidationError"):
            await store.append(simple_event(), None)
        assert store.write_retries == 0
        assert await store.last_sequence() == 0
