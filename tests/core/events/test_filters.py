from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime

import pytest

from nestor_catalog_core import InvalidRequest, ListFilters
from nestor_catalog_core.events import EventFilter
from nestor_catalog_core.models import Event, EventType

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _event(kind: EventType = EventType.RESOURCE_CREATED, **attrs: str) -> Event:
    return Event(type=kind, time=NOW, **attrs)  # type: ignore[arg-type]


def test_parse_sse_expressions_and_match() -> None:
    f = EventFilter.parse(["provider:aws", "category:database", "type:mysql"])
    assert f == EventFilter(provider="aws", category="database", resource_type="mysql")
    assert f.matches(_event(provider="aws", category="database", resource_type="mysql"))
    assert not f.matches(_event(provider="gcp", category="database", resource_type="mysql"))
    assert not f.matches(_event(EventType.SYNC_COMPLETED))


def test_event_type_filter() -> None:
    f = EventFilter.parse(["event:resource.created,resource.updated"])
    assert f.matches(_event(EventType.RESOURCE_UPDATED))
    assert not f.matches(_event(EventType.SYNC_FAILED))
    assert EventFilter.parse(f.to_expressions()) == f


def test_empty_filter_matches_everything() -> None:
    f = EventFilter.parse([])
    assert f.is_empty
    assert f.matches(_event(EventType.SYNC_FAILED))


@pytest.mark.parametrize(
    ("expression", "match"),
    [
        ("provider", "expected KEY:VALUE"),
        ("colour:red", "expected KEY:VALUE"),
        ("provider:", "expected KEY:VALUE"),
        ("event:resource.exploded", "unknown event type"),
    ],
)
def test_bad_expressions(expression: str, match: str) -> None:
    with pytest.raises(InvalidRequest, match=match):
        EventFilter.parse([expression])


def test_conflicting_values_are_refused() -> None:
    with pytest.raises(InvalidRequest, match="conflicting"):
        EventFilter.parse(["provider:aws", "provider:gcp"])


@pytest.mark.parametrize("key", ["engine", "maintainer", "deprecated"])
def test_list_filters_events_do_not_carry_are_no_keys(key: str) -> None:
    with pytest.raises(InvalidRequest, match="expected KEY:VALUE with KEY one of provider, category, name"):
        EventFilter.parse([f"{key}:x"])


def test_an_event_filter_names_only_what_events_carry() -> None:
    """Why it is not a ``ListFilters``: each criterion but the event types is an ``Event``
    attribute, and of the list filters only provider, category and resource_type are."""
    criteria = {field.name for field in fields(EventFilter)} - {"types"}
    assert criteria <= {field.name for field in fields(Event)}
    assert criteria & {field.name for field in fields(ListFilters)} == {"provider", "category", "resource_type"}
