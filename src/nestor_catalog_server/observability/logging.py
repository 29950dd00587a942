"""Structured logs on the standard ``logging`` module, shaped like the spec's example.

One JSON object per line::

    {"timestamp": "2024-01-15T10:30:45.120Z", "level": "info", "service": "catalog",
     "logger": "nestor_catalog_server.sync", "message": "repository synced",
     "operation": "sync_repository", "repository": "platform-resources",
     "resources_updated": 5, "duration_ms": 1250, "trace_id": "abc123"}

Fields passed with ``logger.info("...", extra={...})`` become top-level keys; the trace id comes
from the request's context variable; an exception goes into ``error`` and ``stack`` (the log,
never an HTTP response). The text format is the same information for a terminal.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
from datetime import date, datetime, timedelta
from enum import Enum
from pathlib import PurePath
from typing import Any, Final, TextIO

from nestor_catalog_server.config import LoggingConfig
from nestor_catalog_server.observability.tracing import current_trace_id

__all__ = ["JsonFormatter", "TextFormatter", "configure_logging"]

_STANDARD_ATTRIBUTES: Final = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
}
_BASE_KEYS: Final = frozenset({"timestamp", "level", "service", "logger", "message", "error", "stack"})
_LEVELS: Final = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_INSTALLED_MARK: Final = "_nestor_catalog_handler"


def _timestamp(created: float) -> str:
    """RFC 3339 UTC with milliseconds: ``2024-01-15T10:30:45.120Z``."""
    return _second(int(created)) + f".{int(created % 1 * 1000):03d}Z"


@functools.lru_cache(maxsize=4)
def _second(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    return repr(value)


_ENCODER: Final = json.JSONEncoder(default=_json_default, ensure_ascii=False)


def _compact_json(value: Any) -> str:
    return _ENCODER.encode(value)


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The ``extra={...}`` fields of a record (attributes a plain ``LogRecord`` does not have)."""
    return {
        key: value for key, value in vars(record).items() if key not in _STANDARD_ATTRIBUTES and not key.startswith("_")
    }


class JsonFormatter(logging.Formatter):
    """One JSON object per record; never raises (an unserializable value is written as its repr)."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": _timestamp(record.created),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            entry[f"extra_{key}" if key in _BASE_KEYS else key] = value
        if "trace_id" not in entry:
            trace_id = current_trace_id()
            if trace_id is not None:
                entry["trace_id"] = trace_id
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            entry["error"] = f"{type(error).__name__}: {error}"
            entry["stack"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = record.stack_info
        try:
            return _ENCODER.encode(entry)
        except (TypeError, ValueError):
            return json.dumps({key: repr(value) for key, value in entry.items()}, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``2024-01-15T10:30:45.120Z info    catalog.sync: message key=value [trace=abc123]``."""

    def format(self, record: logging.LogRecord) -> str:
        fields = extra_fields(record)
        trace_id = fields.pop("trace_id", None) or current_trace_id()
        parts = [f"{_timestamp(record.created)} {record.levelname.lower():<7} {record.name}: {record.getMessage()}"]
        parts.extend(f"{key}={_compact_json(value)}" for key, value in fields.items())
        if trace_id:
            parts.append(f"[trace={trace_id}]")
        text = " ".join(parts)
        if record.exc_info and record.exc_info[1] is not None:
            text += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            text += "\n" + self.formatStack(record.stack_info)
        return text


def configure_logging(settings: LoggingConfig, service_name: str, *, stream: TextIO | None = None) -> logging.Handler:
    """Send the root logger's records to ``stream`` (stderr) in ``settings.format`` at ``settings.level``.

    Idempotent: a handler installed by an earlier call is replaced, handlers installed by others
    (test capture, the ASGI server) are left alone. Returns the installed handler.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _INSTALLED_MARK, False):
            root.removeHandler(handler)
            handler.close()
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter(service_name) if settings.format == "json" else TextFormatter())
    setattr(handler, _INSTALLED_MARK, True)
    root.addHandler(handler)
    root.setLevel(_LEVELS[settings.level])
    return handler
