"""Scale-out: several replicas serving one catalog.

Redis fan-out of events with polling of the durable log behind it (``RedisEventBus``), a
read-through cache for what the read model does not hold (``ReadThroughCache``), leadership
of git sync through the storage lease (``LeaderElector``, ``ClusterSync``) with webhooks
forwarded to the leader (received by ``api.internal``), and ``ScaleOut``, which the app's lifespan opens to run them.
Needs the ``redis`` extra when ``cache.type`` is redis.
"""

from nestor_catalog_server.scaleout._redis_link import RedisLink
from nestor_catalog_server.scaleout.cache import ReadThroughCache
from nestor_catalog_server.scaleout.cluster_sync import ClusterSync, Trigger, TriggerForwarder
from nestor_catalog_server.scaleout.leadership import LeaderElector, LeaderInfo, default_replica_id
from nestor_catalog_server.scaleout.redis_bus import RedisEventBus
from nestor_catalog_server.scaleout.scale_out import LEADER_COMPONENT, REDIS_COMPONENT, ScaleOut, advertise_url

__all__ = [
    "LEADER_COMPONENT",
    "REDIS_COMPONENT",
    "ClusterSync",
    "LeaderElector",
    "LeaderInfo",
    "ReadThroughCache",
    "RedisEventBus",
    "RedisLink",
    "ScaleOut",
    "Trigger",
    "TriggerForwarder",
    "advertise_url",
    "default_replica_id",
]
