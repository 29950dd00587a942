"""What only the memory adapter has: labels instead of shared names, thread safety, and an
injectable clock."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

from nestor_catalog_core.storage import MemoryStore, open_store
from tests.core.storage.builders import publish_args


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2024, 1, 15, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_two_stores_with_one_name_do_not_share_data() -> None:
    first, second = open_store("memory://shared"), open_store("memory://shared")
    async with first, second:
        await first.publish(*publish_args().as_tuple())
        assert await second.get_version("aws-rds-mysql", "1.2.0") is None
        assert await second.last_sequence() == 0


async def test_lease_expiry_follows_the_clock() -> None:
    clock = FakeClock()
    async with MemoryStore(clock=clock) as store:
        lease = await store.acquire_lease("git-sync", "replica-a", timedelta(seconds=15))
        assert lease is not None
        assert lease.expires_at == clock.now + timedelta(seconds=15)
        clock.now += timedelta(seconds=14, microseconds=999_999)
        assert await store.acquire_lease("git-sync", "replica-b", timedelta(seconds=15)) is None
        clock.now += timedelta(microseconds=1)
        assert await store.get_lease("git-sync") is None
        taken = await store.acquire_lease("git-sync", "replica-b", timedelta(seconds=15))
        assert taken is not None
        assert taken.token == lease.token + 1


def test_publishes_from_several_threads_and_loops_stay_gap_free() -> None:
    store = MemoryStore()
    errors: list[BaseException] = []

    async def publish_many(prefix: str) -> None:
        await asyncio.gather(*(store.publish(*publish_args(f"{prefix}-{i}", "1.0.0").as_tuple()) for i in range(25)))

    def worker(prefix: str) -> None:
        try:
            asyncio.run(publish_many(prefix))
        except BaseException as exc:
            errors.append(exc)

    asyncio.run(store.open())
    threads = [threading.Thread(target=worker, args=(f"thread{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    events = asyncio.run(store.read_events(0, limit=1000))
    assert [e.sequence for e in events] == list(range(1, 101))
    assert len({(e.name, e.version) for e in events}) == 100
