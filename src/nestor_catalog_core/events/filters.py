"""Event filters: which events a subscriber wants.

The SSE syntax is ``filter=provider:aws`` (repeatable, all must match); the same keys work
as keyword arguments in-process and in the client: ``provider``, ``category``, ``name``,
``resource_type`` (alias ``type`` in the SSE syntax, meaning the resource type) and
``types`` (event types such as ``resource.created``; SSE key ``event``).

It is not a ``ListFilters``, on purpose: an event filter may only name what an ``Event``
carries (name, event type, and the resource's provider, category and resource type), so the
list filters events lack (engine, maintainer, deprecated) are no keys of it, and its wire form
is the SSE ``filter=key:value`` syntax, not list query parameters.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from nestor_catalog_core._exceptions import InvalidRequest
from nestor_catalog_core.models import Event, EventType

__all__ = ["EventFilter"]

_KEYS = {"provider", "category", "name", "resource_type", "type", "event"}


@dataclass(frozen=True, slots=True)
class EventFilter:
    """All given criteria must match. A criterion on a resource attribute excludes events
    that have no such attribute (sync events carry no provider)."""

    provider: str | None = None
    category: str | None = None
    name: str | None = None
    resource_type: str | None = None
    types: frozenset[EventType] | None = None

    @classmethod
    def parse(cls, expressions: Iterable[str]) -> EventFilter:
        """Build from ``key:value`` strings; ``event:`` may list types separated by commas."""
        fields: dict[str, str] = {}
        types: set[EventType] = set()
        for expression in expressions:
            key, sep, value = expression.partition(":")
            key = key.strip().lower()
            value = value.strip()
            if not sep or not value or key not in _KEYS:
                raise InvalidRequest(
                    f"invalid event filter {expression!r}: expected KEY:VALUE with KEY one of "
                    "provider, category, name, type (resource type), event",
                    details={"filter": expression},
                )
            if key == "event":
                for item in value.split(","):
                    try:
                        types.add(EventType(item.strip()))
                    except ValueError:
                        known = ", ".join(t.value for t in EventType)
                        raise InvalidRequest(
                            f"unknown event type {item.strip()!r} in filter; known types: {known}",
                            details={"filter": expression},
                        ) from None
                continue
            key = "resource_type" if key == "type" else key
            if key in fields and fields[key] != value:
                raise InvalidRequest(
                    f"conflicting event filters for {key}: {fields[key]!r} and {value!r}",
                    details={"filter": expression},
                )
            fields[key] = value
        return cls(
            provider=fields.get("provider"),
            category=fields.get("category"),
            name=fields.get("name"),
            resource_type=fields.get("resource_type"),
            types=frozenset(types) if types else None,
        )

    @classmethod
    def of(
        cls,
        *,
        provider: str | None = None,
        category: str | None = None,
        name: str | None = None,
        resource_type: str | None = None,
        types: Iterable[str | EventType] | None = None,
    ) -> EventFilter:
        return cls(
            provider=provider,
            category=category,
            name=name,
            resource_type=resource_type,
            types=frozenset(EventType(t) for t in types) if types else None,
        )

    @property
    def is_empty(self) -> bool:
        return not (self.provider or self.category or self.name or self.resource_type or self.types)

    def matches(self, event: Event) -> bool:
        return (
            (self.types is None or event.type in self.types)
            and (self.provider is None or event.provider == self.provider)
            and (self.category is None or event.category == self.category)
            and (self.name is None or event.name == self.name)
            and (self.resource_type is None or event.resource_type == self.resource_type)
        )

    def to_expressions(self) -> list[str]:
        """The SSE ``filter=`` values for this filter (used by the client)."""
        out = []
        for key, value in (
            ("provider", self.provider),
            ("category", self.category),
            ("name", self.name),
            ("type", self.resource_type),
        ):
            if value:
                out.append(f"{key}:{value}")
        if self.types:
            out.append("event:" + ",".join(sorted(t.value for t in self.types)))
        return out
