"""DynamoDB adapter against moto_server over HTTP: publish throughput, one version read,
a read-model rebuild.

moto is an emulator (one request at a time, and each transaction deep-copies the whole
table, so its cost grows with the table: the runs stay small), so the absolute figures say
nothing about DynamoDB itself; the ratio does: what ``DynamoDBStore`` costs over boto3
issuing the same requests. No issue sets a DynamoDB speed goal; the goals below are ours.

- publish: ours is ``DynamoDBStore.publish`` (one at a time; 32 in flight; two stores on
  one table, 16 in flight each, racing on the counters). Ceiling: bare boto3 on the calling
  thread sending the same ``TransactWriteItems`` (version, owner, counter, event, two audit
  copies) with the counters known in advance, i.e. the least any adapter keeping these
  semantics can send. Each run uses a fresh table of the same size.
- get_version: ``DynamoDBStore.get_version`` (thread hop, item to ``StoredVersion``) against
  a bare consistent ``GetItem`` of the same item.
- scan_versions: a full ``scan_versions`` of N versions against bare boto3 reading the same
  partitions one after another.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import replace
from typing import Any

import boto3
from tests.core.storage.builders import PublishArgs, publish_args
from tests.support.moto import AWS_ENV, REGION, MotoServer, unique_table_name

from benchmarks._harness import Context, Row
from nestor_catalog_core.storage._common import audit_id
from nestor_catalog_core.storage._dynamodb_items import (
    META_KEY,
    audit_item,
    audit_month,
    audit_month_partition,
    audit_resource_partition,
    event_item,
    owner_item,
    version_item,
    version_key,
)
from nestor_catalog_core.storage.dynamodb import DynamoDBStore

IN_FLIGHT = 32


def _store(endpoint: str, table: str, *, create: bool = False) -> DynamoDBStore:
    return DynamoDBStore(table, region=REGION, endpoint=endpoint, create_table=create)


async def _publish_all(endpoint: str, batch: list[PublishArgs], in_flight: int, replicas: int) -> tuple[float, int]:
    table = unique_table_name("bench")
    first = _store(endpoint, table, create=True)
    await first.open()
    stores = [first]
    for _ in range(replicas - 1):
        stores.append(_store(endpoint, table))
        await stores[-1].open()
    try:
        start = time.perf_counter()
        for offset in range(0, len(batch), in_flight * replicas):
            chunk = batch[offset : offset + in_flight * replicas]
            await asyncio.gather(*(stores[i % replicas].publish(*args.as_tuple()) for i, args in enumerate(chunk)))
        elapsed = time.perf_counter() - start
        assert await first.last_sequence() == len(batch)
        return elapsed, sum(store.write_retries for store in stores)
    finally:
        for store in stores:
            await store.close()


def _transaction(table: str, sequence: int, args: PublishArgs) -> list[Any]:
    version, event, audit = args.as_tuple()
    version = version.with_changes(sequence=sequence)
    event = event.with_sequence(sequence)
    month = audit_month(audit.timestamp)
    audit = replace(audit, id=audit_id(audit.timestamp, sequence), event_sequence=sequence)
    previous = {":prev": {"N": str(sequence - 1)}} if sequence > 1 else {}
    return [
        {"Put": {"TableName": table, "Item": version_item(version), "ConditionExpression": "attribute_not_exists(PK)"}},
        {"Put": {"TableName": table, "Item": owner_item(version.name, version.source.owner)}},
        {
            "Update": {
                "TableName": table,
                "Key": META_KEY,
                "UpdateExpression": "SET last_sequence = :seq, last_audit = :seq ADD audit_months :month",
                "ConditionExpression": "last_sequence = :prev"
                if sequence > 1
                else "attribute_not_exists(last_sequence)",
                "ExpressionAttributeValues": {":seq": {"N": str(sequence)}, ":month": {"SS": [month]}, **previous},
            }
        },
        {"Put": {"TableName": table, "Item": event_item(event)}},
        {"Put": {"TableName": table, "Item": audit_item(audit, audit_month_partition(month))}},
        {"Put": {"TableName": table, "Item": audit_item(audit, audit_resource_partition(version.name))}},
    ]


def _bare_publish(endpoint: str, batch: list[PublishArgs]) -> float:
    table = unique_table_name("bench")
    asyncio.run(_store(endpoint, table).ensure_table())
    client = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)
    transactions = [_transaction(table, sequence, args) for sequence, args in enumerate(batch, start=1)]
    start = time.perf_counter()
    for items in transactions:
        client.transact_write_items(TransactItems=items)
    elapsed = time.perf_counter() - start
    client.close()
    return elapsed


async def _reads(endpoint: str, batch: list[PublishArgs], rounds: int) -> tuple[float, float, float, float]:
    """(ours get_version us, bare get_item us, ours scan s, bare scan s) on one table."""
    table = unique_table_name("bench")
    async with _store(endpoint, table, create=True) as store:
        for args in batch:
            await store.publish(*args.as_tuple())
        client = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint)
        key = version_key(batch[0].version.name, batch[0].version.version)
        start = time.perf_counter()
        for _ in range(rounds):
            await store.get_version(batch[0].version.name, batch[0].version.version)
        ours_get = (time.perf_counter() - start) / rounds * 1e6
        start = time.perf_counter()
        for _ in range(rounds):
            client.get_item(TableName=table, Key=key, ConsistentRead=True)
        bare_get = (time.perf_counter() - start) / rounds * 1e6
        start = time.perf_counter()
        scanned = [version async for version in store.scan_versions()]
        ours_scan = time.perf_counter() - start
        assert len(scanned) == len(batch)
        start = time.perf_counter()
        for args in batch:
            client.query(
                TableName=table,
                KeyConditionExpression="PK = :pk",
                ExpressionAttributeValues={":pk": {"S": f"RES#{args.version.name}"}},
                ConsistentRead=True,
            )
        bare_scan = time.perf_counter() - start
        client.close()
    return ours_get, bare_get, ours_scan, bare_scan


def _rate_row(label: str, count: int, ours: float, ceiling: float, floor: float = 0.7, **extra: Any) -> Row:
    return Row(
        benchmark=label,
        figure=count / ours,
        unit="versions/s",
        ceiling=count / ceiling,
        ceiling_label="bare boto3 TransactWriteItems, same items",
        goal=f">= {floor}x the bare requests",
        met=count / ours >= floor * count / ceiling,
        extra={"versions": count, "seconds": ours, "ceiling_seconds": ceiling, **extra},
    )


def run(ctx: Context) -> list[Row]:
    count = ctx.scale(60, 30)
    repeat = ctx.scale(3, 1)
    batch = [publish_args(f"bench-{i:05d}", "1.0.0") for i in range(count)]
    saved = {key: os.environ.get(key) for key in AWS_ENV}
    os.environ.update(AWS_ENV)
    try:
        with MotoServer.start() as server:
            endpoint = server.endpoint
            ceiling = sequential = concurrent = racing = float("inf")
            retries = 0
            for _ in range(repeat):
                ceiling = min(ceiling, _bare_publish(endpoint, batch))
                sequential = min(sequential, asyncio.run(_publish_all(endpoint, batch, 1, 1))[0])
                concurrent = min(concurrent, asyncio.run(_publish_all(endpoint, batch, IN_FLIGHT, 1))[0])
                seconds, retries = asyncio.run(_publish_all(endpoint, batch, IN_FLIGHT // 2, 2))
                racing = min(racing, seconds)
            ours_get, bare_get, ours_scan, bare_scan = asyncio.run(_reads(endpoint, batch, ctx.scale(300, 50)))
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return [
        _rate_row("DynamoDB publish, one at a time (moto)", count, sequential, ceiling),
        _rate_row(f"DynamoDB publish, {IN_FLIGHT} in flight (moto)", count, concurrent, ceiling),
        # Every lost race costs a whole cancelled transaction: half the bare rate is the goal.
        _rate_row(
            "DynamoDB publish, 2 stores racing on one table (moto)", count, racing, ceiling, 0.5, retries=retries
        ),
        Row(
            benchmark="DynamoDB get_version (moto)",
            figure=ours_get,
            unit="us",
            ceiling=bare_get,
            ceiling_label="bare boto3 GetItem",
            goal="<= 1.5x the bare GetItem",
            met=ours_get <= 1.5 * bare_get,
        ),
        Row(
            benchmark=f"DynamoDB scan_versions of {count} versions (moto)",
            figure=ours_scan * 1000,
            unit="ms",
            ceiling=bare_scan * 1000,
            ceiling_label="bare boto3 Query per name, sequential",
            # moto answers one request at a time, so the eight concurrent queries cannot
            # win here as they do on DynamoDB; the names page is the extra cost.
            goal="<= 1.5x the sequential bare queries",
            met=ours_scan <= 1.5 * bare_scan,
        ),
    ]
