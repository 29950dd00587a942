"""``DynamoDBStore``: the scale-out store, one DynamoDB table shared by every replica.

Layout (single table, string keys ``PK``/``SK``; ``_dynamodb_items`` builds every item)

    =====================  ==========================  ===========================================
    item                   PK                          SK
    =====================  ==========================  ===========================================
    version                ``RES#<name>``              ``VER#<version>`` (+ GSI1/GSI2 keys)
    owner (name index)     ``NAMES``                   ``<name>``
    counters               ``META``                    ``SEQ``
    event                  ``EVT#<sequence // 1000>``  ``<sequence, 20 digits>``
    audit (by month)       ``AUDIT#<YYYY-MM>``         ``<audit id>``
    audit (by resource)    ``AUDITRES#<resource>``     ``<audit id>``
    sync state head        ``SYNC#<source>``           ``HEAD``
    sync state chunk       ``SYNC#<source>``           ``CHUNK#<index, 5 digits>``
    lease                  ``LEASE#<name>``            ``LEASE``
    =====================  ==========================  ===========================================

    GSI1 (``GSI1PK = PROVIDER#<provider>``, ``GSI1SK = <name>#<version>``) and GSI2
    (``CATEGORY#<category>``, same sort key) hold version items only and project everything:
    ``versions_by_provider``/``versions_by_category`` read them. Index reads are eventually
    consistent (a version published a moment ago may be missing); every other read here is
    strongly consistent.

    The ``META`` item holds ``last_sequence`` and ``last_audit`` (the counters), the
    retention marks ``first_sequence`` (what readers may still see) and ``purged_below``
    (how far event items are deleted), and ``audit_months``, the set of months that have
    audit records, so a newest-first audit query walks only months that exist.

Writes
    ``publish`` is one ``TransactWriteItems``: put the version (``attribute_not_exists``),
    put the owner (absent or the same owner), update the counters (condition: their values
    as last read), put the event and the audit record (twice: its month and its resource).
    When DynamoDB cancels it, ``CancellationReasons`` say why, item by item: an existing
    version is either the same digest (``created=False``, nothing written) or
    ``ImmutableVersionError``; another owner is ``OwnershipConflict``; moved counters mean a
    concurrent writer, and the transaction is rebuilt on the new values and retried with
    jittered backoff (``max_write_attempts``), which keeps the sequence gap-free across
    replicas. ``set_lifecycle``, ``set_withdrawn`` and ``append`` work the same way; version
    updates are also conditioned on the version's revision, so what they return is exactly
    what was stored. Within one store, writes run one at a time on a writer thread (they all
    update the counters, so running them in parallel would only make them collide) and the
    last counters written are reused, so a publish costs one round trip when no other
    replica writes in between.

Reads and threads
    boto3 blocks: calls run on the store's threads (eight readers, one writer), never on the
    event loop. One ``boto3`` session and one (thread-safe) client per store. botocore
    retries throttling, 5xx answers and connection errors (``standard`` mode,
    ``max_attempts``) with exponential backoff; what still fails becomes
    ``StorageUnavailable``. botocore gives each transaction an idempotency token, so its
    retry of a transaction that committed unseen (a timeout) does not apply it twice. A
    missing table is a ``StorageError`` naming the command that creates it; other refusals
    are ``StorageError``.

Sizes
    DynamoDB items hold at most 400 KB. Documents, event data and audit records over 16 KB
    are stored zlib-compressed; one still too large raises ``PayloadTooLarge``. Sync state
    (10k files is about 1 MB of JSON) is compressed and split into 256 KB chunks written in
    one transaction with the head item that names their generation: at most 15 chunks,
    about 3.8 MB compressed (over 100k files).

Costs
    ``scan_versions`` (a read-model rebuild) pages through the ``NAMES`` partition and runs
    one strongly consistent Query per name, eight at a time: no Scan, and the order is
    ``(name, version)``. ``read_events`` is one ``GetItem`` plus a Query per 1000-event
    partition touched. A global audit query reads month partitions newest first with the
    filters applied server-side (it reads every record of the time range it walks); a query
    by resource reads only that resource's partition.

Retention
    ``trim_events`` first raises ``first_sequence`` (readers stop seeing the old events at
    once), then deletes their items with ``BatchWriteItem`` and records ``purged_below``; an
    interrupted trim leaves items that the next trim deletes.

Leases
    Conditional puts on the lease item's revision; expiry is decided with the store's clock,
    so replicas' clocks must agree to well within a lease's TTL.

URI: ``dynamodb://<table>?region=us-west-2&endpoint=http://127.0.0.1:8000`` with options
``create_table`` (create the table at ``open()`` if missing: the server's
``storage.dynamodb.create_table``, tests and ``storage init``),
``billing_mode`` (``PAY_PER_REQUEST`` or ``PROVISIONED``), ``read_capacity``,
``write_capacity`` (applied to a table it creates), ``enable_point_in_time_recovery`` (turned
on at ``open()``, for a new or an existing table), ``max_attempts`` (tries per request,
botocore's retries included, default 8), ``timeout`` (connect/read seconds, default 10)
and ``max_write_attempts`` (tries per transaction under contention, default 50).

Credentials come from boto3's default chain. With an explicit endpoint that is not an AWS
host (DynamoDB Local, moto, ``http://dynamodb:8000`` in a compose file) and no credentials
configured, the store signs with dummy static credentials, which those emulators accept.
"""

from __future__ import annotations

import asyncio
import functools
import random
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Final, Generic, Self, TypeVar, cast
from urllib.parse import unquote, urlsplit

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)

from nestor_catalog_core._exceptions import (
    CatalogError,
    ConfigError,
    PayloadTooLarge,
    StorageError,
    StorageUnavailable,
    VersionNotFound,
)
from nestor_catalog_core.models import (
    AuditRecord,
    Event,
    Lease,
    StoredVersion,
    SyncState,
    utcnow,
)
from nestor_catalog_core.storage._common import (
    LeaseDecision,
    RowLeases,
    ThreadedStore,
    audit_id,
    audit_range,
    check_after,
    check_limit,
    concurrent_error,
    dump_json,
    ensure_utc,
    immutable_error,
    int_option,
    load_json,
    next_cursor,
    normalize_audit,
    normalize_event,
    normalize_version,
    option_error,
    ownership_error,
    retention_cutoff,
    split_uri,
    to_micros,
    uri_options,
)
from nestor_catalog_core.storage._dynamodb_items import (
    EVENTS_PER_PARTITION,
    META_KEY,
    Item,
    Meta,
    SyncHead,
    audit_item,
    audit_month,
    audit_month_partition,
    audit_record_of,
    audit_resource_partition,
    event_item,
    event_key,
    event_of,
    event_partition,
    join_sync_state,
    lease_item,
    lease_key,
    lease_row_of,
    lifecycle_update,
    month_of_id,
    names_partition,
    owner_item,
    owner_key,
    pad_sequence,
    split_sync_state,
    sync_chunk_item,
    sync_chunk_key,
    sync_head_item,
    sync_head_key,
    sync_partition,
    version_item,
    version_key,
    version_of,
    version_rev,
    versions_partition,
)
from nestor_catalog_core.storage._dynamodb_table import (
    BillingMode,
    PitrStatus,
    TableOptions,
    TableSetup,
    create_table,
    describe_table,
    enable_point_in_time_recovery,
    schema_differences,
    wait_until_active,
)
from nestor_catalog_core.storage.base import AuditPage, AuditQuery, ComponentStore, PublishOutcome

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        QueryInputTypeDef,
        TableDescriptionTypeDef,
        TransactWriteItemTypeDef,
        WriteRequestTypeDef,
    )

__all__ = ["DynamoDBStore", "TableOptions", "TableSetup"]

T = TypeVar("T")

DEFAULT_MAX_ATTEMPTS: Final = 8
DEFAULT_TIMEOUT_S: Final = 10.0
DEFAULT_MAX_WRITE_ATTEMPTS: Final = 50
TABLE_WAIT_S: Final = 300.0
_READERS: Final = 8
_MAX_SYNC_CHUNKS: Final = 15
_SYNC_READ_ATTEMPTS: Final = 5
_BATCH_DELETE: Final = 25
_OPTIONS: Final = frozenset(
    {
        "region",
        "endpoint",
        "create_table",
        "billing_mode",
        "read_capacity",
        "write_capacity",
        "enable_point_in_time_recovery",
        "max_attempts",
        "timeout",
        "max_write_attempts",
    }
)
_TABLE_NAME_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_UNAVAILABLE_CODES: Final = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionInProgressException",
        "TransactionConflictException",
    }
)
_CREDENTIAL_CODES: Final = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "AccessDeniedException",
        "ExpiredTokenException",
        "MissingAuthenticationTokenException",
        "IncompleteSignature",
    }
)
#: Cancellation reasons that only mean "try again": a concurrent writer or throttling.
_RETRY_REASONS: Final = frozenset(
    {"None", "ConditionalCheckFailed", "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
)
#: Signs requests to emulators when no credentials are configured (they accept any).
_DUMMY_CREDENTIAL: Final = "nestor-local"


# -- options -------------------------------------------------------------------------------


def _parse_bool(name: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise option_error("dynamodb", name, value, "true or false")


def _parse_int(name: str, value: object, minimum: int) -> int:
    return int_option("dynamodb", name, value, minimum)


def _parse_timeout(value: object) -> float:
    try:
        seconds = float(str(value))
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise option_error("dynamodb", "timeout", value, "seconds > 0")
    return seconds


def _check_table_name(name: str) -> str:
    if not 3 <= len(name) <= 255 or not set(name) <= _TABLE_NAME_CHARS:
        raise ConfigError(
            f"invalid DynamoDB table name {name!r}: 3 to 255 characters among a-z, A-Z, 0-9, '_', '-' and '.'",
            details={
                "table": name,
                "option": "table_name",
                "reason": "a DynamoDB table name has 3 to 255 characters among a-z, A-Z, 0-9, '_', '-' and '.'",
            },
        )
    return name


def _check_endpoint(endpoint: str | None) -> str | None:
    if endpoint in (None, ""):
        return None
    assert endpoint is not None
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"invalid DynamoDB endpoint {endpoint!r}: expected http(s)://host[:port]",
            details={
                "endpoint": endpoint,
                "option": "endpoint",
                "reason": f"expected an http:// or https:// URL, got {endpoint!r}",
            },
        )
    return endpoint.rstrip("/")


def _is_emulator(endpoint: str | None) -> bool:
    """An explicit endpoint that is not AWS itself: DynamoDB Local, moto, a compose service."""
    if endpoint is None:
        return False
    host = (urlsplit(endpoint).hostname or "").lower()
    return not host.endswith((".amazonaws.com", ".amazonaws.com.cn"))


def _opt(value: object) -> object | None:
    return None if value is None or value == "" else value


# -- transactions --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Reason:
    """One item's ``CancellationReasons`` entry: ``code`` is ``None`` when that item was fine."""

    code: str
    item: dict[str, AttributeValueTypeDef] | None

    @property
    def failed_condition(self) -> bool:
        return self.code == "ConditionalCheckFailed"


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _reasons(exc: ClientError) -> list[_Reason]:
    raw: Any = exc.response.get("CancellationReasons") or []
    return [_Reason(code=str(entry.get("Code") or "None"), item=entry.get("Item")) for entry in raw]


@dataclass
class _Plan(Generic[T]):
    """One attempt at a counter-advancing transaction.

    ``refused`` looks at the reasons of a cancellation: it returns the outcome when the
    refusal *is* the answer (an idempotent re-publish), raises the caller's error, or
    returns None to retry with fresh counters."""

    items: list[TransactWriteItemTypeDef]
    meta_after: Meta
    committed: Callable[[], T]
    counter_index: int
    event_index: int | None = None
    refused: Callable[[list[_Reason]], T | None] = field(default=lambda _reasons: None)


def _backoff(attempt: int) -> float:
    """Full-jitter exponential backoff: 5 ms doubling up to 250 ms."""
    return float(min(0.25, 0.005 * 2**attempt) * random.uniform(0.5, 1.0))


@dataclass(slots=True)
class _Open:
    client: DynamoDBClient
    readers: ThreadPoolExecutor
    writer: ThreadPoolExecutor


# -- the store -----------------------------------------------------------------------------


class DynamoDBStore(RowLeases, ThreadedStore, ComponentStore):
    """A ``ComponentStore`` in one DynamoDB table (see the module docstring for the layout,
    the guarantees and the costs)."""

    scheme: ClassVar[str] = "dynamodb"
    #: Consecutive sequences per event partition. Part of the table's layout: a table must
    #: always be read with the value it was written with.
    events_per_partition: ClassVar[int] = EVENTS_PER_PARTITION

    def __init__(
        self,
        table_name: str,
        *,
        region: str | None = None,
        endpoint: str | None = None,
        create_table: bool = False,
        billing_mode: BillingMode | None = None,
        read_capacity: int | None = None,
        write_capacity: int | None = None,
        enable_point_in_time_recovery: bool = False,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        timeout: float = DEFAULT_TIMEOUT_S,
        max_write_attempts: int = DEFAULT_MAX_WRITE_ATTEMPTS,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.table_name = _check_table_name(table_name)
        self.region = region or None
        self.endpoint = _check_endpoint(endpoint)
        self.create_table = create_table
        self.table_options = TableOptions(
            billing_mode=billing_mode,
            read_capacity=read_capacity,
            write_capacity=write_capacity,
            point_in_time_recovery=enable_point_in_time_recovery,
        )
        self.max_attempts = _parse_int("max_attempts", max_attempts, 1)
        self.timeout = _parse_timeout(timeout)
        self.max_write_attempts = _parse_int("max_write_attempts", max_write_attempts, 1)
        #: What ``open()`` found and did about the table when ``create_table`` is set.
        self.table_setup: TableSetup | None = None
        self._clock = clock
        self._state: _Open | None = None
        self._state_lock = asyncio.Lock()
        self._meta: Meta | None = None  # the counters as last written; writer thread only
        self._write_retries = 0
        self._retries_lock = threading.Lock()

    @classmethod
    def from_uri(cls, uri: str, **options: Any) -> Self:
        netloc, path, query = split_uri(uri, cls.scheme)
        if path not in ("", "/"):
            raise ConfigError(f"dynamodb URIs name only a table (dynamodb://<table>?region=...), got {uri!r}")
        if not netloc:
            raise ConfigError(f"dynamodb URI {uri!r} names no table: use dynamodb://<table>?region=...")
        clock = options.pop("clock", utcnow)
        merged = uri_options(cls.scheme, query, options, _OPTIONS)
        billing = _opt(merged.get("billing_mode"))
        read, write = _opt(merged.get("read_capacity")), _opt(merged.get("write_capacity"))
        return cls(
            unquote(netloc),
            region=str(merged["region"]) if _opt(merged.get("region")) else None,
            endpoint=str(merged["endpoint"]) if _opt(merged.get("endpoint")) else None,
            create_table=_parse_bool("create_table", merged.get("create_table", False)),
            billing_mode=str(billing).upper() if billing is not None else None,  # type: ignore[arg-type]
            read_capacity=_parse_int("read_capacity", read, 1) if read is not None else None,
            write_capacity=_parse_int("write_capacity", write, 1) if write is not None else None,
            enable_point_in_time_recovery=_parse_bool(
                "enable_point_in_time_recovery", merged.get("enable_point_in_time_recovery", False)
            ),
            max_attempts=_parse_int("max_attempts", merged.get("max_attempts", DEFAULT_MAX_ATTEMPTS), 1),
            timeout=_parse_timeout(merged.get("timeout", DEFAULT_TIMEOUT_S)),
            max_write_attempts=_parse_int(
                "max_write_attempts", merged.get("max_write_attempts", DEFAULT_MAX_WRITE_ATTEMPTS), 1
            ),
            clock=clock,
        )

    def __repr__(self) -> str:
        where = f", endpoint={self.endpoint!r}" if self.endpoint else ""
        return f"DynamoDBStore({self.table_name!r}, region={self.region!r}{where}, open={self._state is not None})"

    @property
    def write_retries(self) -> int:
        """Transactions rebuilt and retried because another writer moved the counters (or
        DynamoDB throttled them) since this store was created: a contention gauge."""
        return self._write_retries

    def _count_retry(self) -> None:
        with self._retries_lock:
            self._write_retries += 1

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect and check the table (creating it first with ``create_table``). Raises
        ``StorageError`` when the table is missing, ``ConfigError`` when it has another
        layout, ``StorageUnavailable`` when DynamoDB cannot be reached."""
        async with self._state_lock:
            if self._state is not None:
                return
            readers = ThreadPoolExecutor(max_workers=_READERS, thread_name_prefix="nestor-dynamodb-reader")
            writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nestor-dynamodb-writer")
            loop = asyncio.get_running_loop()
            client: DynamoDBClient | None = None
            try:
                client = await loop.run_in_executor(readers, self._guarded, self._make_client)
                await loop.run_in_executor(readers, self._guarded, functools.partial(self._prepare_table, client))
            except BaseException:
                readers.shutdown(wait=False)
                writer.shutdown(wait=False)
                if client is not None:
                    client.close()
                raise
            self._meta = None
            self._state = _Open(client=client, readers=readers, writer=writer)

    async def close(self) -> None:
        """Let calls in flight finish, then release the threads and connections."""
        async with self._state_lock:
            state, self._state = self._state, None
            if state is None:
                return
            await asyncio.to_thread(self._shutdown, state)

    @staticmethod
    def _shutdown(state: _Open) -> None:
        state.writer.shutdown(wait=True)
        state.readers.shutdown(wait=True)
        state.client.close()

    async def ping(self) -> None:
        try:
            await self._read(lambda client: client.get_item(TableName=self.table_name, Key=META_KEY))
        except StorageUnavailable:
            raise
        except StorageError as exc:
            raise StorageUnavailable(exc.message, details=exc.details) from exc

    async def ensure_table(self, *, wait: bool = True) -> TableSetup:
        """Create the table if it is missing (idempotent), check that an existing one has
        our layout (``ConfigError`` naming each difference otherwise) and enable
        point-in-time recovery when configured. Without ``wait`` a new table may still be
        ``CREATING`` (and PITR ``pending``). Works on an unopened store."""
        state = self._state
        if state is not None:
            return await self._read(functools.partial(self._ensure, wait=wait))

        def run() -> TableSetup:
            client = self._make_client()
            try:
                return self._ensure(client, wait=wait)
            finally:
                client.close()

        return await asyncio.to_thread(self._guarded, run)

    def _make_client(self) -> DynamoDBClient:
        import boto3
        from botocore.config import Config

        session = boto3.session.Session(region_name=self.region)
        region = cast("str | None", session.region_name)
        if region is None:
            if not _is_emulator(self.endpoint):
                raise ConfigError(
                    "no AWS region for DynamoDB: set storage.dynamodb.region, ?region= in the storage URI "
                    "or AWS_REGION",
                    details={"table": self.table_name},
                )
            region = "us-east-1"
        key_id = secret = None
        if _is_emulator(self.endpoint) and session.get_credentials() is None:
            key_id = secret = _DUMMY_CREDENTIAL
        config = Config(
            retries={"mode": "standard", "total_max_attempts": self.max_attempts},
            connect_timeout=self.timeout,
            read_timeout=self.timeout,
            max_pool_connections=_READERS + 4,
            tcp_keepalive=True,
        )
        return session.client(
            "dynamodb",
            region_name=region,
            endpoint_url=self.endpoint,
            config=config,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
        )

    def _prepare_table(self, client: DynamoDBClient) -> None:
        if self.create_table:
            self.table_setup = self._ensure(client, wait=True)
            return
        description = describe_table(client, self.table_name)
        if description is None:
            raise self._missing_table()
        self._check_layout(description)
        status = description.get("TableStatus", "ACTIVE")
        if status == "CREATING":
            raise StorageUnavailable(
                f"DynamoDB table {self.table_name} is still being created; retry when it is ACTIVE",
                details={"table": self.table_name, "status": status},
            )
        if status not in ("ACTIVE", "UPDATING"):
            raise StorageError(
                f"DynamoDB table {self.table_name} is {status} and cannot be used",
                details={"table": self.table_name, "status": status},
            )
        if self.table_options.point_in_time_recovery:
            self._enable_pitr(client)

    def _enable_pitr(self, client: DynamoDBClient) -> None:
        """Point-in-time recovery asked for an existing table: turned on (a no-op when it already
        is). Refused (no permission) it stops the start: the configuration asks for backups that
        would otherwise silently not exist."""
        try:
            enable_point_in_time_recovery(client, self.table_name, wait=True)
        except ClientError as exc:
            raise StorageError(
                f"point-in-time recovery of DynamoDB table {self.table_name} could not be enabled "
                f"({_error_code(exc)}: {exc.response.get('Error', {}).get('Message', '')}); grant "
                "dynamodb:DescribeContinuousBackups and dynamodb:UpdateContinuousBackups, or set "
                "enable_point_in_time_recovery to false where backups are managed elsewhere",
                details={"table": self.table_name, "reason": "pitr_refused"},
            ) from exc

    def _ensure(self, client: DynamoDBClient, *, wait: bool) -> TableSetup:
        description = describe_table(client, self.table_name)
        created = False
        if description is None:
            description = create_table(client, self.table_name, self.table_options)
            created = description is not None
            description = description or describe_table(client, self.table_name)
            if description is None:
                raise StorageError(f"DynamoDB table {self.table_name} vanished while being created")
        self._check_layout(description)
        status = str(description.get("TableStatus", "ACTIVE"))
        if wait and status != "ACTIVE":
            wait_until_active(client, self.table_name, TABLE_WAIT_S)
            status = "ACTIVE"
        pitr: PitrStatus = "not requested"
        if self.table_options.point_in_time_recovery:
            pitr = (
                enable_point_in_time_recovery(client, self.table_name, wait=wait) if status == "ACTIVE" else "pending"
            )
        billing = description.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
        return TableSetup(
            table=self.table_name,
            created=created,
            status=status,
            billing_mode=billing,
            point_in_time_recovery=pitr,
            notes=self._billing_notes(created, billing),
        )

    def _billing_notes(self, created: bool, billing: str) -> list[str]:
        wanted = self.table_options.effective_billing_mode
        if created or wanted == billing:
            return []
        return [
            f"note: {wanted} billing was requested but the existing table uses {billing}; "
            "storage init does not change an existing table's billing"
        ]

    def _check_layout(self, description: TableDescriptionTypeDef) -> None:
        differences = schema_differences(description)
        if differences:
            raise ConfigError(
                f"DynamoDB table {self.table_name} exists but is not laid out for nestor-catalog: "
                f"{'; '.join(differences)}. Use another table name, or delete this table and run "
                "nestor-catalog storage init",
                details={"table": self.table_name, "differences": differences},
            )

    def _init_hint(self) -> str:
        query = "&".join(
            f"{key}={value}" for key, value in (("region", self.region), ("endpoint", self.endpoint)) if value
        )
        uri = f"dynamodb://{self.table_name}" + (f"?{query}" if query else "")
        return f"nestor-catalog storage init --uri '{uri}'"

    def _missing_table(self) -> StorageError:
        return StorageError(
            f"DynamoDB table {self.table_name} does not exist; create it with: {self._init_hint()}",
            details={"table": self.table_name, "region": self.region, "endpoint": self.endpoint},
        )

    # -- plumbing --------------------------------------------------------------------------

    def _require_open(self) -> _Open:
        if self._state is None:
            raise StorageUnavailable(
                f"DynamoDB store {self.table_name} is not open", details={"table": self.table_name}
            )
        return self._state

    def _closed_error(self) -> StorageUnavailable:
        return StorageUnavailable(f"DynamoDB store {self.table_name} is closed", details={"table": self.table_name})

    async def _read(self, work: Callable[[DynamoDBClient], T]) -> T:
        """Run ``work`` on a reader thread (reads and writes that do not move the counters)."""
        state = self._require_open()
        return await self._submit(state.readers, functools.partial(self._guarded, work, state.client))

    async def _write(self, work: Callable[[DynamoDBClient], T]) -> T:
        """Run ``work`` on the writer thread, after the writes submitted before it."""
        state = self._require_open()
        return await self._submit(state.writer, functools.partial(self._guarded, work, state.client))

    def _guarded(self, work: Callable[..., T], *args: Any) -> T:
        try:
            return work(*args)
        except (ClientError, BotoCoreError) as exc:
            raise self._translate(exc) from exc

    def _translate(self, exc: ClientError | BotoCoreError) -> CatalogError:
        details: dict[str, Any] = {"table": self.table_name, "dynamodb_error": str(exc)}
        if isinstance(exc, ClientError):
            code = _error_code(exc)
            details["code"] = code
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            if code == "ResourceNotFoundException":
                missing = self._missing_table()
                return StorageError(missing.message, details={**missing.details, **details})
            if code in _UNAVAILABLE_CODES or status >= 500:
                return StorageUnavailable(
                    f"DynamoDB is unavailable for table {self.table_name} ({code}, retries exhausted): {exc}",
                    details=details,
                )
            if code in _CREDENTIAL_CODES:
                return StorageError(f"DynamoDB refused the AWS credentials ({code}): {exc}", details=details)
            return StorageError(f"DynamoDB request on table {self.table_name} failed ({code}): {exc}", details=details)
        if isinstance(exc, NoCredentialsError | PartialCredentialsError | NoRegionError):
            return ConfigError(f"DynamoDB client is not configured: {exc}", details=details)
        if isinstance(exc, ConnectionError | HTTPClientError):
            where = self.endpoint or f"region {self.region or '(default)'}"
            return StorageUnavailable(f"cannot reach DynamoDB at {where}: {exc}", details=details)
        return StorageError(f"DynamoDB client error on table {self.table_name}: {exc}", details=details)

    def _get(self, client: DynamoDBClient, key: Item) -> dict[str, AttributeValueTypeDef] | None:
        return client.get_item(TableName=self.table_name, Key=key, ConsistentRead=True).get("Item")

    def _query(self, client: DynamoDBClient, **request: Any) -> Iterator[dict[str, AttributeValueTypeDef]]:
        """Every item of a Query, page after page (strongly consistent unless on an index)."""
        query: dict[str, Any] = {"TableName": self.table_name, **request}
        if "IndexName" not in query:
            query["ConsistentRead"] = True
        while True:
            page = client.query(**query)
            yield from page.get("Items", [])
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            query["ExclusiveStartKey"] = last

    def _read_meta(self, client: DynamoDBClient) -> Meta:
        return Meta.of(self._get(client, META_KEY))

    # -- counter-advancing transactions ----------------------------------------------------

    def _transact(self, client: DynamoDBClient, plan_for: Callable[[Meta], _Plan[T]]) -> T:
        """Build and run a transaction on the counters as last known, rebuilding it on fresh
        counters while concurrent writers win the race (bounded, with jittered backoff)."""
        for attempt in range(self.max_write_attempts):
            meta = self._meta if self._meta is not None else self._read_meta(client)
            plan = plan_for(meta)
            try:
                client.transact_write_items(TransactItems=plan.items)
            except ClientError as exc:
                self._meta = None
                if _error_code(exc) not in ("TransactionCanceledException", "TransactionConflictException"):
                    raise
                reasons = _reasons(exc)
                outcome = plan.refused(reasons)
                if outcome is not None:
                    return outcome
                self._check_retryable(plan, reasons, exc)
                self._count_retry()
                time.sleep(_backoff(attempt))
                continue
            self._meta = plan.meta_after
            return plan.committed()
        raise StorageUnavailable(
            f"gave up writing to DynamoDB table {self.table_name} after {self.max_write_attempts} attempts: "
            "other writers kept advancing the event sequence (or DynamoDB kept throttling)",
            details={"table": self.table_name, "attempts": self.max_write_attempts},
        )

    def _check_retryable(self, plan: _Plan[T], reasons: list[_Reason], exc: ClientError) -> None:
        unexpected = [reason.code for reason in reasons if reason.code not in _RETRY_REASONS]
        if unexpected:
            raise StorageError(
                f"DynamoDB refused a write to table {self.table_name}: {', '.join(unexpected)} ({exc})",
                details={"table": self.table_name, "reasons": [reason.code for reason in reasons]},
            )
        if plan.event_index is None or len(reasons) <= max(plan.event_index, plan.counter_index):
            return
        if reasons[plan.event_index].failed_condition and not reasons[plan.counter_index].failed_condition:
            raise StorageError(
                f"DynamoDB table {self.table_name}: the event sequence counter is behind the event log "
                f"(event {plan.meta_after.last_sequence} already exists)",
                details={"table": self.table_name, "sequence": plan.meta_after.last_sequence},
            )

    def _counter_update(self, meta: Meta, *, event: bool, month: str | None) -> tuple[TransactWriteItemTypeDef, Meta]:
        """The ``META`` update advancing the event sequence and/or the audit counter, on the
        condition that they still have the values in ``meta``."""
        after = meta.advanced(event=event, audit=month is not None, month=month)
        names: dict[str, str] = {}
        values: dict[str, AttributeValueTypeDef] = {}
        sets: list[str] = []
        conditions: list[str] = []
        for advanced, alias, attribute, before, now in (
            (event, "#seq", "last_sequence", meta.last_sequence, after.last_sequence),
            (month is not None, "#aud", "last_audit", meta.last_audit, after.last_audit),
        ):
            if not advanced:
                continue
            names[alias] = attribute
            values[f":{alias[1:]}_next"] = {"N": str(now)}
            sets.append(f"{alias} = :{alias[1:]}_next")
            if before == 0:
                conditions.append(f"attribute_not_exists({alias})")
            else:
                values[f":{alias[1:]}_prev"] = {"N": str(before)}
                conditions.append(f"{alias} = :{alias[1:]}_prev")
        expression = "SET " + ", ".join(sets)
        if month is not None:
            names["#months"] = "audit_months"
            values[":month"] = {"SS": [month]}
            expression += " ADD #months :month"
        update: TransactWriteItemTypeDef = {
            "Update": {
                "TableName": self.table_name,
                "Key": META_KEY,
                "UpdateExpression": expression,
                "ConditionExpression": " AND ".join(conditions),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }
        return update, after

    def _put(self, item: Item, condition: str | None = None, *, return_old: bool = False) -> TransactWriteItemTypeDef:
        put: TransactWriteItemTypeDef = {"Put": {"TableName": self.table_name, "Item": item}}
        if condition is not None:
            put["Put"]["ConditionExpression"] = condition
        if return_old:
            put["Put"]["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        return put

    def _log_items(
        self, meta: Meta, event: Event | None, audit: AuditRecord | None
    ) -> tuple[list[TransactWriteItemTypeDef], Meta, Event | None, AuditRecord | None, int]:
        """The counter update, the event and the audit copies of one write, with the event
        and record as stored. Returns ``(items, meta after, event, audit, counter index)``."""
        month = audit_month(audit.timestamp) if audit is not None else None
        update, after = self._counter_update(meta, event=event is not None, month=month)
        items: list[TransactWriteItemTypeDef] = [update]
        stored_event = None
        if event is not None:
            stored_event = replace(event, sequence=after.last_sequence)
            items.append(self._put(event_item(stored_event, self.events_per_partition), "attribute_not_exists(PK)"))
        stored_audit = None
        if audit is not None and month is not None:
            stored_audit = replace(
                audit,
                id=audit_id(audit.timestamp, after.last_audit),
                event_sequence=stored_event.sequence if stored_event is not None else audit.event_sequence,
            )
            items.append(self._put(audit_item(stored_audit, audit_month_partition(month))))
            if stored_audit.resource is not None:
                items.append(self._put(audit_item(stored_audit, audit_resource_partition(stored_audit.resource))))
        return items, after, stored_event, stored_audit, 0

    # -- versions --------------------------------------------------------------------------

    async def publish(
        self, version: StoredVersion, event: Event, audit: AuditRecord, *, expected_sequence: int | None = None
    ) -> PublishOutcome:
        version, event, audit = normalize_version(version), normalize_event(event), normalize_audit(audit)

        def plan(client: DynamoDBClient, meta: Meta) -> _Plan[PublishOutcome]:
            if expected_sequence is not None and meta.last_sequence != expected_sequence:
                # The counters as last known may be behind the table: judge by fresh ones. The
                # transaction's condition on the counter keeps the check atomic with the write
                # (a writer coming between this read and the write makes it fail and re-plan).
                meta = self._meta = self._read_meta(client)
                if meta.last_sequence != expected_sequence:
                    raise concurrent_error(expected_sequence, meta.last_sequence)
            return self._publish_plan(client, version, event, audit, meta)

        return await self._write(lambda client: self._transact(client, functools.partial(plan, client)))

    def _publish_plan(
        self, client: DynamoDBClient, version: StoredVersion, event: Event, audit: AuditRecord, meta: Meta
    ) -> _Plan[PublishOutcome]:
        log_items, after, stored_event, stored_audit, _ = self._log_items(meta, event, audit)
        assert stored_event is not None
        stored = replace(version, sequence=stored_event.sequence)
        claimant = version.source.owner
        owner_put: TransactWriteItemTypeDef = {
            "Put": {
                "TableName": self.table_name,
                "Item": owner_item(version.name, claimant),
                "ConditionExpression": "attribute_not_exists(PK) OR #owner = :owner",
                "ExpressionAttributeNames": {"#owner": "owner"},
                "ExpressionAttributeValues": {":owner": {"S": claimant}},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }
        items = [self._put(version_item(stored), "attribute_not_exists(PK)", return_old=True), owner_put, *log_items]

        def refused(reasons: list[_Reason]) -> PublishOutcome | None:
            if len(reasons) < 2:
                return None
            if reasons[1].failed_condition:
                owner_item_found = reasons[1].item or self._get(client, owner_key(version.name))
                owner = owner_item_found["owner"]["S"] if owner_item_found else "(unknown)"
                raise ownership_error(version.name, owner, claimant)
            if reasons[0].failed_condition:
                existing_item = reasons[0].item or self._get(client, version_key(version.name, version.version))
                if existing_item is None:
                    return None
                existing = version_of(existing_item)
                if existing.digest != version.digest:
                    raise immutable_error(existing, version)
                return PublishOutcome(created=False, version=existing)
            return None

        return _Plan(
            items=items,
            meta_after=after,
            committed=lambda: PublishOutcome(created=True, version=stored, event=stored_event, audit=stored_audit),
            counter_index=2,
            event_index=3,
            refused=refused,
        )

    async def get_version(self, name: str, version: str) -> StoredVersion | None:
        item = await self._read(lambda client: self._get(client, version_key(name, version)))
        return version_of(item) if item is not None else None

    async def list_versions(self, name: str) -> list[StoredVersion]:
        versions = await self._read(functools.partial(self._versions_of, name))
        return sorted(versions, key=lambda v: v.sequence)

    def _versions_of(self, name: str, client: DynamoDBClient) -> list[StoredVersion]:
        items = self._query(
            client,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :prefix)",
            ExpressionAttributeValues={":pk": {"S": versions_partition(name)}, ":prefix": {"S": "VER#"}},
        )
        return [version_of(item) for item in items]

    async def scan_versions(self, *, page_size: int = 1000) -> AsyncIterator[StoredVersion]:
        """Names in order from the ``NAMES`` partition, ``page_size`` at a time; each name's
        versions by one consistent Query, run eight at a time. Yields in ``(name, version)``
        order."""
        check_limit(page_size, "page_size")
        start: dict[str, AttributeValueTypeDef] | None = None
        while True:
            names, start = await self._read(functools.partial(self._names_page, start, page_size))
            pages = await asyncio.gather(*(self._read(functools.partial(self._versions_of, name)) for name in names))
            for versions in pages:
                for version in versions:
                    yield version
            if start is None:
                return

    def _names_page(
        self, start: dict[str, AttributeValueTypeDef] | None, limit: int, client: DynamoDBClient
    ) -> tuple[list[str], dict[str, AttributeValueTypeDef] | None]:
        request: QueryInputTypeDef = {
            "TableName": self.table_name,
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": names_partition()}},
            "ProjectionExpression": "SK",
            "ConsistentRead": True,
            "Limit": limit,
        }
        if start is not None:
            request["ExclusiveStartKey"] = start
        page = client.query(**request)
        return [item["SK"]["S"] for item in page.get("Items", [])], page.get("LastEvaluatedKey") or None

    async def get_owner(self, name: str) -> str | None:
        item = await self._read(lambda client: self._get(client, owner_key(name)))
        return item["owner"]["S"] if item is not None else None

    async def versions_by_provider(self, provider: str) -> list[StoredVersion]:
        """Every version whose provider is ``provider``, in ``(name, version)`` order, from
        GSI1 (eventually consistent: a version published a moment ago may be missing)."""
        return await self._read(functools.partial(self._by_index, "GSI1", f"PROVIDER#{provider}"))

    async def versions_by_category(self, category: str) -> list[StoredVersion]:
        """Every version whose category is ``category``, in ``(name, version)`` order, from
        GSI2 (eventually consistent, as ``versions_by_provider``)."""
        return await self._read(functools.partial(self._by_index, "GSI2", f"CATEGORY#{category}"))

    def _by_index(self, index: str, key: str, client: DynamoDBClient) -> list[StoredVersion]:
        items = self._query(
            client,
            IndexName=index,
            KeyConditionExpression=f"{index}PK = :pk",
            ExpressionAttributeValues={":pk": {"S": key}},
        )
        return [version_of(item) for item in items]

    async def _update_version(
        self, name: str, version: str, event: Event, audit: AuditRecord, changes: dict[str, Any]
    ) -> StoredVersion:
        def plan_for(client: DynamoDBClient, meta: Meta) -> _Plan[StoredVersion]:
            item = self._get(client, version_key(name, version))
            if item is None:
                raise VersionNotFound(name, version, message=f"{name} {version} is not published")
            updated = replace(version_of(item), updated_at=event.time, **changes)
            rev = version_rev(item)
            expression, names, values = lifecycle_update(updated, rev)
            log_items, after, _, _, _ = self._log_items(meta, event, audit)
            update: TransactWriteItemTypeDef = {
                "Update": {
                    "TableName": self.table_name,
                    "Key": version_key(name, version),
                    "UpdateExpression": expression,
                    "ConditionExpression": "attribute_exists(PK) AND #rev = :rev",
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": {**values, ":rev": {"N": str(rev)}},
                }
            }
            return _Plan(
                items=[update, *log_items], meta_after=after, committed=lambda: updated, counter_index=1, event_index=2
            )

        return await self._write(lambda client: self._transact(client, functools.partial(plan_for, client)))

    # -- events and audit ------------------------------------------------------------------

    async def _append(self, event: Event | None, audit: AuditRecord | None) -> tuple[Event | None, AuditRecord | None]:
        def plan_for(meta: Meta) -> _Plan[tuple[Event | None, AuditRecord | None]]:
            items, after, stored_event, stored_audit, counter = self._log_items(meta, event, audit)
            return _Plan(
                items=items,
                meta_after=after,
                committed=lambda: (stored_event, stored_audit),
                counter_index=counter,
                event_index=1 if event is not None else None,
            )

        return await self._write(lambda client: self._transact(client, plan_for))

    async def read_events(self, after: int, limit: int = 1000) -> list[Event]:
        check_after(after)
        check_limit(limit, "limit")
        return await self._read(functools.partial(self._read_events, after, limit))

    def _read_events(self, after: int, limit: int, client: DynamoDBClient) -> list[Event]:
        meta = self._read_meta(client)
        start = max(after + 1, meta.first_sequence)
        end = min(start + limit - 1, meta.last_sequence)
        if start > end:
            return []
        return [event_of(item) for item in self._event_items(client, start, end)]

    def _event_items(
        self, client: DynamoDBClient, start: int, end: int, **extra: Any
    ) -> Iterator[dict[str, AttributeValueTypeDef]]:
        """Event items with ``start <= sequence <= end``, ascending, partition by partition."""
        per = self.events_per_partition
        values: dict[str, AttributeValueTypeDef] = extra.pop("values", {})
        for bucket in range(start // per, end // per + 1):
            lower, upper = max(start, bucket * per), min(end, bucket * per + per - 1)
            yield from self._query(
                client,
                KeyConditionExpression="PK = :pk AND SK BETWEEN :lower AND :upper",
                ExpressionAttributeValues={
                    ":pk": {"S": event_partition(lower, per)},
                    ":lower": {"S": pad_sequence(lower)},
                    ":upper": {"S": pad_sequence(upper)},
                    **values,
                },
                **extra,
            )

    async def last_sequence(self) -> int:
        meta = await self._read(self._read_meta)
        return meta.last_sequence

    async def first_sequence(self) -> int:
        meta = await self._read(self._read_meta)
        return min(meta.first_sequence, meta.last_sequence + 1)

    async def trim_events(self, *, older_than: datetime | None = None, keep_last: int | None = None) -> int:
        cutoff_time = ensure_utc(older_than, "older_than") if older_than is not None else None
        retention_cutoff(last=0, first_young=None, older_than=None, keep_last=keep_last)  # validates keep_last
        return await self._write(functools.partial(self._trim, cutoff_time, keep_last))

    def _trim(self, older_than: datetime | None, keep_last: int | None, client: DynamoDBClient) -> int:
        for attempt in range(self.max_write_attempts):
            meta = self._read_meta(client)
            first_young = self._first_young(client, meta, older_than) if older_than is not None else None
            cutoff = retention_cutoff(
                last=meta.last_sequence, first_young=first_young, older_than=older_than, keep_last=keep_last
            )
            dropped = max(0, cutoff - meta.first_sequence)
            if dropped and not self._raise_first_sequence(client, meta.first_sequence, cutoff):
                self._count_retry()
                time.sleep(_backoff(attempt))
                continue
            self._purge(client, meta.purged_below, max(cutoff, meta.first_sequence))
            return dropped
        raise StorageUnavailable(
            f"gave up trimming the event log of DynamoDB table {self.table_name}: it kept changing",
            details={"table": self.table_name},
        )

    def _first_young(self, client: DynamoDBClient, meta: Meta, older_than: datetime) -> int | None:
        """The lowest retained sequence whose time is ``>= older_than``."""
        if meta.first_sequence > meta.last_sequence:
            return None
        items = self._event_items(
            client,
            meta.first_sequence,
            meta.last_sequence,
            FilterExpression="#time >= :time",
            ProjectionExpression="#seq",
            ExpressionAttributeNames={"#seq": "sequence", "#time": "time_us"},
            values={":time": {"N": str(to_micros(older_than))}},
        )
        first = next(items, None)
        return int(first["sequence"]["N"]) if first is not None else None

    def _raise_first_sequence(self, client: DynamoDBClient, previous: int, cutoff: int) -> bool:
        """Move the logical start of the log from ``previous`` to ``cutoff``; False when
        another trim or a transaction got in the way (read again and retry)."""
        condition = "#first = :previous" if previous > 1 else "(attribute_not_exists(#first) OR #first = :previous)"
        try:
            client.update_item(
                TableName=self.table_name,
                Key=META_KEY,
                UpdateExpression="SET #first = :cutoff",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#first": "first_sequence"},
                ExpressionAttributeValues={":cutoff": {"N": str(cutoff)}, ":previous": {"N": str(previous)}},
            )
        except ClientError as exc:
            if _error_code(exc) in ("ConditionalCheckFailedException", "TransactionConflictException"):
                return False
            raise
        return True

    def _purge(self, client: DynamoDBClient, start: int, below: int) -> None:
        """Delete the event items ``start <= sequence < below`` (gap-free, so their keys are
        known without reading) and record how far the deletion got."""
        if below <= start:
            return
        keys = [event_key(sequence, self.events_per_partition) for sequence in range(start, below)]
        for first in range(0, len(keys), _BATCH_DELETE):
            requests: list[WriteRequestTypeDef] = [
                {"DeleteRequest": {"Key": key}} for key in keys[first : first + _BATCH_DELETE]
            ]
            self._batch_write(client, requests)
        try:
            client.update_item(
                TableName=self.table_name,
                Key=META_KEY,
                UpdateExpression="SET #purged = :below",
                ConditionExpression="attribute_not_exists(#purged) OR #purged < :below",
                ExpressionAttributeNames={"#purged": "purged_below"},
                ExpressionAttributeValues={":below": {"N": str(below)}},
            )
        except ClientError as exc:
            if _error_code(exc) not in ("ConditionalCheckFailedException", "TransactionConflictException"):
                raise

    def _batch_write(self, client: DynamoDBClient, requests: list[WriteRequestTypeDef]) -> None:
        pending: Mapping[str, list[WriteRequestTypeDef]] = {self.table_name: requests}
        for attempt in range(self.max_write_attempts):
            unprocessed = client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
            if not unprocessed.get(self.table_name):
                return
            pending = {self.table_name: list(unprocessed[self.table_name])}  # type: ignore[arg-type]
            time.sleep(_backoff(attempt))
        raise StorageUnavailable(
            f"DynamoDB kept throttling deletes on table {self.table_name}", details={"table": self.table_name}
        )

    async def query_audit(self, query: AuditQuery) -> AuditPage:
        bounds = audit_range(query)
        if bounds.lower is not None and bounds.upper is not None and bounds.lower >= bounds.upper:
            return AuditPage(records=[], next_cursor=None)
        found = await self._read(functools.partial(self._audit_items, query, bounds.lower, bounds.upper, bounds.limit))
        return AuditPage(
            records=[audit_record_of(item) for item in found[: bounds.limit]],
            next_cursor=next_cursor([item["SK"]["S"] for item in found], bounds.limit),
        )

    def _audit_items(
        self, query: AuditQuery, lower: str | None, upper: str | None, limit: int, client: DynamoDBClient
    ) -> list[dict[str, AttributeValueTypeDef]]:
        """Up to ``limit + 1`` matching items, newest first."""
        if query.resource is not None:
            partitions = [audit_resource_partition(query.resource)]
        else:
            low = month_of_id(lower) if lower else ""
            high = month_of_id(upper) if upper else "9999-99"
            months = sorted((m for m in self._read_meta(client).audit_months if low <= m <= high), reverse=True)
            partitions = [audit_month_partition(month) for month in months]
        found: list[dict[str, AttributeValueTypeDef]] = []
        for partition in partitions:
            for item in self._audit_partition(client, partition, query, lower, upper, limit + 1 - len(found)):
                found.append(item)
            if len(found) > limit:
                break
        return found

    def _audit_partition(
        self, client: DynamoDBClient, partition: str, query: AuditQuery, lower: str | None, upper: str | None, need: int
    ) -> Iterator[dict[str, AttributeValueTypeDef]]:
        values: dict[str, AttributeValueTypeDef] = {":pk": {"S": partition}}
        key = "PK = :pk"
        if lower is not None and upper is not None:
            key += " AND SK BETWEEN :lower AND :upper"
            values.update({":lower": {"S": lower}, ":upper": {"S": upper}})
        elif lower is not None:
            key += " AND SK >= :lower"
            values[":lower"] = {"S": lower}
        elif upper is not None:
            key += " AND SK < :upper"
            values[":upper"] = {"S": upper}
        names: dict[str, str] = {}
        filters: list[str] = []
        for alias, attribute, wanted in (
            ("#version", "version", query.version),
            ("#user", "user_name", query.user),
            ("#action", "action", query.action),
        ):
            if wanted is not None:
                names[alias] = attribute
                values[f":{alias[1:]}"] = {"S": wanted}
                filters.append(f"{alias} = :{alias[1:]}")
        request: dict[str, Any] = {
            "KeyConditionExpression": key,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
        }
        if filters:
            request["FilterExpression"] = " AND ".join(filters)
            request["ExpressionAttributeNames"] = names
        else:
            request["Limit"] = need + (1 if upper is not None else 0)
        count = 0
        for item in self._query(client, **request):
            if upper is not None and item["SK"]["S"] >= upper:
                continue
            yield item
            count += 1
            if count >= need:
                return

    # -- sync state ------------------------------------------------------------------------

    async def get_sync_state(self, source: str) -> SyncState | None:
        text = await self._read(functools.partial(self._sync_state_json, source))
        return SyncState.from_dict(load_json(text)) if text is not None else None

    def _sync_state_json(self, source: str, client: DynamoDBClient) -> str | None:
        for attempt in range(_SYNC_READ_ATTEMPTS):
            items = list(
                self._query(
                    client,
                    KeyConditionExpression="PK = :pk",
                    ExpressionAttributeValues={":pk": {"S": sync_partition(source)}},
                )
            )
            if not items:
                return None
            text = join_sync_state(source, items)
            if text is not None:
                return text
            time.sleep(_backoff(attempt))
        raise StorageUnavailable(
            f"sync state of {source!r} kept changing while being read", details={"table": self.table_name}
        )

    async def put_sync_state(self, state: SyncState) -> None:
        if state.updated_at is not None:
            state = replace(state, updated_at=ensure_utc(state.updated_at, "SyncState.updated_at"))
        text = dump_json(state.to_dict(), "SyncState")
        chunks = split_sync_state(text)
        if len(chunks) > _MAX_SYNC_CHUNKS:
            raise PayloadTooLarge(
                f"sync state of {state.source!r} is {sum(map(len, chunks)):,} bytes compressed; the DynamoDB store "
                f"keeps at most {_MAX_SYNC_CHUNKS} chunks per source",
                details={"source": state.source, "chunks": len(chunks), "limit": _MAX_SYNC_CHUNKS},
            )
        await self._read(functools.partial(self._put_sync_chunks, state.source, chunks, len(text)))

    def _put_sync_chunks(self, source: str, chunks: list[bytes], size: int, client: DynamoDBClient) -> None:
        """Head and chunks of a new generation, and deletion of the previous generation's
        surplus chunks, in one transaction conditioned on the head read."""
        for attempt in range(self.max_write_attempts):
            head = SyncHead.of(self._get(client, sync_head_key(source)))
            generation = head.generation + 1 if head is not None else 1
            head_put = self._put(sync_head_item(source, generation, len(chunks), size))
            if head is None:
                head_put["Put"]["ConditionExpression"] = "attribute_not_exists(PK)"
            else:
                head_put["Put"]["ConditionExpression"] = "#generation = :generation"
                head_put["Put"]["ExpressionAttributeNames"] = {"#generation": "generation"}
                head_put["Put"]["ExpressionAttributeValues"] = {":generation": {"N": str(head.generation)}}
            items: list[TransactWriteItemTypeDef] = [head_put]
            items += [self._put(sync_chunk_item(source, generation, i, data)) for i, data in enumerate(chunks)]
            stale = range(len(chunks), head.chunks if head is not None else 0)
            items += [{"Delete": {"TableName": self.table_name, "Key": sync_chunk_key(source, i)}} for i in stale]
            try:
                client.transact_write_items(TransactItems=items)
                return
            except ClientError as exc:
                if _error_code(exc) not in ("TransactionCanceledException", "TransactionConflictException"):
                    raise
                unexpected = [r.code for r in _reasons(exc) if r.code not in _RETRY_REASONS]
                if unexpected:
                    raise
            self._count_retry()
            time.sleep(_backoff(attempt))
        raise StorageUnavailable(
            f"gave up writing the sync state of {source!r}: concurrent writers", details={"table": self.table_name}
        )

    # -- leases ----------------------------------------------------------------------------

    async def _change_lease(self, name: str, decide: LeaseDecision) -> Lease | None:
        return await self._read(functools.partial(self._change_lease_item, name, decide))

    def _change_lease_item(self, name: str, decide: LeaseDecision, client: DynamoDBClient) -> Lease | None:
        """Read the lease, let ``decide`` compute its next state and put it on the condition
        that nobody changed it meanwhile (its revision); on a lost race decide again."""
        for attempt in range(self.max_write_attempts):
            item = self._get(client, lease_key(name))
            current, rev = lease_row_of(name, item)
            row = decide(current, self._clock())
            if row is None:
                return None
            condition: dict[str, Any] = (
                {"ConditionExpression": "attribute_not_exists(PK)"}
                if item is None
                else {
                    "ConditionExpression": "#rev = :rev",
                    "ExpressionAttributeNames": {"#rev": "rev"},
                    "ExpressionAttributeValues": {":rev": {"N": str(rev)}},
                }
            )
            try:
                client.put_item(TableName=self.table_name, Item=lease_item(row, rev + 1), **condition)
            except ClientError as exc:
                if _error_code(exc) not in ("ConditionalCheckFailedException", "TransactionConflictException"):
                    raise
                self._count_retry()
                time.sleep(_backoff(attempt))
                continue
            return row.as_lease() if row.holder is not None else None
        raise StorageUnavailable(
            f"gave up changing lease {name!r}: it kept changing", details={"table": self.table_name, "lease": name}
        )

    async def get_lease(self, name: str) -> Lease | None:
        item = await self._read(lambda client: self._get(client, lease_key(name)))
        current, _ = lease_row_of(name, item)
        if current is None or current.is_free(self._clock()):
            return None
        return current.as_lease()
