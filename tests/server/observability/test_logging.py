from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from enum import Enum
from pathlib import Path

import pytest

from nestor_catalog_server.config import LoggingConfig
from nestor_catalog_server.observability import configure_logging, trace_context

TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


class Color(Enum):
    RED = "red"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    buffer = io.StringIO()
    yield buffer
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_line_shaped_like_the_spec(stream: io.StringIO) -> None:
    configure_logging(LoggingConfig(level="info", format="json"), "catalog", stream=stream)
    with trace_context("abc123"):
        logging.getLogger("nestor_catalog_server.sync").info(
            "repository synced",
            extra={
                "operation": "sync_repository",
                "repository": "platform-resources",
                "resources_updated": 5,
                "duration_ms": 1250,
            },
        )
    [entry] = _lines(stream)
    assert TIMESTAMP.fullmatch(str(entry.pop("timestamp")))
    assert entry == {
        "level": "info",
        "service": "catalog",
        "logger": "nestor_catalog_server.sync",
        "message": "repository synced",
        "operation": "sync_repository",
        "repository": "platform-resources",
        "resources_updated": 5,
        "duration_ms": 1250,
        "trace_id": "abc123",
    }


def test_exceptions_go_to_error_and_stack(stream: io.StringIO) -> None:
    configure_logging(LoggingConfig(), "catalog", stream=stream)
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("x").exception("sync failed", extra={"repository": "r"})
    [entry] = _lines(stream)
    assert entry["level"] == "error"
    assert entry["error"] == "ValueError: boom"
    assert "Traceback (most recent call last)" in str(entry["stack"])
    assert "trace_id" not in entry


def test_level_filters(stream: io.StringIO) -> None:
    configure_logging(LoggingConfig(level="warning"), "catalog", stream=stream)
    logging.getLogger("x").info("hidden")
    logging.getLogger("x").warning("shown %s", "here")
    assert [entry["message"] for entry in _lines(stream)] == ["shown here"]


def test_odd_values_are_serialized_not_fatal(stream: io.StringIO) -> None:
    configure_logging(LoggingConfig(level="debug"), "catalog", stream=stream)
    logging.getLogger("x").debug(
        "values",
        extra={
            "path": Path("/tmp/x"),
            "delay": timedelta(milliseconds=1500),
            "color": Color.RED,
            "names": {"b"},
            "raw": b"\xffok",
            "obj": object(),
            "level": "overridden?",
        },
    )
    [entry] = _lines(stream)
    assert entry["path"] == "/tmp/x"
    assert entry["delay"] == 1.5
    assert entry["color"] == "red"
    assert entry["names"] == ["b"]
    assert entry["raw"] == "\ufffdok"
    assert str(entry["obj"]).startswith("<object object")
    assert entry["level"] == "debug"
    assert entry["extra_level"] == "overridden?"


def test_text_format(stream: io.StringIO) -> None:
    configure_logging(LoggingConfig(format="text"), "catalog", stream=stream)
    with trace_context("t-1"):
        logging.getLogger("catalog.sync").info("synced", extra={"repository": "r", "count": 2})
    line = stream.getvalue().strip()
    assert TIMESTAMP.match(line)
    assert line.endswith(' info    catalog.sync: synced repository="r" count=2 [trace=t-1]')


def test_configure_twice_replaces_its_own_handler_only(stream: io.StringIO) -> None:
    root = logging.getLogger()
    other = logging.NullHandler()
    root.addHandler(other)
    try:
        first = configure_logging(LoggingConfig(), "catalog", stream=io.StringIO())
        second = configure_logging(LoggingConfig(), "catalog", stream=stream)
        assert first not in root.handlers
        assert second in root.handlers
        assert other in root.handlers
    finally:
        root.removeHandler(other)
    logging.getLogger("x").info("once")
    assert len(_lines(stream)) == 1
