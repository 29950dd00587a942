"""``LeaderElector`` on real stores: one leader, takeover after expiry, deposition before the
lease could pass to someone else, release on stop."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any, cast

import pytest

from nestor_catalog_core import ComponentStore, MemoryStore, StorageUnavailable
from nestor_catalog_core.models import Lease, utcnow
from nestor_catalog_server.scaleout import LeaderElector, LeaderInfo, default_replica_id
from nestor_catalog_server.scaleout.leadership import holder_string, parse_holder
from tests.server.scaleout.conftest import wait_until

LEASE = "git-sync"


class Terms:
    """Records elections and depositions, and whether two replicas ever led at once."""

    def __init__(self) -> None:
        self.leading: set[str] = set()
        self.log: list[tuple[str, str]] = []
        self.overlap = False

    def callbacks(self, replica: str) -> dict[str, Any]:
        async def elected() -> None:
            self.overlap = self.overlap or bool(self.leading)
            self.leading.add(replica)
            self.log.append(("elected", replica))

        async def deposed() -> None:
            self.leading.discard(replica)
            self.log.append(("deposed", replica))

        return {"on_elected": elected, "on_deposed": deposed}


def elector(store: Any, replica: str, terms: Terms, ttl: float = 15.0) -> LeaderElector:
    return LeaderElector(
        cast(ComponentStore, store),
        name=LEASE,
        replica_id=replica,
        url=f"http://{replica}:8080",
        ttl=timedelta(seconds=ttl),
        **terms.callbacks(replica),
    )


@pytest.fixture
async def store() -> AsyncIterator[MemoryStore]:
    store = MemoryStore()
    await store.open()
    yield store
    await store.close()


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class CutOff:
    """A replica's view of a shared store's leases that can be cut off (a partition)."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store
        self.cut = False
        self.hang = False

    async def _check(self) -> None:
        if self.hang:
            await asyncio.Event().wait()
        if self.cut:
            raise StorageUnavailable("partitioned")

    async def acquire_lease(self, name: str, holder: str, ttl: timedelta) -> Lease | None:
        await self._check()
        return await self.store.acquire_lease(name, holder, ttl)

    async def renew_lease(self, name: str, holder: str, ttl: timedelta) -> Lease | None:
        await self._check()
        return await self.store.renew_lease(name, holder, ttl)

    async def release_lease(self, name: str, holder: str) -> None:
        await self._check()
        await self.store.release_lease(name, holder)

    async def get_lease(self, name: str) -> Lease | None:
        await self._check()
        return await self.store.get_lease(name)


async def test_a_lone_replica_leads_at_start_and_releases_on_stop(store: MemoryStore) -> None:
    terms = Terms()
    alone = elector(store, "alone", terms)
    await alone.start()
    assert alone.is_leader
    assert terms.log == [("elected", "alone")]
    info = alone.info
    assert (info.replica_id, info.url, info.me, info.token) == ("alone", "http://alone:8080", True, 1)
    assert info.since is not None
    await alone.stop()
    assert not alone.is_leader
    assert terms.log == [("elected", "alone"), ("deposed", "alone")]
    assert await store.get_lease(LEASE) is None
    assert alone.info == LeaderInfo()


async def test_one_leader_and_a_takeover_once_the_lease_expires() -> None:
    clock = Clock()
    store = MemoryStore(clock=clock)
    await store.open()
    terms = Terms()
    first, second = elector(store, "first", terms), elector(store, "second", terms)
    await first.step()
    await second.step()
    assert (first.is_leader, second.is_leader) == (True, False)
    assert second.info.replica_id == "first"
    assert second.info.url == "http://first:8080"
    assert second.info.me is False

    clock.advance(10)
    await first.step()
    await second.step()
    assert (first.is_leader, second.is_leader) == (True, False), "renewed before expiry: still the leader"

    clock.advance(16)
    await second.step()
    assert second.is_leader
    assert second.info.token == 2, "the fencing token grows with the new term"
    await first.step()
    assert not first.is_leader, "the old leader's renewal is refused: it steps down"
    assert terms.log == [("elected", "first"), ("elected", "second"), ("deposed", "first")]
    assert first.info == LeaderInfo()
    await store.close()


async def test_failing_renewals_depose_before_the_lease_could_pass_on(store: MemoryStore) -> None:
    terms = Terms()
    view = CutOff(store)
    leader = elector(view, "leader", terms, ttl=0.3)
    await leader.step()
    assert leader.is_leader
    view.cut = True
    await leader.step()
    assert leader.is_leader, "a failed renewal is retried while the lease is certainly still ours"
    await asyncio.sleep(0.3)
    await leader.step()
    assert not leader.is_leader
    assert terms.log == [("elected", "leader"), ("deposed", "leader")]


async def test_a_renewal_that_hangs_deposes(store: MemoryStore) -> None:
    terms = Terms()
    view = CutOff(store)
    leader = elector(view, "leader", terms, ttl=0.3)
    await leader.step()
    view.hang = True
    await leader.step()
    assert not leader.is_leader
    assert terms.log[-1] == ("deposed", "leader")


async def test_a_partitioned_leader_is_replaced_and_two_never_lead_at_once(store: MemoryStore) -> None:
    terms = Terms()
    view = CutOff(store)
    first, second = elector(view, "first", terms, ttl=0.5), elector(store, "second", terms, ttl=0.5)
    await first.start()
    await second.start()
    assert first.is_leader
    assert not second.is_leader
    view.cut = True
    await wait_until(lambda: second.is_leader, what="the takeover")
    assert not first.is_leader
    assert not terms.overlap
    assert terms.log == [("elected", "first"), ("deposed", "first"), ("elected", "second")]
    await first.stop()
    await second.stop()
    assert await store.get_lease(LEASE) is None


async def test_a_leader_whose_work_cannot_start_gives_the_lease_up(store: MemoryStore) -> None:
    calls: list[str] = []

    async def broken() -> None:
        calls.append("elected")
        raise RuntimeError("cannot start")

    async def deposed() -> None:
        calls.append("deposed")

    replica = LeaderElector(
        store,
        name=LEASE,
        replica_id="broken",
        url="http://broken:8080",
        ttl=timedelta(seconds=15),
        on_elected=broken,
        on_deposed=deposed,
    )
    await replica.step()
    assert not replica.is_leader
    assert calls == ["elected", "deposed"]
    assert await store.get_lease(LEASE) is None


def test_holder_strings_and_replica_ids() -> None:
    holder = holder_string("web-1", "http://10.0.0.5:8080")
    assert parse_holder(holder) == ("web-1", "http://10.0.0.5:8080")
    assert parse_holder("cli-writer") == ("cli-writer", None)
    assert re.fullmatch(r"[A-Za-z0-9._-]+-\d+-[0-9a-f]{6}", default_replica_id())
    assert default_replica_id() != default_replica_id()
    info = LeaderInfo(holder=holder, token=3, expires_at=utcnow(), since=utcnow(), me=False)
    body = info.to_dict()
    assert body["holder"] == "web-1"
    assert body["url"] == "http://10.0.0.5:8080"
    assert body["token"] == 3
    assert body["me"] is False
    assert body["since"].endswith("Z")
    assert LeaderInfo().to_dict()["holder"] is None
