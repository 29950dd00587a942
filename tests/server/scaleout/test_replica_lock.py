"""Reclaiming a crashed predecessor's lease: ``ReplicaLock`` proves the previous process on a data
directory is gone (its ``flock`` died with it), and ``LeaderElector(predecessor=...)`` releases
the lease that process still holds instead of waiting out the TTL. A child process killed with
SIGKILL stands in for the crash."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import cast

from nestor_catalog_core import ComponentStore, MemoryStore
from nestor_catalog_server.scaleout import LeaderElector
from nestor_catalog_server.scaleout._identity import ReplicaLock
from tests.server.scaleout.test_leadership import LEASE, Terms

_HOLD_LOCK = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from nestor_catalog_server.scaleout._identity import ReplicaLock
    lock = ReplicaLock.claim(Path(sys.argv[1]), "crashed-replica")
    print("held" if lock.held else "refused", flush=True)
    time.sleep(60)
    """
)


def test_the_lock_names_a_predecessor_only_once_it_is_gone(tmp_path: Path) -> None:
    path = tmp_path / "data" / "replica.lock"
    child = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(path)], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == b"held"
        alive = ReplicaLock.claim(path, "second")
        assert (alive.held, alive.predecessor) == (False, None), "a living holder is nobody's predecessor"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    after = ReplicaLock.claim(path, "restarted")
    assert (after.held, after.predecessor) == (True, "crashed-replica")
    after.close()
    again = ReplicaLock.claim(path, "third")
    assert again.predecessor == "restarted"
    again.close()


async def test_a_restarted_replica_reclaims_its_dead_predecessors_lease() -> None:
    store = MemoryStore()
    await store.open()
    assert await store.acquire_lease(LEASE, "crashed-replica http://old:8080", timedelta(minutes=5))
    terms = Terms()

    def replica(predecessor: str | None) -> LeaderElector:
        return LeaderElector(
            cast(ComponentStore, store),
            name=LEASE,
            replica_id="restarted",
            url="http://new:8080",
            ttl=timedelta(minutes=5),
            predecessor=predecessor,
            **terms.callbacks("restarted"),
        )

    stranger = replica("someone-else")
    await stranger.start()
    assert not stranger.is_leader, "another replica's lease is waited out"
    await stranger.stop()

    restarted = replica("crashed-replica")
    await restarted.start()
    assert restarted.is_leader
    lease = await store.get_lease(LEASE)
    assert lease is not None
    assert (lease.holder, lease.token) == ("restarted http://new:8080", 2)
    await restarted.stop()
    await store.close()
