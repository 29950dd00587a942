"""The storage conformance suite: every ``ComponentStore`` adapter must pass all of it.

Written once against the interface; ``conftest.py`` parametrizes the ``store`` fixture over
the adapters.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from nestor_catalog_core import (
    ConcurrentWrite,
    ImmutableVersionError,
    InvalidRequest,
    OwnershipConflict,
    StorageUnavailable,
    VersionNotFound,
)
from nestor_catalog_core.models import AuditRecord, EventType, SyncState
from nestor_catalog_core.storage import AuditQuery, ComponentStore
from tests.core.storage.builders import (
    BASE_TIME,
    api_source,
    audit_record,
    git_source,
    lifecycle_document,
    publish_args,
    simple_event,
    sync_state,
    version_event,
)
from tests.core.storage.conftest import StoreFactory
from tests.support.clock import ManualClock


async def _all_events(store: ComponentStore) -> list[int]:
    return [event.sequence for event in await store.read_events(0, limit=10_000)]


async def _write_nothing_happened(store: ComponentStore, last: int) -> None:
    assert await store.last_sequence() == last
    assert [e.sequence for e in await store.read_events(last)] == []


# -- lifecycle -----------------------------------------------------------------------------


async def test_open_and_close_are_idempotent(store: ComponentStore) -> None:
    await store.open()
    await store.ping()
    await store.close()
    await store.close()
    await store.open()
    await store.open()
    await store.ping()


async def test_ping_raises_storage_unavailable_when_closed(store: ComponentStore) -> None:
    await store.close()
    with pytest.raises(StorageUnavailable, match=r"not open|closed"):
        await store.ping()


async def test_operations_on_a_closed_store_raise_storage_unavailable(store: ComponentStore) -> None:
    await store.close()
    with pytest.raises(StorageUnavailable):
        await store.publish(*publish_args().as_tuple())
    with pytest.raises(StorageUnavailable):
        await store.get_version("aws-rds-mysql", "1.2.0")
    with pytest.raises(StorageUnavailable):
        await store.read_events(0)


async def test_async_context_manager_opens_and_closes(store_factory: StoreFactory) -> None:
    store = await store_factory.create()
    await store.close()
    async with store as opened:
        assert opened is store
        await opened.ping()
    with pytest.raises(StorageUnavailable):
        await store.ping()


async def test_data_survives_close_and_reopen(store_factory: StoreFactory) -> None:
    store = await store_factory.create()
    args = publish_args()
    await store.publish(*args.as_tuple())
    await store.append(simple_event(), audit_record("sync.completed", None, None))
    await store.put_sync_state(sync_state())

    reopened = await store_factory.reopen(store)
    if store_factory.durable:
        assert reopened is not store
    assert await reopened.get_version("aws-rds-mysql", "1.2.0") == replace(args.version, sequence=1)
    assert await reopened.last_sequence() == 2
    assert await reopened.get_owner("aws-rds-mysql") == "git:platform-definitions"
    assert await reopened.get_sync_state("platform-definitions") == sync_state()
    page = await reopened.query_audit(AuditQuery())
    assert len(page.records) == 2
    outcome = await reopened.publish(*publish_args(version="1.3.0").as_tuple())
    assert outcome.version.sequence == 3


# -- publish -------------------------------------------------------------------------------


async def test_publish_writes_version_event_audit_and_owner_with_one_sequence(store: ComponentStore) -> None:
    args = publish_args()
    outcome = await store.publish(*args.as_tuple())

    assert outcome.created is True
    assert outcome.event is not None
    assert outcome.audit is not None
    assert outcome.version.sequence == outcome.event.sequence == outcome.audit.event_sequence == 1
    assert outcome.version == replace(args.version, sequence=1)
    assert outcome.event == replace(args.event, sequence=1)
    assert outcome.audit.id
    assert replace(outcome.audit, id="", event_sequence=None) == args.audit

    assert await store.get_version("aws-rds-mysql", "1.2.0") == outcome.version
    assert await store.read_events(0) == [outcome.event]
    assert (await store.query_audit(AuditQuery())).records == [outcome.audit]
    assert await store.get_owner("aws-rds-mysql") == "git:platform-definitions"
    assert await store.last_sequence() == 1
    assert await store.first_sequence() == 1


async def test_published_version_round_trips_every_field(store: ComponentStore) -> None:
    args = publish_args(source=git_source("infra", path="db/mysql.yaml", commit="f" * 40))
    version = replace(args.version, deprecated=True)
    await store.publish(version, args.event, args.audit)

    stored = await store.get_version(version.name, version.version)
    assert stored is not None
    assert stored == replace(version, sequence=1)
    assert stored.document == version.document
    assert stored.definition() == version.definition()
    assert stored.source.committed_at == version.source.committed_at
    assert stored.published_at.tzinfo is not None
    assert stored.published_at.utcoffset() == timedelta(0)


async def test_publish_normalizes_timestamps_to_utc(store: ComponentStore) -> None:
    plus_two = timezone(timedelta(hours=2))
    local = datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=plus_two)
    args = publish_args(published_at=local)
    event = replace(args.event, time=local)
    audit = replace(args.audit, timestamp=local)
    outcome = await store.publish(args.version, event, audit)

    stored = await store.get_version(args.version.name, args.version.version)
    [read_event] = await store.read_events(0)
    [read_audit] = (await store.query_audit(AuditQuery())).records
    assert stored is not None
    for value in (outcome.version.published_at, stored.published_at, read_event.time, read_audit.timestamp):
        assert value == local
        assert value.tzinfo == UTC


async def test_naive_timestamps_are_refused_and_nothing_is_written(store: ComponentStore) -> None:
    args = publish_args()
    naive = datetime(2024, 3, 1, 12, 0, 0)
    with pytest.raises(InvalidRequest, match="timezone-aware"):
        await store.publish(args.version, replace(args.event, time=naive), args.audit)
    with pytest.raises(InvalidRequest, match="timezone-aware"):
        await store.publish(args.version, args.event, replace(args.audit, timestamp=naive))
    assert await store.get_version("aws-rds-mysql", "1.2.0") is None
    await _write_nothing_happened(store, 0)


async def test_republishing_the_same_digest_writes_nothing(store: ComponentStore) -> None:
    first = await store.publish(*publish_args().as_tuple())
    again = publish_args(published_at=BASE_TIME + timedelta(days=1))

    outcome = await store.publish(*again.as_tuple())

    assert outcome.created is False
    assert outcome.version == first.version
    assert outcome.event is None
    assert outcome.audit is None
    await _write_nothing_happened(store, 1)
    assert len((await store.query_audit(AuditQuery())).records) == 1


async def test_republishing_other_content_raises_immutable_and_writes_nothing(store: ComponentStore) -> None:
    first = await store.publish(*publish_args().as_tuple())
    changed = publish_args(max_storage=2000)
    assert changed.version.digest != first.version.digest

    with pytest.raises(ImmutableVersionError, match=r"aws-rds-mysql 1\.2\.0 is already published") as caught:
        await store.publish(*changed.as_tuple())

    assert caught.value.details == {
        "resource_name": "aws-rds-mysql",
        "version": "1.2.0",
        "stored_digest": first.version.digest,
        "new_digest": changed.version.digest,
    }
    assert await store.get_version("aws-rds-mysql", "1.2.0") == first.version
    await _write_nothing_happened(store, 1)
    assert len((await store.query_audit(AuditQuery())).records) == 1


async def test_another_source_cannot_publish_an_owned_name(store: ComponentStore) -> None:
    await store.publish(*publish_args(source=git_source("team-a")).as_tuple())
    intruder = publish_args(version="1.3.0", source=git_source("team-b"))

    with pytest.raises(OwnershipConflict, match="owned by git:team-a") as caught:
        await store.publish(*intruder.as_tuple())

    assert caught.value.details == {"resource_name": "aws-rds-mysql", "owner": "git:team-a", "source": "git:team-b"}
    assert await store.get_version("aws-rds-mysql", "1.3.0") is None
    assert await store.get_owner("aws-rds-mysql") == "git:team-a"
    await _write_nothing_happened(store, 1)


async def test_api_source_owns_names_it_publishes(store: ComponentStore) -> None:
    await store.publish(*publish_args("custom-queue", "0.1.0", source=api_source()).as_tuple())
    assert await store.get_owner("custom-queue") == "api"
    with pytest.raises(OwnershipConflict, match="owned by api"):
        await store.publish(*publish_args("custom-queue", "0.2.0", source=git_source()).as_tuple())
    outcome = await store.publish(*publish_args("custom-queue", "0.2.0", source=api_source("someone@x.io")).as_tuple())
    assert outcome.created is True


async def test_same_source_publishes_new_versions(store: ComponentStore) -> None:
    for number, version in enumerate(("1.0.0", "1.1.0", "2.0.0"), start=1):
        outcome = await store.publish(*publish_args(version=version).as_tuple())
        assert outcome.version.sequence == number
    versions = await store.list_versions("aws-rds-mysql")
    assert sorted(v.version for v in versions) == ["1.0.0", "1.1.0", "2.0.0"]
    assert await store.list_versions("missing") == []
    assert await store.get_version("aws-rds-mysql", "9.9.9") is None
    assert await store.get_owner("missing") is None


async def test_a_publish_on_the_expected_sequence_writes(store: ComponentStore) -> None:
    await store.publish(*publish_args().as_tuple())

    outcome = await store.publish(*publish_args(version="1.3.0").as_tuple(), expected_sequence=1)

    assert outcome.created is True
    assert outcome.event is not None
    assert outcome.version.sequence == outcome.event.sequence == 2


@pytest.mark.parametrize("expected", [0, 2])
async def test_a_publish_off_the_expected_sequence_raises_concurrent_write_and_writes_nothing(
    store: ComponentStore, expected: int
) -> None:
    await store.publish(*publish_args().as_tuple())

    with pytest.raises(ConcurrentWrite, match="another writer came first") as caught:
        await store.publish(*publish_args(version="1.3.0").as_tuple(), expected_sequence=expected)

    assert caught.value.details == {"expected_sequence": expected, "last_sequence": 1}
    assert await store.get_version("aws-rds-mysql", "1.3.0") is None
    await _write_nothing_happened(store, 1)
    assert len((await store.query_audit(AuditQuery())).records) == 1


async def test_the_expected_sequence_is_judged_by_the_log_not_by_what_a_writer_last_saw(
    store_factory: StoreFactory,
) -> None:
    first = await store_factory.create()
    await first.publish(*publish_args().as_tuple())  # ``first`` last wrote sequence 1
    second = await store_factory.another(first)
    await second.publish(*publish_args(version="1.3.0").as_tuple())  # the log is at 2 behind its back

    outcome = await first.publish(*publish_args(version="1.4.0").as_tuple(), expected_sequence=2)
    assert outcome.version.sequence == 3

    await second.publish(*publish_args(version="1.5.0").as_tuple())
    with pytest.raises(ConcurrentWrite) as caught:
        await first.publish(*publish_args(version="1.6.0").as_tuple(), expected_sequence=3)
    assert caught.value.details == {"expected_sequence": 3, "last_sequence": 4}
    assert await second.get_version("aws-rds-mysql", "1.6.0") is None
    assert await second.last_sequence() == 4


async def test_publish_many_matches_one_by_one_and_isolates_refused_items(store: ComponentStore) -> None:
    await store.publish(*publish_args("taken", "1.0.0", source=git_source("team-a")).as_tuple())
    existing = await store.publish(*publish_args("fixed", "1.0.0").as_tuple())
    batch = [
        publish_args("alpha", "1.0.0"),
        publish_args("taken", "2.0.0", source=git_source("team-b")),  # another owner: refused
        publish_args("fixed", "1.0.0"),  # same digest: unchanged, nothing written
        publish_args("fixed", "1.0.0", max_storage=2000),  # other digest: immutable
        publish_args("alpha", "1.1.0"),
        publish_args("beta", "0.1.0"),
    ]

    outcomes = await store.publish_many([args.as_tuple() for args in batch])

    assert isinstance(outcomes[1], OwnershipConflict)
    assert isinstance(outcomes[3], ImmutableVersionError)
    created = [o for o in outcomes if not isinstance(o, Exception) and o.created]
    assert [(o.version.name, o.version.version, o.version.sequence) for o in created] == [
        ("alpha", "1.0.0", 3),
        ("alpha", "1.1.0", 4),
        ("beta", "0.1.0", 5),
    ]
    for outcome in created:
        assert outcome.event is not None
        assert outcome.audit is not None
        assert outcome.event.sequence == outcome.audit.event_sequence == outcome.version.sequence
    unchanged = outcomes[2]
    assert not isinstance(unchanged, Exception)
    assert unchanged.created is False
    assert unchanged.version == existing.version
    assert await _all_events(store) == [1, 2, 3, 4, 5]
    assert await store.get_version("taken", "2.0.0") is None
    assert await store.get_owner("taken") == "git:team-a"
    assert len((await store.query_audit(AuditQuery(limit=100))).records) == 5
    assert await store.publish_many([]) == []


async def test_fifty_concurrent_publishes_get_sequences_one_to_fifty(store: ComponentStore) -> None:
    args = [publish_args(f"resource-{i:02d}", "1.0.0") for i in range(50)]
    outcomes = await asyncio.gather(*(store.publish(*a.as_tuple()) for a in args))

    assert sorted(o.version.sequence for o in outcomes) == list(range(1, 51))
    assert all(
        o.event and o.audit and o.version.sequence == o.event.sequence == o.audit.event_sequence for o in outcomes
    )
    assert await _all_events(store) == list(range(1, 51))
    for a in args:
        assert await store.get_version(a.version.name, "1.0.0") is not None
    events = await store.read_events(0, limit=100)
    assert {(e.name, e.sequence) for e in events} == {(o.version.name, o.version.sequence) for o in outcomes}


async def test_concurrent_publishes_of_one_version_have_one_winner(store: ComponentStore) -> None:
    same = [publish_args() for _ in range(8)]
    outcomes = await asyncio.gather(*(store.publish(*a.as_tuple()) for a in same))
    assert sum(o.created for o in outcomes) == 1

    rivals = [publish_args(version="2.0.0", max_storage=1000 + i) for i in range(8)]
    results = await asyncio.gather(*(store.publish(*a.as_tuple()) for a in rivals), return_exceptions=True)
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(r, ImmutableVersionError) for r in losers)
    stored = await store.get_version("aws-rds-mysql", "2.0.0")
    assert stored == winners[0].version
    assert await _all_events(store) == [1, 2]


async def test_scan_versions_pages_through_every_version_once(store: ComponentStore) -> None:
    published = set()
    for i in range(9):
        for version in ("1.0.0", "1.1.0", "2.0.0"):
            await store.publish(*publish_args(f"res-{i}", version).as_tuple())
            published.add((f"res-{i}", version))

    scanned = [v.key async for v in store.scan_versions(page_size=5)]

    assert len(scanned) == len(published) == 27
    assert set(scanned) == published
    assert scanned == sorted(scanned)
    assert [v.key async for v in store.scan_versions(page_size=27)] == scanned
    assert [v.key async for v in store.scan_versions()] == scanned


async def test_scan_versions_of_an_empty_store_yields_nothing(store: ComponentStore) -> None:
    assert [v async for v in store.scan_versions(page_size=3)] == []
    with pytest.raises(InvalidRequest, match="page_size"):
        [v async for v in store.scan_versions(page_size=0)]


# -- lifecycle and withdrawal --------------------------------------------------------------


async def test_set_lifecycle_replaces_the_document_and_logs_atomically(store: ComponentStore) -> None:
    published = (await store.publish(*publish_args().as_tuple())).version
    document = lifecycle_document(published)
    event = version_event(published, EventType.RESOURCE_DEPRECATED, message="use 2.x")
    audit = audit_record(EventType.RESOURCE_DEPRECATED.value, changes=["metadata.deprecation"])

    updated = await store.set_lifecycle("aws-rds-mysql", "1.2.0", document, True, event, audit)

    assert updated.document == document
    assert updated.deprecated is True
    assert updated.digest == published.digest
    assert updated.sequence == published.sequence
    assert updated.updated_at == event.time
    assert updated.definition().metadata.deprecation is not None
    assert await store.get_version("aws-rds-mysql", "1.2.0") == updated
    [logged] = await store.read_events(1)
    assert logged == replace(event, sequence=2)
    newest = (await store.query_audit(AuditQuery(limit=1))).records[0]
    assert newest.action == "resource.deprecated"
    assert newest.event_sequence == 2

    undone = await store.set_lifecycle("aws-rds-mysql", "1.2.0", published.document, False, event, audit)
    assert undone.document == published.document
    assert undone.deprecated is False


async def test_set_lifecycle_of_a_missing_version_raises_and_writes_nothing(store: ComponentStore) -> None:
    published = (await store.publish(*publish_args().as_tuple())).version
    event = version_event(published, EventType.RESOURCE_DEPRECATED)
    with pytest.raises(VersionNotFound, match=r"aws-rds-mysql 9\.0\.0 is not published") as caught:
        await store.set_lifecycle("aws-rds-mysql", "9.0.0", published.document, True, event, audit_record())
    assert caught.value.details == {"resource_name": "aws-rds-mysql", "version": "9.0.0"}
    await _write_nothing_happened(store, 1)


async def test_withdraw_and_restore(store: ComponentStore) -> None:
    published = (await store.publish(*publish_args().as_tuple())).version
    withdraw = version_event(published, EventType.RESOURCE_DELETED, reason="file removed")
    withdrawn = await store.set_withdrawn(
        "aws-rds-mysql", "1.2.0", True, withdraw, audit_record(EventType.RESOURCE_DELETED.value)
    )
    assert withdrawn.withdrawn is True
    assert withdrawn.document == published.document
    assert (await store.get_version("aws-rds-mysql", "1.2.0")) == withdrawn
    assert [v.withdrawn for v in await store.list_versions("aws-rds-mysql")] == [True]

    again = await store.publish(*publish_args().as_tuple())
    assert again.created is False
    assert again.version.withdrawn is True

    restore = version_event(published, EventType.RESOURCE_UPDATED, restored=True)
    restored = await store.set_withdrawn(
        "aws-rds-mysql", "1.2.0", False, restore, audit_record(EventType.RESOURCE_UPDATED.value)
    )
    assert restored.withdrawn is False
    assert [e.type for e in await store.read_events(0)] == [
        EventType.RESOURCE_CREATED,
        EventType.RESOURCE_DELETED,
        EventType.RESOURCE_UPDATED,
    ]
    audits = (await store.query_audit(AuditQuery(resource="aws-rds-mysql"))).records
    assert [a.event_sequence for a in audits] == [3, 2, 1]


async def test_set_withdrawn_of_a_missing_version_raises(store: ComponentStore) -> None:
    event = simple_event(EventType.RESOURCE_DELETED)
    with pytest.raises(VersionNotFound, match="is not published"):
        await store.set_withdrawn("nothing-here", "1.0.0", True, event, audit_record())
    await _write_nothing_happened(store, 0)


# -- append, event log and retention -------------------------------------------------------


async def test_append_event_and_audit_together(store: ComponentStore) -> None:
    event = simple_event(EventType.VALIDATION_FAILED, file="definitions/bad.yaml", errors=3)
    audit = replace(audit_record("resource.rejected", outcome="rejected"), reason="IMMUTABLE_VERSION")
    stored_event, stored_audit = await store.append(event, audit)

    assert stored_event == replace(event, sequence=1)
    assert stored_audit is not None
    assert stored_audit.event_sequence == 1
    assert stored_audit.id
    assert (await store.query_audit(AuditQuery())).records == [stored_audit]
    assert await store.read_events(0) == [stored_event]


async def test_append_audit_alone_takes_no_sequence(store: ComponentStore) -> None:
    stored_event, stored_audit = await store.append(None, audit_record("resource.noop", outcome="noop"))
    assert stored_event is None
    assert stored_audit is not None
    assert stored_audit.event_sequence is None
    assert await store.last_sequence() == 0
    stored_event, stored_audit = await store.append(simple_event(), None)
    assert stored_event is not None
    assert stored_event.sequence == 1
    assert stored_audit is None
    assert await store.append(None, None) == (None, None)
    assert await store.last_sequence() == 1


async def test_records_that_are_not_json_are_refused_without_writing(store: ComponentStore) -> None:
    with pytest.raises(InvalidRequest, match="not JSON-serializable"):
        await store.append(simple_event(when=datetime.now(UTC)), None)
    with pytest.raises(InvalidRequest, match="not JSON-serializable"):
        await store.append(simple_event(), replace(audit_record(), details={"ratio": float("nan")}))
    await _write_nothing_happened(store, 0)
    assert (await store.query_audit(AuditQuery())).records == []


async def test_stored_records_are_private_copies(store: ComponentStore) -> None:
    event = simple_event(files=["a.yaml"])
    stored_event, _ = await store.append(event, None)
    assert stored_event is not None
    event.data["files"].append("b.yaml")
    stored_event.data["files"].append("c.yaml")
    [read] = await store.read_events(0)
    assert read.data == {"files": ["a.yaml"]}
    read.data.clear()
    assert (await store.read_events(0))[0].data == {"files": ["a.yaml"]}


async def test_read_events_after_and_limit(store: ComponentStore) -> None:
    for i in range(10):
        await store.append(simple_event(index=i), None)
    assert [e.sequence for e in await store.read_events(0, limit=3)] == [1, 2, 3]
    assert [e.sequence for e in await store.read_events(7)] == [8, 9, 10]
    assert [e.data["index"] for e in await store.read_events(4, limit=2)] == [4, 5]
    assert await store.read_events(10) == []
    assert await store.read_events(50) == []
    with pytest.raises(InvalidRequest, match="limit"):
        await store.read_events(0, limit=0)
    with pytest.raises(InvalidRequest, match="after"):
        await store.read_events(-1)


async def test_trim_keep_last_drops_the_oldest(store: ComponentStore) -> None:
    for _ in range(10):
        await store.append(simple_event(), None)
    assert await store.trim_events(keep_last=4) == 6
    assert await store.first_sequence() == 7
    assert await store.last_sequence() == 10
    assert await _all_events(store) == [7, 8, 9, 10]
    assert [e.sequence for e in await store.read_events(2, limit=2)] == [7, 8]
    assert await store.trim_events(keep_last=4) == 0
    assert await store.trim_events() == 0
    with pytest.raises(InvalidRequest, match="keep_last"):
        await store.trim_events(keep_last=-1)


async def test_trim_older_than_drops_only_a_prefix(store: ComponentStore) -> None:
    times = [BASE_TIME + timedelta(hours=h) for h in (0, 1, 2, 9, 3, 10)]
    for time in times:
        await store.append(simple_event(time=time), None)
    dropped = await store.trim_events(older_than=BASE_TIME + timedelta(hours=5))
    # Sequence 5 (03:00) is older than the cut-off but follows a younger event: it stays so
    # the retained log has no holes.
    assert dropped == 3
    assert await _all_events(store) == [4, 5, 6]
    assert await store.first_sequence() == 4


async def test_trim_combines_age_and_count(store: ComponentStore) -> None:
    for hour in range(6):
        await store.append(simple_event(time=BASE_TIME + timedelta(hours=hour)), None)
    assert await store.trim_events(older_than=BASE_TIME + timedelta(hours=1), keep_last=3) == 3
    assert await _all_events(store) == [4, 5, 6]


async def test_trimming_everything_keeps_the_sequence(store: ComponentStore) -> None:
    for _ in range(5):
        await store.append(simple_event(), None)
    assert await store.trim_events(older_than=datetime.now(UTC) + timedelta(days=1)) == 5
    assert await store.last_sequence() == 5
    assert await store.first_sequence() == 6
    assert await store.read_events(0) == []

    outcome = await store.publish(*publish_args().as_tuple())
    assert outcome.version.sequence == 6
    assert await store.first_sequence() == 6
    assert await _all_events(store) == [6]
    assert await store.trim_events(keep_last=0) == 1
    assert await store.last_sequence() == 6
    assert await store.first_sequence() == 7


async def test_empty_log_sequences(store: ComponentStore) -> None:
    assert await store.last_sequence() == 0
    assert await store.first_sequence() == 1
    assert await store.read_events(0) == []


# -- audit ---------------------------------------------------------------------------------


async def _seed_audit(store: ComponentStore) -> None:
    rows = [
        ("resource.created", "aws-rds-mysql", "1.0.0", "alice@x.io", 0),
        ("resource.updated", "aws-rds-mysql", "1.1.0", "bob@x.io", 1),
        ("resource.rejected", "aws-rds-mysql", "1.1.0", "alice@x.io", 2),
        ("resource.created", "gcp-bucket", "0.1.0", "bob@x.io", 3),
        ("sync.completed", None, None, None, 4),
        ("resource.deprecated", "aws-rds-mysql", "1.0.0", "carol@x.io", 5),
    ]
    for action, resource, version, user, minutes in rows:
        timestamp = BASE_TIME + timedelta(minutes=minutes)
        await store.append(None, audit_record(action, resource, version, user=user, timestamp=timestamp))


def _summary(records: list[AuditRecord]) -> list[tuple[str, str | None]]:
    return [(r.action, r.version) for r in records]


async def test_audit_is_newest_first_and_filters(store: ComponentStore) -> None:
    await _seed_audit(store)
    everything = (await store.query_audit(AuditQuery())).records
    assert [r.timestamp for r in everything] == sorted((r.timestamp for r in everything), reverse=True)
    assert len(everything) == 6

    by_resource = await store.query_audit(AuditQuery(resource="aws-rds-mysql"))
    assert _summary(by_resource.records) == [
        ("resource.deprecated", "1.0.0"),
        ("resource.rejected", "1.1.0"),
        ("resource.updated", "1.1.0"),
        ("resource.created", "1.0.0"),
    ]
    assert by_resource.next_cursor is None
    by_version = await store.query_audit(AuditQuery(resource="aws-rds-mysql", version="1.1.0"))
    assert _summary(by_version.records) == [("resource.rejected", "1.1.0"), ("resource.updated", "1.1.0")]
    by_user = await store.query_audit(AuditQuery(user="bob@x.io"))
    assert [r.resource for r in by_user.records] == ["gcp-bucket", "aws-rds-mysql"]
    by_action = await store.query_audit(AuditQuery(action="resource.created"))
    assert [r.resource for r in by_action.records] == ["gcp-bucket", "aws-rds-mysql"]
    combined = await store.query_audit(AuditQuery(user="alice@x.io", action="resource.rejected"))
    assert _summary(combined.records) == [("resource.rejected", "1.1.0")]
    assert (await store.query_audit(AuditQuery(user="nobody"))).records == []


async def test_audit_time_window_is_since_inclusive_until_exclusive(store: ComponentStore) -> None:
    await _seed_audit(store)
    window = await store.query_audit(
        AuditQuery(since=BASE_TIME + timedelta(minutes=1), until=BASE_TIME + timedelta(minutes=4))
    )
    assert [r.timestamp for r in window.records] == [BASE_TIME + timedelta(minutes=m) for m in (3, 2, 1)]
    since_only = await store.query_audit(AuditQuery(since=BASE_TIME + timedelta(minutes=5)))
    assert [r.action for r in since_only.records] == ["resource.deprecated"]
    until_only = await store.query_audit(AuditQuery(until=BASE_TIME + timedelta(minutes=1)))
    assert [r.action for r in until_only.records] == ["resource.created"]
    with pytest.raises(InvalidRequest, match="timezone-aware"):
        await store.query_audit(AuditQuery(since=datetime(2024, 1, 1)))


async def test_audit_pagination_is_stable_while_records_arrive(store: ComponentStore) -> None:
    for minute in range(25):
        await store.append(None, audit_record(timestamp=BASE_TIME + timedelta(minutes=minute), changes=[str(minute)]))

    first = await store.query_audit(AuditQuery(limit=10))
    assert first.next_cursor is not None
    for minute in range(25, 30):
        await store.append(None, audit_record(timestamp=BASE_TIME + timedelta(minutes=minute), changes=[str(minute)]))
    second = await store.query_audit(AuditQuery(limit=10, cursor=first.next_cursor))
    assert second.next_cursor is not None
    third = await store.query_audit(AuditQuery(limit=10, cursor=second.next_cursor))
    assert third.next_cursor is None

    seen = [int(r.changes[0]) for page in (first, second, third) for r in page.records]
    assert seen == list(range(24, -1, -1))


async def test_audit_cursor_respects_filters_and_exact_page_ends(store: ComponentStore) -> None:
    for minute in range(6):
        resource = "even" if minute % 2 == 0 else "odd"
        await store.append(None, audit_record(resource=resource, timestamp=BASE_TIME + timedelta(minutes=minute)))
    first = await store.query_audit(AuditQuery(resource="even", limit=2))
    assert len(first.records) == 2
    assert first.next_cursor is not None
    second = await store.query_audit(AuditQuery(resource="even", limit=2, cursor=first.next_cursor))
    assert [r.timestamp for r in second.records] == [BASE_TIME]
    assert second.next_cursor is None
    exact = await store.query_audit(AuditQuery(resource="odd", limit=3))
    assert len(exact.records) == 3
    assert exact.next_cursor is None


async def test_audit_rejects_bad_cursor_and_limit(store: ComponentStore) -> None:
    with pytest.raises(InvalidRequest, match="invalid audit cursor"):
        await store.query_audit(AuditQuery(cursor="%%%not-a-cursor"))
    with pytest.raises(InvalidRequest, match="limit"):
        await store.query_audit(AuditQuery(limit=0))


async def test_audit_records_round_trip(store: ComponentStore) -> None:
    record = replace(
        audit_record(source=git_source(path="db/mysql.yaml"), changes=["spec.optional_inputs", "metadata.description"]),
        outcome="rejected",
        reason="INCOMPATIBLE_CHANGE",
        details={"changes": [{"rule": "INPUT_REMOVED", "field": "spec.required_inputs[1]"}]},
    )
    _, stored = await store.append(None, record)
    [read] = (await store.query_audit(AuditQuery())).records
    assert read == stored
    assert read == replace(record, id=read.id)


# -- sync state ----------------------------------------------------------------------------


async def test_sync_state_round_trips_and_overwrites(store: ComponentStore) -> None:
    assert await store.get_sync_state("platform-definitions") is None
    state = sync_state()
    await store.put_sync_state(state)
    assert await store.get_sync_state("platform-definitions") == state

    moved = replace(state, last_commit="f" * 40, files={})
    await store.put_sync_state(moved)
    assert await store.get_sync_state("platform-definitions") == moved
    other = SyncState(source="local-examples")
    await store.put_sync_state(other)
    assert await store.get_sync_state("local-examples") == other
    assert await store.get_sync_state("platform-definitions") == moved


async def test_sync_state_with_ten_thousand_files(store: ComponentStore) -> None:
    state = sync_state(files=10_000)
    await store.put_sync_state(state)
    loaded = await store.get_sync_state(state.source)
    assert loaded is not None
    assert len(loaded.files) == 10_000
    assert loaded == state


# -- leases --------------------------------------------------------------------------------

LONG = timedelta(minutes=5)
SHORT = timedelta(milliseconds=20)


def _expire(clock: ManualClock, ttl: timedelta = SHORT) -> None:
    clock.advance(ttl * 3)


async def test_lease_is_exclusive_until_released(store: ComponentStore) -> None:
    lease = await store.acquire_lease("git-sync", "replica-a", LONG)
    assert lease is not None
    assert lease.holder == "replica-a"
    assert lease.expires_at.tzinfo == UTC
    assert lease.expires_at > datetime.now(UTC) + timedelta(minutes=4)
    assert await store.acquire_lease("git-sync", "replica-b", LONG) is None
    assert await store.get_lease("git-sync") == lease

    await store.release_lease("git-sync", "replica-b")
    assert await store.get_lease("git-sync") == lease

    await store.release_lease("git-sync", "replica-a")
    assert await store.get_lease("git-sync") is None
    taken = await store.acquire_lease("git-sync", "replica-b", LONG)
    assert taken is not None
    assert taken.holder == "replica-b"
    assert taken.token > lease.token


async def test_acquiring_an_own_lease_renews_without_new_token(store: ComponentStore) -> None:
    first = await store.acquire_lease("git-sync", "replica-a", timedelta(minutes=1))
    assert first is not None
    again = await store.acquire_lease("git-sync", "replica-a", LONG)
    assert again is not None
    assert again.token == first.token
    assert again.expires_at > first.expires_at


async def test_renew_extends_only_for_the_holder(store: ComponentStore) -> None:
    assert await store.renew_lease("git-sync", "replica-a", LONG) is None
    lease = await store.acquire_lease("git-sync", "replica-a", timedelta(minutes=1))
    assert lease is not None
    renewed = await store.renew_lease("git-sync", "replica-a", LONG)
    assert renewed is not None
    assert renewed.token == lease.token
    assert renewed.expires_at > lease.expires_at
    assert await store.renew_lease("git-sync", "replica-b", LONG) is None
    assert await store.get_lease("git-sync") == renewed


async def test_expired_lease_passes_to_another_holder_with_a_higher_token(
    store: ComponentStore, clock: ManualClock
) -> None:
    lease = await store.acquire_lease("git-sync", "replica-a", SHORT)
    assert lease is not None
    _expire(clock)
    assert await store.get_lease("git-sync") is None
    assert await store.renew_lease("git-sync", "replica-a", LONG) is None

    taken = await store.acquire_lease("git-sync", "replica-b", LONG)
    assert taken is not None
    assert taken.holder == "replica-b"
    assert taken.token > lease.token
    assert await store.acquire_lease("git-sync", "replica-a", LONG) is None
    await store.release_lease("git-sync", "replica-a")
    assert await store.get_lease("git-sync") == taken


async def test_fencing_token_grows_on_every_acquisition(store: ComponentStore, clock: ManualClock) -> None:
    tokens = []
    for holder in ("a", "b", "a", "a"):
        lease = await store.acquire_lease("git-sync", holder, LONG)
        assert lease is not None
        tokens.append(lease.token)
        await store.release_lease("git-sync", holder)
    expired = await store.acquire_lease("git-sync", "a", SHORT)
    assert expired is not None
    tokens.append(expired.token)
    _expire(clock)
    reacquired = await store.acquire_lease("git-sync", "a", LONG)
    assert reacquired is not None
    tokens.append(reacquired.token)
    assert tokens == sorted(set(tokens))
    assert len(tokens) == 6


async def test_leases_are_independent_by_name(store: ComponentStore) -> None:
    a = await store.acquire_lease("git-sync", "replica-a", LONG)
    b = await store.acquire_lease("retention", "replica-b", LONG)
    assert a is not None
    assert b is not None
    assert (await store.get_lease("git-sync"), await store.get_lease("retention")) == (a, b)
    assert await store.get_lease("unknown") is None


async def test_lease_ttl_must_be_positive(store: ComponentStore) -> None:
    with pytest.raises(InvalidRequest, match="ttl must be positive"):
        await store.acquire_lease("git-sync", "replica-a", timedelta(0))
    with pytest.raises(InvalidRequest, match="ttl must be positive"):
        await store.renew_lease("git-sync", "replica-a", timedelta(seconds=-1))


async def test_lease_survives_reopen(store_factory: StoreFactory) -> None:
    store = await store_factory.create()
    lease = await store.acquire_lease("git-sync", "replica-a", LONG)
    reopened = await store_factory.reopen(store)
    assert await reopened.get_lease("git-sync") == lease
    assert await reopened.acquire_lease("git-sync", "replica-b", LONG) is None
