"""The scale-out package's curated public names."""

from __future__ import annotations

import nestor_catalog_server.scaleout as scaleout


def test_public_names() -> None:
    assert sorted(scaleout.__all__) == [
        "ClusterSync",
        "LEADER_COMPONENT",
        "LeaderElector",
        "LeaderInfo",
        "REDIS_COMPONENT",
        "ReadThroughCache",
        "RedisEventBus",
        "RedisLink",
        "ScaleOut",
        "Trigger",
        "TriggerForwarder",
        "advertise_url",
        "default_replica_id",
    ]
    for name in scaleout.__all__:
        assert getattr(scaleout, name) is not None
