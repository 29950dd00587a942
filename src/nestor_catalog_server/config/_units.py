"""Durations and byte sizes as operators write them in YAML and environment variables.

Durations become ``datetime.timedelta`` everywhere in the settings (one type, no float-seconds
next to it); sizes become ``int`` bytes. Both accept a bare number: seconds for durations,
bytes for sizes.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BeforeValidator, PlainSerializer, WithJsonSchema

__all__ = [
    "ByteSize",
    "Duration",
    "PositiveByteSize",
    "PositiveDuration",
    "format_duration",
    "parse_duration",
    "parse_size",
]

_DURATION_UNITS: dict[str, Decimal] = {
    "ms": Decimal("0.001"),
    "s": Decimal(1),
    "m": Decimal(60),
    "h": Decimal(3600),
    "d": Decimal(86400),
    "w": Decimal(604800),
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_DURATION_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+")

_SIZE_UNITS: dict[str, int] = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "ki": 1024,
    "kib": 1024,
    "mi": 1024**2,
    "mib": 1024**2,
    "gi": 1024**3,
    "gib": 1024**3,
    "ti": 1024**4,
    "tib": 1024**4,
}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)")

_DURATION_HELP = 'use a number of seconds or a duration like "250ms", "30s", "5m", "1h", "7d" or "1h30m"'
_SIZE_HELP = 'use a number of bytes or a size like "512KB", "1MiB" or "2GB" (KB = 1000 bytes, KiB = 1024)'


def parse_duration(value: Any) -> timedelta:
    """``"250ms"``, ``"30s"``, ``"5m"``, ``"1h30m"``, ``"7d"``, ``30`` or ``"30"`` (seconds) -> ``timedelta``.

    Raises ``ValueError`` (with the accepted forms) for anything else, including negative values
    and booleans (YAML ``yes`` is not a duration).
    """
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise ValueError(f"a duration cannot be negative, got {format_duration(value)!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"invalid duration {value!r}: {_DURATION_HELP}")
    if isinstance(value, int | float):
        return _seconds(Decimal(str(value)), value)
    text = value.strip().lower().replace(" ", "")
    try:
        return _seconds(Decimal(text), value)
    except InvalidOperation:
        pass
    if not _DURATION_WHOLE.fullmatch(text):
        raise ValueError(f"invalid duration {value!r}: {_DURATION_HELP}")
    total = sum(
        (Decimal(number) * _DURATION_UNITS[unit] for number, unit in _DURATION_PART.findall(text)),
        Decimal(0),
    )
    return _seconds(total, value)


def _seconds(seconds: Decimal, original: Any) -> timedelta:
    if not seconds.is_finite():
        raise ValueError(f"invalid duration {original!r}: {_DURATION_HELP}")
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {original!r}")
    return timedelta(microseconds=int(seconds * 1_000_000))


def format_duration(value: timedelta) -> str:
    """The shortest spelling ``parse_duration`` reads back: ``"30s"``, ``"5m"``, ``"250ms"``, ``"1h30m"``."""
    micros = value // timedelta(microseconds=1)
    if micros == 0:
        return "0s"
    if micros % 1000:
        return f"{Decimal(micros) / 1_000_000}s"
    millis = micros // 1000
    if millis % 1000:
        return f"{millis}ms"
    seconds = millis // 1000
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def parse_size(value: Any) -> int:
    """``"1MiB"``, ``"512KB"``, ``"1048576"`` or ``1048576`` -> bytes (SI units are powers of 1000)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"invalid size {value!r}: {_SIZE_HELP}")
    text = str(value).strip().lower()
    match = _SIZE.fullmatch(text)
    if match is None or match.group(2) not in _SIZE_UNITS:
        raise ValueError(f"invalid size {value!r}: {_SIZE_HELP}")
    return int(Decimal(match.group(1)) * _SIZE_UNITS[match.group(2)])


def _positive_duration(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be greater than zero")
    return value


def _positive_size(value: int) -> int:
    if value <= 0:
        raise ValueError("must be greater than zero")
    return value


#: What a duration or a size looks like in a JSON Schema (``values.schema.json`` of the Helm chart,
#: editors): a bare number, or text the parsers read.
DURATION_JSON_SCHEMA: Final = {
    "type": ["string", "number"],
    "pattern": r"^\s*([0-9]+(\.[0-9]+)?(ms|s|m|h|d|w))+\s*$|^\s*[0-9]+(\.[0-9]+)?\s*$",
    "minimum": 0,
    "description": "A duration: 250ms, 30s, 5m, 1h30m, 7d, or a number of seconds.",
}
SIZE_JSON_SCHEMA: Final = {
    "type": ["string", "integer"],
    "pattern": r"^\s*[0-9]+(\.[0-9]+)?\s*([kKmMgGtT][iI]?)?[bB]?\s*$",
    "minimum": 0,
    "description": "A size: 512KiB, 1MiB, 1MB, or a number of bytes.",
}

#: A non-negative duration; serialized back as ``"30s"``.
Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema(DURATION_JSON_SCHEMA),
]
#: A duration greater than zero.
PositiveDuration = Annotated[Duration, AfterValidator(_positive_duration)]
#: A size in bytes.
ByteSize = Annotated[int, BeforeValidator(parse_size), WithJsonSchema(SIZE_JSON_SCHEMA)]
#: A size in bytes greater than zero.
PositiveByteSize = Annotated[ByteSize, AfterValidator(_positive_size)]
