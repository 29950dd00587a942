from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nestor_catalog_server.config import format_duration, parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("250ms", timedelta(milliseconds=250)),
        ("30s", timedelta(seconds=30)),
        ("5m", timedelta(minutes=5)),
        ("1h", timedelta(hours=1)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1.5s", timedelta(milliseconds=1500)),
        (" 10 S ", timedelta(seconds=10)),
        ("30", timedelta(seconds=30)),
        ("0", timedelta(0)),
        (30, timedelta(seconds=30)),
        (0.25, timedelta(milliseconds=250)),
        (timedelta(seconds=3), timedelta(seconds=3)),
    ],
)
def test_parse_duration_accepts_the_documented_forms(text: object, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["5 minutes", "m", "", "1x", "-5s", "s5", True, None, [1], "1h-30m", "nan", "inf"])
def test_parse_duration_rejects_everything_else(text: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_negative_numbers_are_not_durations() -> None:
    with pytest.raises(ValueError, match="cannot be negative"):
        parse_duration(-1)
    with pytest.raises(ValueError, match="cannot be negative"):
        parse_duration(timedelta(seconds=-1))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(milliseconds=250), "250ms"),
        (timedelta(seconds=30), "30s"),
        (timedelta(minutes=5), "5m"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(days=7), "7d"),
        (timedelta(microseconds=1500), "0.0015s"),
    ],
)
def test_format_duration_writes_the_short_form(value: timedelta, text: str) -> None:
    assert format_duration(value) == text


@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3650)))
def test_format_then_parse_round_trips(value: timedelta) -> None:
    assert parse_duration(format_duration(value)) == value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1MiB", 1024 * 1024),
        ("512KB", 512_000),
        ("512KiB", 512 * 1024),
        ("1048576", 1048576),
        (1048576, 1048576),
        ("2 GB", 2_000_000_000),
        ("1.5KiB", 1536),
        ("10b", 10),
        ("1mi", 1024 * 1024),
    ],
)
def test_parse_size(text: object, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["1 MegaByte", "MiB", "", "-1KB", False, None, "1e3"])
def test_parse_size_rejects_everything_else(text: object) -> None:
    with pytest.raises(ValueError, match="invalid size"):
        parse_size(text)
