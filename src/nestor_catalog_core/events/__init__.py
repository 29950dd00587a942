"""Events: filters and the in-process hub that fans the durable event log out."""

from nestor_catalog_core.events.filters import EventFilter
from nestor_catalog_core.events.hub import EventHub, StreamReset

__all__ = ["EventFilter", "EventHub", "StreamReset"]
