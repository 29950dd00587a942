from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from nestor_catalog_core import (
    AuditQuery,
    Catalog,
    Deprecation,
    EventType,
    ImmutableVersionError,
    IncompatibleChange,
    InvalidRequest,
    NoMatchingVersion,
    OwnershipConflict,
    ResourceDefinition,
    ResourceNotFound,
    Source,
    SourceKind,
    ValidationFailed,
    VersionNotFound,
)
from nestor_catalog_core.catalog import CatalogSettings, ListFilters
from nestor_catalog_core.events import StreamReset
from nestor_catalog_core.models import Event
from nestor_catalog_core.storage import open_store

GIT = Source(kind=SourceKind.GIT, repository="platform", path="x.yaml", commit="abc123", author_email="dev@example.com")
OTHER = Source(kind=SourceKind.GIT, repository="other", path="y.yaml", commit="def456", author_email="o@example.com")


def _base(name: str = "aws-rds-mysql", version: str = "1.0.0", **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "catalog.nestor.io/v1",
        "kind": "ResourceDefinition",
        "metadata": {
            "name": name,
            "version": version,
            "provider": meta.get("provider", "aws"),
            "category": meta.get("category", "database"),
            "resource_type": meta.get("resource_type", "mysql"),
            "description": meta.get("description", "AWS RDS MySQL database instance"),
            "maintainers": ["platform-team@company.com"],
        },
        "spec": {
            "supported_engines": ["terraform"],
            "required_inputs": [
                {
                    "name": "instance_class",
                    "type": "string",
                    "description": "DB instance class",
                    "validation": {"pattern": "^db\\.[a-z0-9]+\\.[a-z]+$"},
                }
            ],
            "optional_inputs": [],
            "outputs": [{"name": "endpoint", "type": "string", "description": "Endpoint"}],
            "engine_configs": {"terraform": {"module_source": "terraform-aws-modules/rds/aws"}},
        },
    }


def _definition(data: dict[str, Any]) -> ResourceDefinition:
    return ResourceDefinition.model_validate(data)


def _with_optional(data: dict[str, Any], version: str, input_name: str) -> dict[str, Any]:
    out = copy.deepcopy(data)
    out["metadata"]["version"] = version
    out["spec"]["optional_inputs"].append(
        {"name": input_name, "type": "integer", "default": 7, "description": "An optional input"}
    )
    return out


@pytest.fixture(params=["memory", "sqlite"])
async def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Catalog]:
    uri = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/catalog.db"
    catalog = await Catalog.open(uri)
    try:
        yield catalog
    finally:
        await catalog.close()


async def test_publish_then_read_every_way(catalog: Catalog) -> None:
    v1 = _base()
    result = await catalog.publish(_definition(v1), source=GIT)
    assert result.outcome == "created"
    assert result.event is not None
    assert result.event.type is EventType.RESOURCE_CREATED
    await catalog.publish(_definition(_with_optional(v1, "1.1.0", "backup_retention_period")), source=GIT)

    assert catalog.get("aws-rds-mysql", "1.0.0").version == "1.0.0"
    assert catalog.latest("aws-rds-mysql").version == "1.1.0"
    assert catalog.resolve("aws-rds-mysql", "~1.0").version == "1.0.0"
    assert catalog.resolve("aws-rds-mysql", "^1").version == "1.1.0"
    assert [e.version for e in catalog.versions("aws-rds-mysql")] == ["1.1.0", "1.0.0"]
    page = catalog.list_latest(ListFilters(provider="aws", category="database"))
    assert [e.version for e in page.items] == ["1.1.0"]
    assert page.total == 1
    assert catalog.search("mysql").items[0].name == "aws-rds-mysql"
    body = catalog.entry("aws-rds-mysql", "1.0.0").body()
    assert b'"status":{' in body
    assert catalog.revision == 2


async def test_not_found_errors(catalog: Catalog) -> None:
    with pytest.raises(ResourceNotFound):
        catalog.latest("nope")
    await catalog.publish(_definition(_base()), source=GIT)
    with pytest.raises(VersionNotFound):
        catalog.get("aws-rds-mysql", "9.9.9")
    with pytest.raises(NoMatchingVersion, match="matches"):
        catalog.resolve("aws-rds-mysql", "^2")


async def test_same_content_is_a_noop_other_content_is_refused_and_recorded(catalog: Catalog) -> None:
    data = _base()
    await catalog.publish(_definition(data), source=GIT)
    again = await catalog.publish(_definition(data), source=GIT)
    assert again.outcome == "unchanged"
    changed = copy.deepcopy(data)
    changed["metadata"]["description"] = "changed in place"
    with pytest.raises(ImmutableVersionError, match="immutable"):
        await catalog.publish(_definition(changed), source=GIT)
    assert catalog.get("aws-rds-mysql", "1.0.0").definition.metadata.description == "AWS RDS MySQL database instance"
    page = await catalog.audit(AuditQuery(resource="aws-rds-mysql"))
    assert [r.outcome for r in page.records] == ["rejected", "accepted"]
    events = await catalog.store.read_events(0, 10)
    assert events[-1].type is EventType.VALIDATION_FAILED
    assert events[-1].data["code"] == "IMMUTABLE_VERSION"


async def test_breaking_change_as_minor_is_refused_with_every_change(catalog: Catalog) -> None:
    v1 = _base()
    await catalog.publish(_definition(v1), source=GIT)
    broken = copy.deepcopy(v1)
    broken["metadata"]["version"] = "1.1.0"
    broken["spec"]["required_inputs"] = []
    broken["spec"]["outputs"] = []
    with pytest.raises(IncompatibleChange) as info:
        await catalog.publish(_definition(broken), source=GIT)
    rules = {c["rule"] for c in info.value.details["changes"]}
    assert {"INPUT_REMOVED", "OUTPUT_REMOVED"} <= rules
    assert info.value.details["required"] == "major"
    assert info.value.details["previous_version"] == "1.0.0"
    assert {f.rule for f in info.value.findings if f.is_error} >= {"INPUT_REMOVED", "OUTPUT_REMOVED", "BUMP_TOO_SMALL"}
    assert not catalog.has("aws-rds-mysql", "1.1.0")
    broken["metadata"]["version"] = "2.0.0"
    assert (await catalog.publish(_definition(broken), source=GIT)).outcome == "created"


async def test_compatibility_warn_mode_publishes_with_warnings(tmp_path: Path) -> None:
    catalog = await Catalog.open("memory://", CatalogSettings(compatibility="warn"))
    try:
        v1 = _base()
        await catalog.publish(_definition(v1), source=GIT)
        broken = copy.deepcopy(v1)
        broken["metadata"]["version"] = "1.0.1"
        broken["spec"]["outputs"] = []
        result = await catalog.publish(_definition(broken), source=GIT)
        assert result.outcome == "created"
        assert any(w.rule == "OUTPUT_REMOVED" for w in result.warnings)
    finally:
        await catalog.close()


async def test_ownership_belongs_to_first_source(catalog: Catalog) -> None:
    v1 = _base()
    await catalog.publish(_definition(v1), source=GIT)
    with pytest.raises(OwnershipConflict):
        await catalog.publish(_definition(_with_optional(v1, "1.1.0", "x_y")), source=OTHER)
    with pytest.raises(OwnershipConflict):
        await catalog.publish(_definition(v1), source=OTHER)


async def test_lifecycle_withdraw_restore(catalog: Catalog) -> None:
    v1 = _base()
    v11 = _with_optional(v1, "1.1.0", "backup_retention_period")
    await catalog.publish(_definition(v1), source=GIT)
    await catalog.publish(_definition(v11), source=GIT)
    digest = catalog.get("aws-rds-mysql", "1.1.0").digest

    deprecated = await catalog.deprecate(
        "aws-rds-mysql", "1.1.0", Deprecation(message="use 2.x", replacement="aws-rds-mysql@^2"), source=GIT
    )
    assert deprecated.deprecated
    assert deprecated.digest == digest
    assert catalog.resolve("aws-rds-mysql", "^1.1").deprecated

    withdrawn = await catalog.withdraw("aws-rds-mysql", "1.1.0", source=GIT)
    assert withdrawn.withdrawn
    assert catalog.latest("aws-rds-mysql").version == "1.0.0"
    assert catalog.resolve("aws-rds-mysql", "^1").version == "1.0.0"
    assert catalog.get("aws-rds-mysql", "1.1.0").withdrawn  # still fetchable exactly

    data = copy.deepcopy(v11)
    data["metadata"]["deprecation"] = {"message": "use 2.x", "replacement": "aws-rds-mysql@^2"}
    restored = await catalog.publish(_definition(data), source=GIT)
    assert restored.outcome == "restored"
    assert catalog.latest("aws-rds-mysql").version == "1.1.0"

    undeprecated = await catalog.publish(_definition(v11), source=GIT)
    assert undeprecated.outcome == "lifecycle"
    assert not catalog.get("aws-rds-mysql", "1.1.0").deprecated

    types = [e.type for e in await catalog.store.read_events(0, 100)]
    assert types == [
        EventType.RESOURCE_CREATED,
        EventType.RESOURCE_UPDATED,
        EventType.RESOURCE_DEPRECATED,
        EventType.RESOURCE_DELETED,
        EventType.RESOURCE_UPDATED,
        EventType.RESOURCE_DEPRECATED,
    ]


async def test_publish_bytes_reports_all_findings_and_publishes_nothing(catalog: Catalog) -> None:
    good = yaml.safe_dump(_base())
    bad = copy.deepcopy(_base(name="other-thing"))
    bad["spec"]["required_inputs"][0]["name"] = "InstanceClass"
    text = (good + "---\n" + yaml.safe_dump(bad)).encode()
    with pytest.raises(ValidationFailed) as info:
        await catalog.publish_bytes(text, file="payload.yaml", source=GIT)
    assert any(f.rule == "INPUT_NAME_SNAKE_CASE" and f.line for f in info.value.findings)
    assert catalog.names() == []
    results = await catalog.publish_bytes(good.encode(), file="payload.yaml", source=GIT)
    assert [r.outcome for r in results] == ["created"]
    with pytest.raises(InvalidRequest, match="no ResourceDefinition"):
        await catalog.publish_bytes(b"apiVersion: v1\nkind: ConfigMap\n", file="cm.yaml", source=GIT)


async def test_list_filters_pagination_facets(catalog: Catalog) -> None:
    for i in range(7):
        provider = "aws" if i % 2 == 0 else "gcp"
        data = _base(name=f"res-{i}", provider=provider, category="cache" if i < 3 else "database")
        await catalog.publish(_definition(data), source=GIT)
    page = catalog.list_latest(limit=3)
    names = [e.name for e in page.items]
    while page.next_cursor:
        page = catalog.list_latest(limit=3, cursor=page.next_cursor)
        names.extend(e.name for e in page.items)
    assert names == [f"res-{i}" for i in range(7)]
    aws_db = catalog.list_latest(ListFilters(provider="aws", category="database"), facets=True)
    assert [e.name for e in aws_db.items] == ["res-4", "res-6"]
    assert aws_db.facets is not None
    assert aws_db.facets["provider"] == {"aws": 2}
    assert catalog.facets()["category"] == {"database": 4, "cache": 3}
    with pytest.raises(InvalidRequest, match="cursor"):
        catalog.list_latest(ListFilters(provider="gcp"), cursor=catalog.list_latest(limit=1).next_cursor)
    with pytest.raises(InvalidRequest, match="limit"):
        catalog.list_latest(limit=0)


async def test_restart_rebuilds_the_same_read_model(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/c.db"
    first = await Catalog.open(uri)
    v1 = _base()
    await first.publish(_definition(v1), source=GIT)
    await first.publish(_definition(_with_optional(v1, "1.1.0", "a_b")), source=GIT)
    await first.withdraw("aws-rds-mysql", "1.1.0", source=GIT)
    before = (first.stats(), first.entry("aws-rds-mysql", "1.1.0").body())
    await first.close()

    second = await Catalog.open(uri)
    try:
        assert (second.stats(), second.entry("aws-rds-mysql", "1.1.0").body()) == before
        assert second.latest("aws-rds-mysql").version == "1.0.0"
    finally:
        await second.close()


async def test_a_publish_event_reads_back_from_the_store_as_the_bytes_it_was_served_as(catalog: Catalog) -> None:
    """The publish event's JSON is built once (the document's canonical JSON with its status
    appended, what the live stream sends); the store writes those bytes, so a replay from the
    log encodes to the same bytes, key order included."""
    result = await catalog.publish(_definition(_base()), source=GIT)
    assert result.event is not None
    [stored] = await catalog.read_events(0, 10)
    assert stored.data == result.event.data
    replayed = json.dumps(stored.data, separators=(",", ":"), ensure_ascii=False).encode()
    document = catalog.entry("aws-rds-mysql", "1.0.0").stored.document
    status = json.dumps(result.event.data["status"], separators=(",", ":"), ensure_ascii=False).encode()
    assert replayed == document[:-1] + b',"status":' + status + b"}"


async def test_two_catalogs_on_one_store_converge(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/c.db"
    writer = await Catalog.open(uri)
    reader = await Catalog.open(uri)
    try:
        await writer.publish(_definition(_base()), source=GIT)
        assert not reader.has("aws-rds-mysql")
        assert await reader.catch_up() == 1
        assert reader.get("aws-rds-mysql", "1.0.0").digest == writer.get("aws-rds-mysql", "1.0.0").digest
    finally:
        await writer.close()
        await reader.close()


async def test_subscribe_replays_then_streams_live_with_filters(catalog: Catalog) -> None:
    await catalog.publish(_definition(_base(name="a-1")), source=GIT)
    await catalog.publish(_definition(_base(name="g-1", provider="gcp")), source=GIT)
    seen: list[Event] = []
    replayed = asyncio.Event()

    async def consume() -> None:
        async for item in catalog.subscribe(since=0, provider="aws"):
            assert not isinstance(item, StreamReset)
            seen.append(item)
            replayed.set()
            if len(seen) == 2:
                return

    task = asyncio.create_task(consume())
    await asyncio.wait_for(replayed.wait(), 5)  # a-1 came from the log: what follows is live
    await catalog.publish(_definition(_base(name="a-2")), source=GIT)
    await asyncio.wait_for(task, 5)
    assert [(e.name, e.type) for e in seen] == [
        ("a-1", EventType.RESOURCE_CREATED),
        ("a-2", EventType.RESOURCE_CREATED),
    ]
    assert seen[0].data["metadata"]["name"] == "a-1"


async def test_subscribe_after_retention_yields_reset(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/c.db")
    catalog = Catalog(store)
    await catalog.start()
    try:
        for i in range(5):
            await catalog.publish(_definition(_base(name=f"n-{i}")), source=GIT)
        await store.trim_events(keep_last=2)
        stream = catalog.subscribe(since=1)
        first = await asyncio.wait_for(anext(stream), 5)
        assert isinstance(first, StreamReset)
        assert first.sequence == 5
    finally:
        await catalog.close()


async def test_read_only_catalog_refuses_writes() -> None:
    from nestor_catalog_core import ReadOnly

    catalog = await Catalog.open("memory://", CatalogSettings(read_only=True))
    try:
        with pytest.raises(ReadOnly):
            await catalog.publish(_definition(_base()), source=GIT)
    finally:
        await catalog.close()


def _document(data: dict[str, Any], file: str) -> Any:
    from nestor_catalog_core import load_bytes

    [document] = load_bytes(yaml.safe_dump(data, sort_keys=False).encode(), file).documents
    return document


async def test_publish_documents_batches_and_keeps_each_outcome_in_place(catalog: Catalog) -> None:
    v1 = _base()
    await catalog.publish(_definition(_base(name="owned-elsewhere")), source=OTHER)
    changed = copy.deepcopy(v1)
    changed["metadata"]["description"] = "edited in place"
    broken = copy.deepcopy(_with_optional(v1, "1.1.0", "backup_retention_period"))
    broken["metadata"]["version"] = "1.2.0"
    broken["spec"]["outputs"] = []  # a breaking change released as a minor
    bad_name = _base(name="Bad_Name")
    items = [
        (_document(v1, "a.yaml"), GIT),
        (_document(_with_optional(v1, "1.1.0", "backup_retention_period"), "b.yaml"), GIT),
        (_document(broken, "c.yaml"), GIT),
        (_document(changed, "d.yaml"), GIT),
        (_document(bad_name, "e.yaml"), GIT),
        (_document(_base(name="owned-elsewhere", version="1.0.1"), "f.yaml"), GIT),
        *[(_document(_base(name=f"bulk-{i}"), f"bulk-{i}.yaml"), GIT) for i in range(5)],
        (_document(v1, "a-again.yaml"), GIT),
    ]

    results = await catalog.publish_documents(items, batch_size=2)

    kinds = [r.outcome if not isinstance(r, Exception) else type(r).__name__ for r in results]
    assert kinds == [
        "created",
        "created",
        "IncompatibleChange",
        "ImmutableVersionError",
        "ValidationFailed",
        "OwnershipConflict",
        *["created"] * 5,
        "unchanged",
    ]
    assert catalog.latest("aws-rds-mysql").version == "1.1.0"
    assert catalog.get("aws-rds-mysql", "1.0.0").definition.metadata.description != "edited in place"
    events = await catalog.store.read_events(0, 100)
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    rejected = [e for e in events if e.type is EventType.VALIDATION_FAILED]
    assert {e.data["code"] for e in rejected} == {
        "INCOMPATIBLE_CHANGE",
        "IMMUTABLE_VERSION",
        "VALIDATION_FAILED",
        "OWNERSHIP_CONFLICT",
    }
    assert catalog.revision == events[-1].sequence
    audit = await catalog.audit(AuditQuery(resource="aws-rds-mysql", limit=50))
    assert sorted(r.outcome for r in audit.records) == ["accepted", "accepted", "rejected", "rejected"]


async def test_snapshot_is_every_version_at_one_revision(catalog: Catalog) -> None:
    assert catalog.snapshot() == (0, [])
    v1 = _base()
    await catalog.publish(_definition(_with_optional(v1, "1.1.0", "a_b")), source=GIT)
    await catalog.publish(_definition(v1), source=GIT)
    await catalog.publish(_definition(_base(name="another")), source=GIT)
    await catalog.withdraw("aws-rds-mysql", "1.0.0", source=GIT)
    revision, entries = catalog.snapshot()
    assert revision == catalog.revision == 4
    assert [(e.name, e.version, e.withdrawn) for e in entries] == [
        ("another", "1.0.0", False),
        ("aws-rds-mysql", "1.0.0", True),
        ("aws-rds-mysql", "1.1.0", False),
    ]
