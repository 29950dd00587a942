"""Property tests: loading anything returns findings (never raises), and plain data round-trips."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nestor_catalog_core.loading import LoadOptions, LoadResult, load_bytes
from nestor_catalog_core.validation import RULES, validate_document

API = "catalog.nestor.io/v1"
YAML_ALPHABET = st.sampled_from([*"abcxyz019 -:_,.[]{}&*!|>'\"#%@`?<=~\t\n\\", "\n  ", "\n- ", "---\n", "é", "\x00"])

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_data = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=25,
)


def _lines(data: bytes) -> int:
    """Line breaks as YAML counts them (CR, LF, CRLF, NEL, LS, PS) or more."""
    return len(data.decode("utf-8", "replace").splitlines()) + 1


def check_result(result: LoadResult, text_lines: int) -> None:
    for finding in result.findings:
        assert finding.rule in RULES
        assert finding.line is not None
        assert finding.column is not None
        assert 1 <= finding.line <= text_lines
        assert finding.column >= 1
    for document in result.documents:
        assert isinstance(document.data, dict)
        assert document.data.get("apiVersion", API) == API or not isinstance(document.data.get("apiVersion"), str)
        validated = validate_document(document)
        assert all(f.rule in RULES for f in validated.findings)
        assert all(f.line is not None for f in validated.findings)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    for suffix in (None, ".json"):
        check_result(load_bytes(data, "fuzz", suffix=suffix), _lines(data))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(YAML_ALPHABET, max_size=120).map("".join))
def test_arbitrary_yamlish_text_never_raises(text: str) -> None:
    data = text.encode("utf-8", "surrogatepass")
    options = LoadOptions(max_alias_expansion=200, max_depth=20)
    check_result(load_bytes(data, "fuzz.yaml", options=options), _lines(data))
    check_result(load_bytes(f"apiVersion: {API}\nx: {text}".encode(), "fuzz.yaml"), _lines(data) + 1)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_data)
def test_json_data_round_trips_through_yaml_and_json(value: Any) -> None:
    document = {"apiVersion": API, "value": value}
    as_yaml = yaml.safe_dump(document).encode()
    as_json = json.dumps(document, ensure_ascii=False).encode()
    for text, suffix in ((as_yaml, ".yaml"), (as_json, ".json")):
        result = load_bytes(text, "round-trip", suffix=suffix)
        if result.findings:
            assert {f.rule for f in result.findings} <= {"NOT_UTF8"}, result.findings
            continue
        assert _same(result.documents[0].data, document)
        for path in _paths(result.documents[0].data):
            line, column = result.documents[0].position(path)
            assert 1 <= line <= _lines(text)
            assert column >= 1


@settings(max_examples=150, deadline=None)
@given(json_data)
def test_yaml_loading_agrees_with_safe_load(value: Any) -> None:
    text = yaml.safe_dump({"apiVersion": API, "value": value}, allow_unicode=True).encode()
    result = load_bytes(text)
    if not result.findings:
        assert _same(result.documents[0].data, yaml.load(text, Loader=yaml.CSafeLoader))


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, float) and isinstance(right, float):
        return left == right or (math.isnan(left) and math.isnan(right))
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_same(left[k], right[k]) for k in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(_same(a, b) for a, b in zip(left, right, strict=True))
    return type(left) is type(right) and left == right


def _paths(data: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    out: list[tuple[str | int, ...]] = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            out.extend(_paths(value, (*prefix, key)))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            out.extend(_paths(value, (*prefix, index)))
    return out


def _tags(root: yaml.Node | None) -> list[tuple[str, str, Any]]:
    out: list[tuple[str, str, Any]] = []
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        out.append((type(node).__name__, node.tag, node.value if isinstance(node, yaml.ScalarNode) else None))
        if isinstance(node, yaml.MappingNode):
            stack.extend(part for pair in node.value for part in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(YAML_ALPHABET, max_size=80).map("".join))
def test_our_parser_resolves_tags_exactly_like_the_safe_loader(text: str) -> None:
    from nestor_catalog_core.loading._yaml import compose_one

    try:
        expected = yaml.compose(text, Loader=yaml.CSafeLoader)
    except yaml.YAMLError:
        with pytest.raises(yaml.YAMLError):
            compose_one(text)
        return
    assert _tags(compose_one(text)) == _tags(expected)


def test_our_parser_resolves_every_implicit_type() -> None:
    from nestor_catalog_core.loading._yaml import compose_one

    text = "a: [1, 0x1F, 1.5, .inf, yes, No, ~, null, '', 2001-01-01, =, <<, !!str 3, !foo x, ! 12, x]\n? ''\n: 1\n"
    assert _tags(compose_one(text)) == _tags(yaml.compose(text, Loader=yaml.CSafeLoader))
