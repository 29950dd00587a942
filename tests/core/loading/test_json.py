"""JSON loading: the same guarantees as YAML, positions computed only when asked for."""

from __future__ import annotations

import json

import pytest

from nestor_catalog_core.loading import LoadOptions, load_bytes

DOC = {
    "apiVersion": "catalog.nestor.io/v1",
    "kind": "ResourceDefinition",
    "metadata": {"name": "x", "labels": {"a.b/c": "d"}},
    "spec": {"required_inputs": [{"name": "n", "type": "string"}]},
}


def test_json_loads_with_lazy_positions() -> None:
    text = json.dumps(DOC, indent=2).encode()
    result = load_bytes(text, "x.json", suffix=".json")
    assert result.findings == []
    document = result.documents[0]
    assert document.data == DOC
    assert document.position(("spec", "required_inputs", 0, "type")) == (14, 17)
    assert document.position(("metadata", "labels", "a.b/c"), key=True) == (7, 7)
    assert document.position(("metadata", "missing")) == (4, 3)


def test_text_starting_with_a_brace_is_tried_as_json_then_yaml() -> None:
    as_json = load_bytes(b'{"apiVersion": "catalog.nestor.io/v1", "kind": "K"}', "x.yaml")
    assert as_json.documents[0].data == {"apiVersion": "catalog.nestor.io/v1", "kind": "K"}
    flow_yaml = load_bytes(b"{apiVersion: catalog.nestor.io/v1, kind: K}", "x.yaml")
    assert flow_yaml.findings == []
    assert flow_yaml.documents[0].data == {"apiVersion": "catalog.nestor.io/v1", "kind": "K"}


def test_forced_json_reports_json_syntax_errors() -> None:
    result = load_bytes(b'{\n  "a": 1,\n}\n', "bad.json", suffix=".json")
    assert [(f.rule, f.line, f.column) for f in result.findings] == [("JSON_SYNTAX", 3, 1)]
    assert result.findings[0].message.startswith("invalid JSON: ")


def test_json_duplicate_keys_are_located() -> None:
    text = b'{\n  "kind": "a",\n  "metadata": {"name": "x", "name": "y"},\n  "kind": "b"\n}'
    result = load_bytes(text, "dup.json", suffix=".JSON")
    assert [(f.rule, f.line, f.column) for f in result.findings] == [("DUPLICATE_KEY", 3, 29), ("DUPLICATE_KEY", 4, 3)]


def test_json_duplicate_key_without_a_yaml_reading_still_reported() -> None:
    text = b'{"a": "\\ud83d\\ude00", "a": 1}'
    result = load_bytes(text, "dup.json", suffix=".json")
    assert [(f.rule, f.line, f.column) for f in result.findings] == [("DUPLICATE_KEY", 1, 1)]
    assert "'a'" in result.findings[0].message


def test_json_that_yaml_cannot_read_falls_back_to_the_document_start() -> None:
    text = b'{\n  "emoji": "\\ud83d\\ude00",\n  "kind": "x"\n}'
    result = load_bytes(text, "emoji.json", suffix=".json")
    assert result.documents[0].data["emoji"] == "\U0001f600"
    assert result.documents[0].position(("kind",)) == (1, 1)


@pytest.mark.parametrize(
    ("text", "position"),
    [
        (b'{"a": NaN}', (1, 7)),
        (b'{"a": "NaN", "b": -Infinity}', (1, 19)),
        (b'{\n "s": "1e400",\n "a": [1, 1e400]}', (3, 11)),
        (b'{"a": 1' + b"0" * 400 + b".5}", (1, 7)),
    ],
)
def test_json_non_finite_numbers_are_located(text: bytes, position: tuple[int, int]) -> None:
    result = load_bytes(text, "nan.json", suffix=".json")
    assert [(f.rule, f.line, f.column) for f in result.findings] == [("NUMBER_OUT_OF_RANGE", *position)]


def test_json_huge_integers_are_refused() -> None:
    result = load_bytes(b'{"a": ' + b"9" * 5000 + b"}", "big.json", suffix=".json")
    assert [f.rule for f in result.findings] == ["NUMBER_OUT_OF_RANGE"]


def test_json_lone_surrogates_are_refused() -> None:
    result = load_bytes(b'{"a": "\\ud800"}', "s.json", suffix=".json")
    assert [f.rule for f in result.findings] == ["NOT_UTF8"]
    fine = load_bytes(b'{"a": "\\u00e9\\ud83d\\ude00"}', "s.json", suffix=".json")
    assert fine.documents[0].data == {"a": "\u00e9\U0001f600"}


def test_json_nesting_limit() -> None:
    nested = b'{"a": ' + b"[" * 150 + b"]" * 150 + b"}"
    assert [f.rule for f in load_bytes(nested, suffix=".json").findings] == ["NESTING_TOO_DEEP"]
    very = b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    result = load_bytes(very, suffix=".json", options=LoadOptions(max_file_size=10_000_000))
    assert [f.rule for f in result.findings] == ["NESTING_TOO_DEEP"]


def test_json_top_level_must_be_an_object() -> None:
    result = load_bytes(b"[1, 2]", "list.json", suffix=".json")
    assert [(f.rule, f.line, f.column) for f in result.findings] == [("NOT_A_MAPPING", 1, 1)]


def test_json_foreign_api_version_is_skipped() -> None:
    result = load_bytes(b'{"apiVersion": "v1", "kind": "Pod"}', "pod.json", suffix=".json")
    assert result.documents == []
    assert [(f.rule, f.line, f.column) for f in result.findings] == [("FOREIGN_API_VERSION", 1, 16)]


def test_json_with_bom() -> None:
    result = load_bytes(b'\xef\xbb\xbf{"kind": "x"}', "bom.json", suffix=".json")
    assert result.documents[0].data == {"kind": "x"}
