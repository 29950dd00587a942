"""The DynamoDB table itself: its expected schema, creation, the check that an existing table
is ours, and point-in-time recovery.

These calls are control-plane operations (low rate limits, seconds to minutes on real
DynamoDB), run at ``open()`` and by ``nestor-catalog storage init``, never per request.
Functions here are synchronous; the store runs them on its worker threads.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

from botocore.exceptions import ClientError, WaiterError

from nestor_catalog_core._exceptions import ConfigError, StorageError, StorageUnavailable
from nestor_catalog_core.storage._common import choice_error

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        CreateTableInputTypeDef,
        GlobalSecondaryIndexTypeDef,
        TableDescriptionTypeDef,
    )

__all__ = [
    "BILLING_MODES",
    "INDEXES",
    "BillingMode",
    "PitrStatus",
    "TableOptions",
    "TableSetup",
    "create_table",
    "describe_table",
    "enable_point_in_time_recovery",
    "schema_differences",
    "wait_until_active",
]

BillingMode = Literal["PAY_PER_REQUEST", "PROVISIONED"]
BILLING_MODES: Final[tuple[BillingMode, ...]] = ("PAY_PER_REQUEST", "PROVISIONED")
PitrStatus = Literal["enabled", "already enabled", "pending", "not requested"]

_KEY_SCHEMA: Final = (("PK", "HASH"), ("SK", "RANGE"))
#: Global secondary indexes: name -> (partition key, sort key). Both project every attribute.
INDEXES: Final[dict[str, tuple[str, str]]] = {
    "GSI1": ("GSI1PK", "GSI1SK"),  # versions by provider: PROVIDER#<provider>, <name>#<version>
    "GSI2": ("GSI2PK", "GSI2SK"),  # versions by category: CATEGORY#<category>, <name>#<version>
}
_ATTRIBUTES: Final = ("PK", "SK", *(key for keys in INDEXES.values() for key in keys))
_WAIT_DELAY_S: Final = 2
_PITR_RETRIES: Final = 15


@dataclass(frozen=True, slots=True)
class TableOptions:
    """How to create the table. ``billing_mode`` None means provisioned when capacities are
    given, else on demand (as the server's ``storage.dynamodb`` config reads it)."""

    billing_mode: BillingMode | None = None
    read_capacity: int | None = None
    write_capacity: int | None = None
    point_in_time_recovery: bool = False

    def __post_init__(self) -> None:
        if self.billing_mode is not None and self.billing_mode not in BILLING_MODES:
            raise choice_error("DynamoDB", "billing_mode", self.billing_mode, BILLING_MODES)
        for name in ("read_capacity", "write_capacity"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(
                    f"DynamoDB {name} must be >= 1 (got {value})",
                    details={"option": name, "reason": f"must be >= 1 (got {value})"},
                )
        has_capacity = self.read_capacity is not None or self.write_capacity is not None
        if self.billing_mode == "PAY_PER_REQUEST" and has_capacity:
            raise _billing_error("PAY_PER_REQUEST takes no read_capacity/write_capacity")
        if self.effective_billing_mode == "PROVISIONED" and (self.read_capacity is None or self.write_capacity is None):
            raise _billing_error("PROVISIONED needs both read_capacity and write_capacity")

    @property
    def effective_billing_mode(self) -> BillingMode:
        if self.billing_mode is not None:
            return self.billing_mode
        provisioned = self.read_capacity is not None or self.write_capacity is not None
        return "PROVISIONED" if provisioned else "PAY_PER_REQUEST"


def _billing_error(reason: str) -> ConfigError:
    return ConfigError(f"DynamoDB billing_mode {reason}", details={"option": "billing_mode", "reason": reason})


@dataclass(frozen=True, slots=True)
class TableSetup:
    """What ``DynamoDBStore.ensure_table`` found and did, for ``storage init`` to print."""

    table: str
    created: bool
    status: str
    billing_mode: str
    point_in_time_recovery: PitrStatus
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        shape = f"billing {self.billing_mode}, indexes {', '.join(INDEXES)}, status {self.status}"
        if self.created:
            first = f"created table {self.table} ({shape})"
        else:
            first = f"table {self.table} already exists with the expected layout ({shape}); nothing created"
        return [first, f"point-in-time recovery: {self.point_in_time_recovery}", *self.notes]


# -- the schema ----------------------------------------------------------------------------


def _create_request(table: str, options: TableOptions) -> CreateTableInputTypeDef:
    provisioned = options.effective_billing_mode == "PROVISIONED"
    throughput: Any = {
        "ReadCapacityUnits": options.read_capacity or 1,
        "WriteCapacityUnits": options.write_capacity or 1,
    }
    indexes: list[GlobalSecondaryIndexTypeDef] = []
    for index, (hash_key, range_key) in INDEXES.items():
        definition: GlobalSecondaryIndexTypeDef = {
            "IndexName": index,
            "KeySchema": [
                {"AttributeName": hash_key, "KeyType": "HASH"},
                {"AttributeName": range_key, "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
        if provisioned:
            definition["ProvisionedThroughput"] = throughput
        indexes.append(definition)
    request: CreateTableInputTypeDef = {
        "TableName": table,
        "KeySchema": [{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": name, "AttributeType": "S"} for name in _ATTRIBUTES],
        "GlobalSecondaryIndexes": indexes,
        "BillingMode": options.effective_billing_mode,
    }
    if provisioned:
        request["ProvisionedThroughput"] = throughput
    return request


def _keys(schema: Sequence[Any]) -> str:
    return ", ".join(f"{element['KeyType']}={element['AttributeName']}" for element in schema) or "(none)"


def schema_differences(description: TableDescriptionTypeDef) -> list[str]:
    """How an existing table differs from the layout this store needs (empty when it fits)."""
    differences = []
    expected_keys = ", ".join(f"{kind}={name}" for name, kind in _KEY_SCHEMA)
    found_keys = _keys(description.get("KeySchema", []))
    if found_keys != expected_keys:
        differences.append(f"key schema is {found_keys}, expected {expected_keys}")
    types = {a["AttributeName"]: a["AttributeType"] for a in description.get("AttributeDefinitions", [])}
    for name in _ATTRIBUTES:
        if name in types and types[name] != "S":
            differences.append(f"attribute {name} has type {types[name]}, expected S (string)")
    found_indexes = {index["IndexName"]: index for index in description.get("GlobalSecondaryIndexes", [])}
    for index, (hash_key, range_key) in INDEXES.items():
        found = found_indexes.get(index)
        if found is None:
            differences.append(f"global secondary index {index} ({hash_key}, {range_key}) is missing")
            continue
        expected = f"HASH={hash_key}, RANGE={range_key}"
        if _keys(found.get("KeySchema", [])) != expected:
            differences.append(f"index {index} has keys {_keys(found.get('KeySchema', []))}, expected {expected}")
        projection = found.get("Projection", {}).get("ProjectionType")
        if projection != "ALL":
            differences.append(f"index {index} projects {projection}, expected ALL")
    return differences


# -- control-plane calls -------------------------------------------------------------------


def describe_table(client: DynamoDBClient, table: str) -> TableDescriptionTypeDef | None:
    """The table's description, or None when it does not exist."""
    try:
        return client.describe_table(TableName=table)["Table"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise


def create_table(client: DynamoDBClient, table: str, options: TableOptions) -> TableDescriptionTypeDef | None:
    """Create the table; None when another process created it first (then describe it)."""
    try:
        return client.create_table(**_create_request(table, options))["TableDescription"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceInUseException":
            return None
        raise


def wait_until_active(client: DynamoDBClient, table: str, timeout: float) -> None:
    attempts = max(1, int(timeout // _WAIT_DELAY_S))
    try:
        client.get_waiter("table_exists").wait(
            TableName=table, WaiterConfig={"Delay": _WAIT_DELAY_S, "MaxAttempts": attempts}
        )
    except WaiterError as exc:
        raise StorageUnavailable(
            f"DynamoDB table {table} did not become ACTIVE within {timeout:.0f}s: {exc}", details={"table": table}
        ) from exc


def enable_point_in_time_recovery(client: DynamoDBClient, table: str, *, wait: bool) -> PitrStatus:
    """Turn PITR on. Right after creation DynamoDB may answer that continuous backups are
    not available yet: with ``wait`` we retry, otherwise we report ``pending``."""
    for _attempt in range(_PITR_RETRIES if wait else 1):
        try:
            status = client.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
            pitr = status.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus")
            if pitr == "ENABLED":
                return "already enabled"
            client.update_continuous_backups(
                TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
            )
            return "enabled"
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ContinuousBackupsUnavailableException":
                raise
        if wait:
            time.sleep(_WAIT_DELAY_S)
    if wait:
        raise StorageError(
            f"point-in-time recovery of {table} could not be enabled: continuous backups stayed unavailable",
            details={"table": table},
        )
    return "pending"
