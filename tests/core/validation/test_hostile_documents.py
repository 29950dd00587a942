"""Hypothesis: hostile definitions through the one loader and validator that git sync, the API
and the CLI share (``load_bytes`` -> ``validate_document`` -> ``validate_inputs``).

Patterns (catastrophic ones, broken ones, random regex syntax), nesting, numbers, sizes and
encodings are generated into an otherwise valid definition. Whatever comes in, nothing raises,
every finding has a known rule id and a position in the file, a pattern either compiles on RE2
or is ``PATTERN_INVALID``, and a built definition checks any consumer values without raising.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nestor_catalog_core import validate_inputs
from nestor_catalog_core.loading import load_bytes
from nestor_catalog_core.validation import RULES, validate_document
from nestor_catalog_core.validation._patterns import compiled_pattern

CATASTROPHIC = ["^(a+)+$", "(a|aa)+$", "(a*)*b", "^(\\w+\\s?)*$", "(.*a){12}", "^(([a-z])+.)+[A-Z]([a-z])+$"]
REGEX_PIECES = st.sampled_from(
    [*"ab.^$|?*+()[]{}\\-", "\\1", "(?=", "(?!", "(?<=", "++", "{1000}", "{1001}", "\\p{L}", "(?i)", "[^", "\\d", "\\"]
)
patterns = st.sampled_from(CATASTROPHIC) | st.lists(REGEX_PIECES, max_size=16).map("".join)
hostile_strings = st.one_of(
    st.text(max_size=40),
    st.builds(lambda n, tail: "a" * n + tail, st.integers(0, 20_000), st.sampled_from(["", "!", "b", "\u00e9"])),
)
numbers = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([".nan", ".inf", "-.inf", "1e999", "0x1F", "1_000"]),
)


def _nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"k": value}
    return value


def document(pattern: str, default: str, number: Any, description: str, depth: int) -> dict[str, Any]:
    return {
        "apiVersion": "catalog.nestor.io/v1",
        "kind": "ResourceDefinition",
        "metadata": {
            "name": "hostile",
            "version": "1.0.0",
            "provider": "aws",
            "category": "database",
            "resource_type": "mysql",
            "description": description,
            "maintainers": ["platform-team@company.com"],
        },
        "spec": {
            "supported_engines": ["terraform"],
            "optional_inputs": [
                {
                    "name": "name",
                    "type": "string",
                    "description": "patterned",
                    "default": default,
                    "validation": {"pattern": pattern},
                },
                {"name": "size", "type": "number", "description": "bounded", "validation": {"min": number}},
            ],
            "engine_configs": {"terraform": {"module_source": "m"}, **({"custom": _nested(depth)} if depth else {})},
        },
    }


def _encode(data: dict[str, Any], encoding: str) -> bytes:
    text = json.dumps(data, ensure_ascii=False)
    if encoding == "utf-8-sig":
        return b"\xef\xbb\xbf" + text.encode()
    if encoding == "latin-1":
        return text.encode("latin-1", "replace")
    return text.encode(encoding, "surrogatepass")


def _check(raw: bytes, suffix: str | None, values: Any) -> None:
    loaded = load_bytes(raw, "hostile.yaml", suffix=suffix)
    findings = list(loaded.findings)
    for loaded_document in loaded.documents:
        validated = validate_document(loaded_document)
        findings.extend(validated.findings)
        if validated.definition is not None:
            for item in validated.definition.spec.inputs():
                pattern = item.validation.pattern if item.validation else None
                if pattern is not None and compiled_pattern(pattern) is None:
                    assert "PATTERN_INVALID" in {f.rule for f in validated.findings}
            if "PATTERN_INVALID" not in {f.rule for f in validated.findings}:
                result = validate_inputs(validated.definition, values)
                assert all(f.rule in RULES for f in result.findings)
    for finding in findings:
        assert finding.rule in RULES, finding
        assert finding.file == "hostile.yaml"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    pattern=patterns,
    default=hostile_strings,
    number=numbers,
    description=st.text(max_size=10) | st.just("d" * 5_000),
    depth=st.integers(0, 150),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]),
    suffix=st.sampled_from([None, ".json"]),
    value=hostile_strings,
)
def test_hostile_documents_get_findings_never_exceptions(
    pattern: str,
    default: str,
    number: Any,
    description: str,
    depth: int,
    encoding: str,
    suffix: str | None,
    value: str,
) -> None:
    data = document(pattern, default, number, description, depth)
    try:
        raw = _encode(data, encoding)
    except ValueError:  # a float json cannot write (nan/inf): write it as YAML would
        raw = json.dumps(data, allow_nan=True).encode()
    _check(raw, suffix, {"name": value, "size": 1})


@settings(max_examples=80, deadline=None)
@given(pattern=st.sampled_from(CATASTROPHIC), length=st.integers(10, 50_000))
def test_catastrophic_patterns_check_any_input_on_the_linear_engine(pattern: str, length: int) -> None:
    data = document(pattern, "x", 0, "d", 0)
    validated = validate_document(load_bytes(json.dumps(data).encode(), "hostile.yaml").documents[0])
    assert validated.definition is not None
    result = validate_inputs(validated.definition, {"name": "a" * length + "!"})
    matches = pattern == "(.*a){12}" and length >= 12  # the only one "aaa...!" satisfies
    expected = ["PATTERN_INPUT_TOO_LONG"] if length + 1 > 10_000 else [] if matches else ["INPUT_PATTERN"]
    assert [f.rule for f in result.findings] == expected
