"""JSON to plain data with the same guarantees as YAML: no duplicate keys, finite numbers only.

``json.loads`` is an order of magnitude faster than composing the same text as YAML, so a
JSON document is parsed by it and composed as YAML (JSON is YAML-compatible) only when a
position is asked for: a clean document never pays for positions.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import yaml

from nestor_catalog_core.loading._documents import LoadOptions, Position, load_finding
from nestor_catalog_core.loading._yaml import YamlLocator, compose_one
from nestor_catalog_core.models.findings import Finding

__all__ = ["JsonLocator", "JsonProblem", "decode_json", "parse_json"]

_NON_FINITE_TOKEN: Final = re.compile(
    r'"(?:[^"\\]|\\.)*"'  # strings, skipped
    r"|(-?Infinity|NaN|-?\d+(?:\.\d+(?:[eE][-+]?\d+)?|[eE][-+]?\d+))"
)

_SURROGATE: Final = re.compile("[\ud800-\udfff]")


class JsonProblem(Exception):
    """Why a JSON text was refused: a finding, or ``duplicate`` when the YAML walk should
    locate the repeated keys."""

    def __init__(self, finding: Finding | None, *, duplicate: str | None = None) -> None:
        super().__init__(finding.message if finding is not None else f"duplicate key {duplicate!r}")
        self.finding = finding
        self.duplicate = duplicate


class _Duplicate(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


class _NotFinite(Exception):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Duplicate(key)
            seen.add(key)
    return result


def _constant(token: str) -> Any:
    raise _NotFinite(token)


def _float(token: str) -> float:
    value = float(token)
    if not math.isfinite(value):
        raise _NotFinite(token)
    return value


def parse_json(text: str, file: str, options: LoadOptions) -> Any:
    """The JSON value of ``text``; raises ``JsonProblem`` for anything a definition may not hold."""
    try:
        data = json.loads(text, object_pairs_hook=_pairs, parse_constant=_constant, parse_float=_float)
    except _Duplicate as exc:
        raise JsonProblem(None, duplicate=exc.key) from None
    except _NotFinite:
        raise JsonProblem(_non_finite_finding(text, file)) from None
    except json.JSONDecodeError as exc:
        finding = load_finding("JSON_SYNTAX", f"invalid JSON: {exc.msg}", file, (exc.lineno, exc.colno))
        raise JsonProblem(finding) from None
    except RecursionError:
        raise JsonProblem(_too_deep(file, options)) from None
    except ValueError as exc:
        finding = load_finding("NUMBER_OUT_OF_RANGE", f"number out of range: {exc}", file)
        raise JsonProblem(finding) from None
    if _deeper_than(data, options.max_depth):
        raise JsonProblem(_too_deep(file, options))
    if "\\u" in text and _has_surrogate(data):
        raise JsonProblem(
            load_finding(
                "NOT_UTF8",
                "a \\uXXXX escape encodes a lone surrogate, which is not a character and cannot be stored as UTF-8",
                file,
            )
        )
    return data


def decode_json(data: bytes | str, *, what: str = "the body", options: LoadOptions | None = None) -> Any:
    """A request body (not a definition) as JSON, with the guarantees of ``parse_json``: finite
    numbers only, no duplicate keys, bounded nesting, UTF-8. Raises ``InvalidRequest`` naming
    the problem (``details.body`` is its rule id) instead of anything a caller must catch."""
    from nestor_catalog_core._exceptions import InvalidRequest

    opts = options if options is not None else LoadOptions()
    try:
        text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
    except UnicodeDecodeError as exc:
        raise InvalidRequest(
            f"{what} is not UTF-8: byte {exc.start} cannot be decoded", details={"body": "NOT_UTF8"}
        ) from None
    try:
        return parse_json(text, "<request>", opts)
    except JsonProblem as exc:
        if exc.finding is None:
            raise InvalidRequest(
                f"{what} is not valid: duplicate key {exc.duplicate!r}", details={"body": "DUPLICATE_KEY"}
            ) from None
        finding = exc.finding
        where = f" at line {finding.line}, column {finding.column}" if finding.line else ""
        details: dict[str, Any] = {"body": finding.rule}
        if finding.line:
            details.update(line=finding.line, column=finding.column)
        raise InvalidRequest(f"{what} is not valid: {finding.message}{where}", details=details) from None


def _too_deep(file: str, options: LoadOptions) -> Finding:
    return load_finding(
        "NESTING_TOO_DEEP",
        f"nesting deeper than {options.max_depth} levels; definitions never need that much",
        file,
    )


def _deeper_than(data: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _has_surrogate(data: Any) -> bool:
    stack: list[Any] = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return True
        elif isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


def _non_finite_finding(text: str, file: str) -> Finding:
    for match in _NON_FINITE_TOKEN.finditer(text):
        token = match.group(1)
        if token is None:
            continue
        if token.lstrip("-") in {"Infinity", "NaN"} or not math.isfinite(float(token)):
            return load_finding(
                "NUMBER_OUT_OF_RANGE",
                f"{token} is not a finite number; JSON definitions may only hold finite numbers",
                file,
                _text_position(text, match.start(1)),
            )
    return load_finding("NUMBER_OUT_OF_RANGE", "the document holds a number that is not finite", file)


def _text_position(text: str, offset: int) -> Position:
    line_start = text.rfind("\n", 0, offset) + 1
    return (text.count("\n", 0, offset) + 1, offset - line_start + 1)


@dataclass(slots=True)
class JsonLocator:
    """Positions for a JSON document, composing its text as YAML on first use.

    If the text does not compose as YAML (rare JSON that YAML reads differently), every
    position is the start of the document.
    """

    data: bytes
    _located: YamlLocator | None = field(default=None, init=False)
    _tried: bool = field(default=False, init=False)

    def locate(self, path: Sequence[str | int], *, key: bool) -> Position:
        if not self._tried:
            self._tried = True
            try:
                root = compose_one(self.data)
            except yaml.YAMLError:
                root = None
            self._located = YamlLocator(root) if root is not None else None
        if self._located is None:
            return (1, 1)
        return self._located.locate(path, key=key)
