"""YAML loading: plain data like ``yaml.safe_load``, and a finding for everything unsafe."""

from __future__ import annotations

import pytest
import yaml

from nestor_catalog_core import Finding, Severity
from nestor_catalog_core.loading import LoadOptions, load_bytes, load_yaml_document

HEADER = b"apiVersion: catalog.nestor.io/v1\nkind: ResourceDefinition\n"


def rules(findings: list[Finding]) -> list[tuple[str, int | None, int | None]]:
    return [(f.rule, f.line, f.column) for f in findings]


def test_scalars_resolve_like_safe_load_except_timestamps() -> None:
    text = (
        HEADER
        + b"ints: [1, -2, 0x1F, 0o17, 017, 1_000, 1:30]\n"
        + b"floats: [1.5, -2.5e3, 1_0.5]\nbools: [true, False, on, no]\nnulls: [~, null, ]\n"
        + b"strings: [abc, '1', \"x\"]\n"
    )
    result = load_bytes(text, "f.yaml")
    assert result.findings == []
    data = result.documents[0].data
    assert data == yaml.load(text, Loader=yaml.CSafeLoader)
    assert data["ints"] == [1, -2, 31, "0o17", 15, 1000, 90]
    assert data["bools"] == [True, False, True, False]


def test_timestamps_and_value_keys_stay_text() -> None:
    result = load_bytes(HEADER + b"when: [2001-12-14, 2001-12-14t21:59:43.10-05:00]\nsign: =\n")
    assert result.findings == []
    data = result.documents[0].data
    assert data["when"] == ["2001-12-14", "2001-12-14t21:59:43.10-05:00"]
    assert data["sign"] == "="


def test_multi_document_stream_keeps_indexes_and_positions() -> None:
    text = HEADER + b"metadata: {name: a}\n---\n---\n" + HEADER + b"metadata: {name: b}\n"
    result = load_bytes(text, "multi.yaml")
    assert result.findings == []
    assert [(d.index, d.data["metadata"]["name"]) for d in result.documents] == [(0, "a"), (2, "b")]
    assert result.documents[1].position(("metadata", "name")) == (8, 18)


def test_duplicate_keys_are_reported_at_each_repeat() -> None:
    text = HEADER + b"metadata:\n  name: a\n  name: b\n  labels: {x: '1', x: '2'}\n"
    result = load_bytes(text, "dup.yaml")
    assert result.documents == []
    assert rules(result.findings) == [("DUPLICATE_KEY", 5, 3), ("DUPLICATE_KEY", 6, 20)]
    assert "'name'" in result.findings[0].message
    assert "(first at line 4)" in result.findings[0].message
    assert "(first at line 6)" in result.findings[1].message


def test_a_single_yaml_document_loads_with_positions_and_the_same_checks() -> None:
    document, findings = load_yaml_document(b"service:\n  <<: {port: 1}\n  name: x\n", "c.yaml")
    assert findings == []
    assert document is not None
    assert document.data == {"service": {"port": 1, "name": "x"}}
    assert document.position(("service", "port"), key=True) == (2, 8)
    assert load_yaml_document(b"") == (None, [])
    assert load_yaml_document(b"# only a comment\n") == (None, [])
    document, findings = load_yaml_document(b"a: 1\n---\nb: 2\n", "two.yaml")
    assert document is None
    assert rules(findings) == [("YAML_SYNTAX", 3, 1)]
    document, findings = load_yaml_document(b"a: !!python/name:os.system x\n", "tag.yaml")
    assert document is None
    assert [f.rule for f in findings] == ["YAML_TAG"]


@pytest.mark.parametrize(
    ("snippet", "tag"),
    [
        (b"x: !!python/object/apply:os.system ['true']", "!!python/object/apply:os.system"),
        (b"x: !!python/name:os.system ''", "!!python/name:os.system"),
        (b"x: !custom value", "!custom"),
        (b"x: !!binary aGVsbG8=", "!!binary"),
        (b"x: !!set {a, b}", "!!set"),
        (b"x: !!omap [a: 1]", "!!omap"),
        (b"x: !<tag:example.com,2024:thing> {}", "tag:example.com,2024:thing"),
    ],
)
def test_tags_are_never_constructed(snippet: bytes, tag: str) -> None:
    result = load_bytes(HEADER + snippet + b"\n", "tags.yaml")
    assert result.documents == []
    assert [(f.rule, f.line, f.column) for f in result.findings] == [("YAML_TAG", 3, 4)]
    assert repr(tag) in result.findings[0].message


def test_standard_tags_resolve_to_plain_values() -> None:
    result = load_bytes(HEADER + b"a: !!str 12\nb: !!int '7'\nc: !!float '1'\nd: !!bool 'yes'\ne: !!null ''\n")
    assert result.findings == []
    data = result.documents[0].data
    assert (data["a"], data["b"], data["c"], data["d"], data["e"]) == ("12", 7, 1.0, True, None)


def test_standard_tag_on_a_value_it_cannot_hold() -> None:
    result = load_bytes(HEADER + b"a: !!int twelve\n")
    assert rules(result.findings) == [("YAML_TAG", 3, 4)]
    assert "is not a valid !!int value" in result.findings[0].message


def test_non_string_keys_must_be_quoted() -> None:
    result = load_bytes(HEADER + b"labels:\n  1: a\n  true: b\n  ~: c\n  [x]: d\n  '2': ok\n")
    assert rules(result.findings) == [
        ("NON_STRING_KEY", 4, 3),
        ("NON_STRING_KEY", 5, 3),
        ("NON_STRING_KEY", 6, 3),
        ("NON_STRING_KEY", 7, 3),
    ]
    assert "reads as an integer" in result.findings[0].message


def test_aliases_within_budget_expand_to_independent_copies() -> None:
    result = load_bytes(HEADER + b"a: &x {k: [1, 2]}\nb: *x\nc: *x\n")
    assert result.findings == []
    data = result.documents[0].data
    assert data["a"] == data["b"] == data["c"] == {"k": [1, 2]}
    data["b"]["k"].append(3)
    assert data["a"] == {"k": [1, 2]}


def test_billion_laughs_stops_at_the_budget() -> None:
    lines = [b"l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]".encode() for i in range(1, 10)]
    result = load_bytes(HEADER + b"\n".join(lines) + b"\n", "bomb.yaml")
    assert result.documents == []
    assert [f.rule for f in result.findings] == ["YAML_ALIAS_BOMB"]
    assert "10,000 nodes" in result.findings[0].message


def test_alias_budget_is_configurable() -> None:
    text = HEADER + b"a: &x [1, 2, 3]\nb: [*x, *x]\n"
    assert load_bytes(text, options=LoadOptions(max_alias_expansion=8)).findings == []
    result = load_bytes(text, options=LoadOptions(max_alias_expansion=7))
    assert [f.rule for f in result.findings] == ["YAML_ALIAS_BOMB"]


def test_long_scalars_reached_through_aliases_count_against_the_size_limit() -> None:
    text = HEADER + b"a: &x '" + b"y" * 500 + b"'\nb: [" + b", ".join([b"*x"] * 30) + b"]\n"
    assert load_bytes(text).findings == []
    result = load_bytes(text, options=LoadOptions(max_file_size=10_000))
    assert [f.rule for f in result.findings] == ["YAML_ALIAS_BOMB"]


@pytest.mark.parametrize("text", [b"a: &a [*a]\n", b"a: &a {b: *a}\n", b"a: &a [[[*a]]]\n"])
def test_recursive_aliases_are_refused(text: bytes) -> None:
    result = load_bytes(HEADER + text)
    assert [f.rule for f in result.findings] == ["YAML_ALIAS_BOMB"]
    assert "recursive alias" in result.findings[0].message


def test_merge_keys_follow_yaml_semantics() -> None:
    text = HEADER + (
        b"base: &base {a: 1, b: 2}\nother: &other {b: 3, c: 4}\n"
        b"merged:\n  <<: [*base, *other]\n  a: 10\n"
        b"single:\n  <<: *other\n"
    )
    result = load_bytes(text)
    assert result.findings == []
    data = result.documents[0].data
    assert data["merged"] == {"a": 10, "b": 2, "c": 4}
    assert data["single"] == {"b": 3, "c": 4}
    assert result.documents[0].position(("merged", "c")) == (4, 25)
    assert result.documents[0].position(("merged", "a")) == (7, 6)


def test_merge_key_must_point_at_mappings() -> None:
    result = load_bytes(HEADER + b"m:\n  <<: [1]\n  a: 1\n")
    assert rules(result.findings) == [("YAML_SYNTAX", 4, 8)]
    assert "merge key takes a mapping" in result.findings[0].message


@pytest.mark.parametrize("value", [b".inf", b"-.Inf", b".nan", b"1e400"])
def test_non_finite_numbers_are_refused(value: bytes) -> None:
    text = HEADER + b"x: !!float " + value + b"\n"
    result = load_bytes(text)
    assert rules(result.findings) == [("NUMBER_OUT_OF_RANGE", 3, 4)]


def test_integers_with_thousands_of_digits_are_refused() -> None:
    result = load_bytes(HEADER + b"x: " + b"9" * 5000 + b"\n")
    assert rules(result.findings) == [("NUMBER_OUT_OF_RANGE", 3, 4)]
    assert "too many digits" in result.findings[0].message


def test_nesting_beyond_the_limit_is_refused_without_recursion_errors() -> None:
    deep = HEADER + b"x: " + b"[" * 900 + b"]" * 900 + b"\n"
    result = load_bytes(deep)
    assert [f.rule for f in result.findings] == ["NESTING_TOO_DEEP"]
    shallow = HEADER + b"x: " + b"[" * 10 + b"]" * 10 + b"\n"
    assert load_bytes(shallow, options=LoadOptions(max_depth=12)).findings == []
    assert [f.rule for f in load_bytes(shallow, options=LoadOptions(max_depth=10)).findings] == ["NESTING_TOO_DEEP"]


def test_libyaml_nesting_limit_is_a_syntax_finding() -> None:
    result = load_bytes(b"[" * 20_000)
    assert [f.rule for f in result.findings] == ["YAML_SYNTAX"]


def test_syntax_errors_point_at_the_problem_and_keep_earlier_documents() -> None:
    text = HEADER + b"metadata: {name: a}\n---\n" + HEADER + b"metadata: {name: [b}\n"
    result = load_bytes(text, "broken.yaml")
    assert [d.data["metadata"]["name"] for d in result.documents] == ["a"]
    assert [(f.rule, f.line) for f in result.findings] == [("YAML_SYNTAX", 7)]


def test_unclosed_quote_says_where_it_started() -> None:
    result = load_bytes(b"a: 1\nb: 'open\nc: 2\n")
    assert [f.rule for f in result.findings] == ["YAML_SYNTAX"]
    assert "started at line 2, column 4" in result.findings[0].message


def test_control_characters_are_syntax_findings_with_a_position() -> None:
    result = load_bytes(b"a: 1\nb: x\x07y\n")
    assert rules(result.findings) == [("YAML_SYNTAX", 2, 5)]
    assert "control characters" in result.findings[0].message


@pytest.mark.parametrize(
    ("data", "position"),
    [(b"a: caf\xe9\n", (1, 7)), (b"a: ok\nb: \xc3\x28\n", (2, 4)), (b"\xff\xfe\x00a", (1, 1)), (b"a: \xc3", (1, 4))],
)
def test_non_utf8_bytes_are_located(data: bytes, position: tuple[int, int]) -> None:
    result = load_bytes(data, "latin1.yaml")
    assert rules(result.findings) == [("NOT_UTF8", *position)]


def test_utf8_bom_is_accepted() -> None:
    result = load_bytes(b"\xef\xbb\xbf" + HEADER + b"metadata: {name: x}\n")
    assert result.findings == []
    assert result.documents[0].data["metadata"] == {"name": "x"}


def test_file_size_limit_applies_to_bytes() -> None:
    result = load_bytes(b"a: 1\n" * 10, "big.yaml", options=LoadOptions(max_file_size=20))
    assert rules(result.findings) == [("FILE_TOO_LARGE", 1, 1)]
    assert "50 bytes" in result.findings[0].message


def test_documents_of_other_apis_are_skipped_with_a_notice() -> None:
    text = b"apiVersion: apps/v1\nkind: Deployment\n---\n" + HEADER + b"metadata: {}\n"
    result = load_bytes(text, "mixed.yaml")
    assert [d.index for d in result.documents] == [1]
    assert [(f.rule, f.severity, f.line, f.column, f.field) for f in result.findings] == [
        ("FOREIGN_API_VERSION", Severity.INFO, 1, 13, "apiVersion")
    ]


def test_other_versions_of_the_catalog_api_are_errors() -> None:
    result = load_bytes(b"apiVersion: catalog.nestor.io/v2\nkind: ResourceDefinition\n")
    assert result.documents == []
    assert [(f.rule, f.severity) for f in result.findings] == [("API_VERSION", Severity.ERROR)]


def test_documents_without_api_version_are_kept_for_validation() -> None:
    result = load_bytes(b"kind: ResourceDefinition\n")
    assert result.findings == []
    assert result.documents[0].data == {"kind": "ResourceDefinition"}


@pytest.mark.parametrize(("text", "what"), [(b"- a\n", "a list"), (b"just text\n", "a string"), (b"42\n", "a number")])
def test_documents_must_be_mappings(text: bytes, what: str) -> None:
    result = load_bytes(text)
    assert rules(result.findings) == [("NOT_A_MAPPING", 1, 1)]
    assert result.findings[0].message.endswith(what)


@pytest.mark.parametrize("text", [b"", b"# nothing here\n", b"---\n...\n"])
def test_files_without_documents_get_a_notice(text: bytes) -> None:
    result = load_bytes(text, "empty.yaml")
    assert result.documents == []
    assert [(f.rule, f.severity) for f in result.findings] == [("EMPTY_DOCUMENT", Severity.INFO)]


def test_empty_documents_between_others_are_skipped_silently() -> None:
    result = load_bytes(HEADER + b"---\n---\n# just a comment\n")
    assert result.findings == []
    assert len(result.documents) == 1


def test_all_findings_of_a_document_are_reported_together() -> None:
    text = HEADER + b"a: !x 1\nb: 1\nb: 2\n3: c\nd: .nan\n"
    assert [f.rule for f in load_bytes(text).findings] == [
        "YAML_TAG",
        "DUPLICATE_KEY",
        "NON_STRING_KEY",
        "NUMBER_OUT_OF_RANGE",
    ]
