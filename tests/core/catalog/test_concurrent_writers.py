"""Two catalogs writing to one store (two replicas, or a server and a ``sync --once``).

A publish is prepared against the catalog's read model and written on the condition that the
store's log has not moved past it (``publish(..., expected_sequence=)``). These tests put a
second writer between one catalog's checks and its write, through a store whose ``publish``
lets a given coroutine run first (a real store; the hook only chooses the interleaving).
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from nestor_catalog_core import (
    Catalog,
    EventType,
    IncompatibleChange,
    OwnershipConflict,
    Source,
    ValidationFailed,
)
from nestor_catalog_core.catalog import CatalogSettings
from nestor_catalog_core.models import AuditRecord, Event, StoredVersion
from nestor_catalog_core.storage import ComponentStore, PublishOutcome
from nestor_catalog_core.storage.memory import MemoryStore
from nestor_catalog_core.storage.sqlite import SQLiteStore
from tests.core.catalog.test_catalog import GIT, _base, _definition, _with_optional


class _CutIn:
    """Runs ``cut_in`` (once) at the start of the next ``publish``, and counts log reads."""

    cut_in: Callable[[], Awaitable[Any]] | None = None
    log_reads = 0

    async def publish(
        self, version: StoredVersion, event: Event, audit: AuditRecord, *, expected_sequence: int | None = None
    ) -> PublishOutcome:
        cut_in, self.cut_in = self.cut_in, None
        if cut_in is not None:
            await cut_in()
        return await super().publish(version, event, audit, expected_sequence=expected_sequence)  # type: ignore[misc]

    async def read_events(self, after: int, limit: int = 1000) -> list[Event]:
        self.log_reads += 1
        return await super().read_events(after, limit)  # type: ignore[misc]


class _CutInMemory(_CutIn, MemoryStore):
    pass


class _CutInSQLite(_CutIn, SQLiteStore):
    pass


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[_CutIn]:
    opened: ComponentStore = _CutInMemory("shared") if request.param == "memory" else _CutInSQLite(tmp_path / "c.db")
    await opened.open()
    try:
        assert isinstance(opened, _CutIn)
        yield opened
    finally:
        await opened.close()


async def _catalog(store: _CutIn, settings: CatalogSettings | None = None) -> Catalog:
    assert isinstance(store, ComponentStore)
    catalog = Catalog(store, settings, owns_store=False)
    await catalog.start()
    return catalog


async def test_a_writer_between_the_checks_and_the_write_cannot_slip_a_breaking_change_past(store: _CutIn) -> None:
    first, second = await _catalog(store), await _catalog(store)
    v1 = _base()
    await first.publish(_definition(v1), source=GIT)
    await second.catch_up()
    # ``second`` checks 1.2.0 against 1.0.0 (the same inputs: fine); before it writes,
    # ``first`` publishes 1.1.0 with an optional input that 1.2.0 would then remove.
    store.cut_in = lambda: first.publish(_definition(_with_optional(v1, "1.1.0", "port")), source=GIT)
    same_as_v1 = copy.deepcopy(v1)
    same_as_v1["metadata"]["version"] = "1.2.0"

    with pytest.raises(IncompatibleChange) as info:
        await second.publish(_definition(same_as_v1), source=GIT)

    assert info.value.details["previous_version"] == "1.1.0"
    assert {c["rule"] for c in info.value.details["changes"]} >= {"INPUT_REMOVED"}
    assert not second.has("aws-rds-mysql", "1.2.0")
    assert await store.get_version("aws-rds-mysql", "1.2.0") is None  # type: ignore[attr-defined]
    assert [v.version for v in second.versions("aws-rds-mysql")] == ["1.1.0", "1.0.0"]


async def test_a_compatible_publish_overtaken_by_another_writer_is_written_after_it(store: _CutIn) -> None:
    first, second = await _catalog(store), await _catalog(store)
    await first.publish(_definition(_base()), source=GIT)
    store.cut_in = lambda: first.publish(_definition(_base("aws-s3-bucket", category="storage")), source=GIT)

    result = await second.publish(_definition(_base("gcp-sql-postgres", provider="gcp")), source=GIT)

    assert result.outcome == "created"
    assert result.event is not None
    assert result.event.sequence == 3
    assert second.revision == 3
    assert {e.name for e in second.list_latest().items} == {"aws-rds-mysql", "aws-s3-bucket", "gcp-sql-postgres"}


async def test_publishing_reads_the_log_only_when_another_writer_moved_it(store: _CutIn) -> None:
    catalog = await _catalog(store)
    other = await _catalog(store)
    reads = store.log_reads
    v1 = _base()
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        data = copy.deepcopy(v1)
        data["metadata"]["version"] = version
        await catalog.publish(_definition(data), source=GIT)
    assert store.log_reads == reads  # each publish: one conditional write, no read of the log

    await other.publish(_definition(_base("aws-s3-bucket", category="storage")), source=GIT)
    reads = store.log_reads
    data = copy.deepcopy(v1)
    data["metadata"]["version"] = "1.3.0"
    await catalog.publish(_definition(data), source=GIT)
    assert store.log_reads > reads  # the refused conditional write made it catch up
    assert catalog.revision == 5


async def test_a_refusal_is_judged_on_a_current_read_model_and_recorded_once(store: _CutIn) -> None:
    first, second = await _catalog(store), await _catalog(store)
    await first.publish(_definition(_base()), source=GIT)
    bad = _base("aws-rds-postgres")
    bad["spec"]["required_inputs"][0]["validation"]["pattern"] = "(a)\\1"  # RE2 cannot compile it

    with pytest.raises(ValidationFailed):
        await second.publish(_definition(bad), source=GIT)

    events = await store.read_events(0, 100)  # type: ignore[attr-defined]
    assert [e.type for e in events] == [EventType.RESOURCE_CREATED, EventType.VALIDATION_FAILED]
    assert second.revision == 2


async def test_the_other_writers_source_still_owns_its_names(store: _CutIn) -> None:
    first, second = await _catalog(store), await _catalog(store)
    await first.publish(_definition(_base()), source=GIT)
    other = Source(kind=GIT.kind, repository="other", path="y.yaml", commit="def", author_email="o@example.com")
    data = _base(version="1.1.0")

    with pytest.raises(OwnershipConflict, match="owned by"):
        await second.publish(_definition(data), source=other)

    assert second.revision == 2  # the refusal's event, after the other writer's version
