"""The deprecation lifecycle's end: from its sunset date a version leaves ``latest`` and
constraint resolution (exact reads still work, ``status.sunset`` says why), and the catalog
records the moment as a ``resource.sunset`` event, once, on every store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from nestor_catalog_core import AuditQuery, Catalog, Deprecation, EventType, NoMatchingVersion, ResourceDefinition
from nestor_catalog_core.models import utcnow
from tests.core.catalog.test_catalog import GIT, _base, _definition, _with_optional

YESTERDAY = (utcnow() - timedelta(days=1)).date()
NEXT_YEAR = (utcnow() + timedelta(days=365)).date()


def deprecated(version: str, sunset: object) -> ResourceDefinition:
    """``1.N.0``: the base definition with N optional inputs (each minor adds one), deprecated."""
    data = _base()
    for index in range(int(version.split(".")[1])):
        data = _with_optional(data, version, f"extra_{index}")
    data["metadata"]["deprecation"] = {"message": "use 2.x", "replacement": "aws-rds-mysql@^2", "sunset": str(sunset)}
    return _definition(data)


@pytest.fixture(params=["memory", "sqlite"])
async def catalog(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Catalog]:
    uri = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/catalog.db"
    catalog = await Catalog.open(uri)
    try:
        yield catalog
    finally:
        await catalog.close()


async def test_a_past_sunset_leaves_latest_and_constraints_but_stays_fetchable(catalog: Catalog) -> None:
    await catalog.publish(_definition(_base()), source=GIT)
    await catalog.publish(deprecated("1.1.0", YESTERDAY), source=GIT)
    assert catalog.latest("aws-rds-mysql").version == "1.0.0"
    assert catalog.resolve("aws-rds-mysql", "^1").version == "1.0.0"
    with pytest.raises(NoMatchingVersion):
        catalog.resolve("aws-rds-mysql", ">=1.1.0")
    exact = catalog.get("aws-rds-mysql", "1.1.0")
    assert (exact.deprecated, exact.sunset, exact.withdrawn) == (True, True, False)
    assert b'"sunset":true' in catalog.entry("aws-rds-mysql", "1.1.0").body()
    assert b'"sunset":false' in catalog.entry("aws-rds-mysql", "1.0.0").body()
    assert [e.version for e in catalog.versions("aws-rds-mysql")] == ["1.1.0", "1.0.0"]


async def test_a_name_whose_only_version_is_past_sunset_has_no_latest(catalog: Catalog) -> None:
    await catalog.publish(deprecated("1.1.0", YESTERDAY), source=GIT)
    with pytest.raises(NoMatchingVersion, match="past their sunset date"):
        catalog.latest("aws-rds-mysql")
    assert catalog.get("aws-rds-mysql", "1.1.0").sunset


async def test_moving_the_sunset_date_moves_the_version_in_and_out(catalog: Catalog) -> None:
    await catalog.publish(_definition(_base()), source=GIT)
    await catalog.publish(deprecated("1.1.0", NEXT_YEAR), source=GIT)
    assert catalog.latest("aws-rds-mysql").version == "1.1.0"
    assert not catalog.get("aws-rds-mysql", "1.1.0").sunset
    assert catalog.next_sunset() is not None
    assert catalog.next_sunset().date() == NEXT_YEAR  # type: ignore[union-attr]
    await catalog.deprecate("aws-rds-mysql", "1.1.0", Deprecation(message="now", sunset=YESTERDAY), source=GIT)
    assert catalog.latest("aws-rds-mysql").version == "1.0.0"
    assert catalog.next_sunset() is None
    await catalog.deprecate("aws-rds-mysql", "1.1.0", None, source=GIT)
    assert catalog.latest("aws-rds-mysql").version == "1.1.0"


async def test_the_moment_is_announced_once(catalog: Catalog) -> None:
    await catalog.publish(_definition(_base()), source=GIT)
    await catalog.publish(deprecated("1.1.0", YESTERDAY), source=GIT)
    await catalog.publish(deprecated("1.2.0", NEXT_YEAR), source=GIT)
    revision = catalog.revision
    [event] = await catalog.announce_sunsets()
    assert event.type is EventType.RESOURCE_SUNSET
    assert (event.name, event.version, event.sequence) == ("aws-rds-mysql", "1.1.0", revision + 1)
    assert event.data["status"]["sunset"] is True
    assert event.data["metadata"]["deprecation"]["sunset"] == YESTERDAY.isoformat()
    assert catalog.revision == revision + 1
    [audit] = (await catalog.audit(AuditQuery(action="resource.sunset"))).records
    assert (audit.resource, audit.version, audit.changes) == ("aws-rds-mysql", "1.1.0", ["status.sunset"])
    assert await catalog.announce_sunsets() == []
    # 1.2.0's moment comes later: announced then, and only then
    later = await catalog.announce_sunsets(now=utcnow() + timedelta(days=400))
    assert [e.version for e in later] == ["1.2.0"]
    events = await catalog.read_events(revision, 10)
    assert [e.type for e in events] == [EventType.RESOURCE_SUNSET, EventType.RESOURCE_SUNSET]


async def test_a_restart_and_another_writer_do_not_repeat_it(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/catalog.db"
    async with await Catalog.open(uri) as first:
        await first.publish(deprecated("1.1.0", YESTERDAY), source=GIT)
        assert len(await first.announce_sunsets()) == 1
    async with await Catalog.open(uri) as second, await Catalog.open(uri) as third:
        assert await second.announce_sunsets() == []
        assert await third.announce_sunsets() == []
        assert second.get("aws-rds-mysql", "1.1.0").sunset


async def test_a_sunset_moved_later_is_announced_again_when_it_comes(catalog: Catalog) -> None:
    await catalog.publish(deprecated("1.1.0", YESTERDAY), source=GIT)
    assert len(await catalog.announce_sunsets()) == 1
    await catalog.deprecate("aws-rds-mysql", "1.1.0", Deprecation(message="later", sunset=NEXT_YEAR), source=GIT)
    assert catalog.latest("aws-rds-mysql").version == "1.1.0"
    assert await catalog.announce_sunsets() == []
    assert len(await catalog.announce_sunsets(now=utcnow() + timedelta(days=400))) == 1


async def test_readers_following_the_log_see_the_event(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/catalog.db"
    async with await Catalog.open(uri) as writer, await Catalog.open(uri) as follower:
        await writer.publish(deprecated("1.1.0", YESTERDAY), source=GIT)
        await writer.announce_sunsets()
        await follower.catch_up()
        assert follower.revision == writer.revision
        [last] = await follower.read_events(follower.revision - 1, 1)
        assert last.type is EventType.RESOURCE_SUNSET
        assert follower.get("aws-rds-mysql", "1.1.0").sunset
