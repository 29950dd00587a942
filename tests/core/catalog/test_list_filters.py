"""``ListFilters``' wire form: the HTTP query the clients write (``to_query``) and the server
reads back (``from_query``), and the keyword form (``of``) with its error for unknown names."""

from __future__ import annotations

from dataclasses import fields

import pytest

from nestor_catalog_core import InvalidRequest, ListFilters
from nestor_catalog_core.catalog.read_model import NO_FILTERS

EVERY = ListFilters(
    provider="aws",
    category="database",
    resource_type="mysql",
    engine="8.0",
    maintainer="Platform-Team@company.com",
    deprecated=False,
)


def test_to_query_writes_the_given_filters_in_field_order() -> None:
    assert EVERY.to_query() == (
        ("provider", "aws"),
        ("category", "database"),
        ("resource_type", "mysql"),
        ("engine", "8.0"),
        ("maintainer", "Platform-Team@company.com"),
        ("deprecated", "false"),
    )
    assert ListFilters(deprecated=True, provider="gcp").to_query() == (("provider", "gcp"), ("deprecated", "true"))
    assert NO_FILTERS.to_query() == ()
    assert ListFilters(provider="", engine=None).to_query() == ()  # an empty string is no filter


@pytest.mark.parametrize(
    "filters",
    [EVERY, NO_FILTERS, ListFilters(deprecated=True), ListFilters(category="cache", maintainer="a@b.c")],
)
def test_from_query_reads_back_what_to_query_wrote(filters: ListFilters) -> None:
    assert ListFilters.from_query(filters.to_query()) == filters
    assert ListFilters.from_query(dict(filters.to_query())) == filters


def test_of_a_repeated_parameter_the_last_counts() -> None:
    assert ListFilters.from_query([("provider", "aws"), ("provider", "gcp")]) == ListFilters(provider="gcp")
    assert ListFilters.from_query([("provider", "aws"), ("provider", "")]) is NO_FILTERS
    assert ListFilters.from_query([("deprecated", "maybe"), ("deprecated", "true")]) == ListFilters(deprecated=True)


def test_from_query_leaves_other_parameters_and_empty_values_alone() -> None:
    query = {"q": "mysql", "limit": "20", "cursor": "abc", "provider": "aws", "category": ""}
    assert ListFilters.from_query(query) == ListFilters(provider="aws")
    assert ListFilters.from_query({}) is NO_FILTERS


@pytest.mark.parametrize(
    ("value", "expected"), [("true", True), ("TRUE", True), ("1", True), ("False", False), ("0", False)]
)
def test_flags_read_as_the_api_always_read_them(value: str, expected: bool) -> None:
    assert ListFilters.from_query({"deprecated": value}).deprecated is expected


@pytest.mark.parametrize("value", ["maybe", "yes", "", "t"])
def test_a_bad_flag_names_the_parameter(value: str) -> None:
    with pytest.raises(InvalidRequest, match="invalid query parameter 'deprecated': expected true or false") as caught:
        ListFilters.from_query({"deprecated": value})
    assert caught.value.details["parameter"] == "deprecated"
    assert caught.value.details["parameters"] == [
        {"name": "deprecated", "in": "query", "message": f"expected true or false, got {value!r}"}
    ]


def test_of_builds_from_keywords_and_refuses_unknown_names() -> None:
    assert ListFilters.of({"provider": "aws", "deprecated": True}) == ListFilters(provider="aws", deprecated=True)
    assert ListFilters.of({}) is NO_FILTERS
    names = sorted(field.name for field in fields(ListFilters))
    with pytest.raises(InvalidRequest) as caught:
        ListFilters.of({"colour": "red", "provider": "aws"})
    assert str(caught.value) == f"unknown filter(s) ['colour']: use {names}"
    assert caught.value.details == {"filters": ["colour"]}
