"""The structure layer: pydantic errors become findings with stable rule ids, paths and positions."""

from __future__ import annotations

from typing import Any

import pytest

from nestor_catalog_core import Severity
from nestor_catalog_core.loading import load_bytes
from nestor_catalog_core.validation import ValidatedDocument, ValidationSettings, validate_data, validate_document
from tests.core.validation.builders import DELETE, definition


def rules(validated: ValidatedDocument) -> list[tuple[str, str]]:
    return [(f.rule, f.field) for f in validated.findings]


# (rule, field, failing change, passing change)
CASES: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("API_VERSION", "apiVersion", {"apiVersion": "catalog.nestor.io/v2"}, {}),
    ("API_VERSION", "apiVersion", {"apiVersion": DELETE}, {}),
    ("KIND", "kind", {"kind": "Resource"}, {}),
    ("KIND", "kind", {"kind": DELETE}, {}),
    ("NAME_FORMAT", "metadata.name", {"metadata__name": "AWS_RDS"}, {"metadata__name": "aws-rds-2"}),
    ("NAME_FORMAT", "metadata.name", {"metadata__name": "a" * 64}, {"metadata__name": "a" * 63}),
    ("NAME_FORMAT", "metadata.name", {"metadata__name": "-x"}, {"metadata__name": "x"}),
    ("VERSION_FORMAT", "metadata.version", {"metadata__version": "1.2"}, {"metadata__version": "1.2.0-rc.1"}),
    ("VERSION_BUILD_METADATA", "metadata.version", {"metadata__version": "1.2.0+b5"}, {"metadata__version": "1.2.0"}),
    ("VERSION_FORMAT", "metadata.version", {"metadata__version": 1.2}, {"metadata__version": "0.0.1"}),
    ("VERSION_FORMAT", "metadata.version", {"metadata__version": "01.2.3"}, {"metadata__version": "10.2.3"}),
    ("SCHEMA_REQUIRED", "metadata.provider", {"metadata__provider": DELETE}, {}),
    ("SCHEMA_REQUIRED", "spec.outputs[0].type", {"spec__outputs__0__type": DELETE}, {}),
    ("SCHEMA_REQUIRED", "spec", {"spec": DELETE}, {}),
    ("SCHEMA_TYPE", "metadata.maintainers", {"metadata__maintainers": "a@b.co"}, {"metadata__maintainers": ["a@b.co"]}),
    ("SCHEMA_TYPE", "metadata.labels.tier", {"metadata__labels__tier": 1}, {"metadata__labels__tier": "1"}),
    (
        "SCHEMA_TYPE",
        "spec.required_inputs[1].validation.min",
        {"spec__required_inputs__1__validation__min": "20"},
        {"spec__required_inputs__1__validation__min": 20.5},
    ),
    (
        "SCHEMA_TYPE",
        "spec.optional_inputs[2].validation.max_length",
        {"spec__optional_inputs__2__validation__max_length": 3.0},
        {"spec__optional_inputs__2__validation__max_length": 3},
    ),
    ("SCHEMA_TYPE", "spec.outputs[0]", {"spec__outputs__0": "endpoint"}, {}),
    ("SCHEMA_TYPE", "spec.engine_configs.helm", {"spec__engine_configs__helm": "chart"}, {}),
    (
        "SCHEMA_TYPE",
        "metadata.deprecation.sunset",
        {"metadata__deprecation": {"message": "m", "sunset": "next year"}},
        {"metadata__deprecation": {"message": "m", "sunset": "2027-06-30"}},
    ),
    (
        "SCHEMA_TYPE",
        "metadata.deprecation.sunset",
        {"metadata__deprecation": {"message": "m", "sunset": 1798675200}},
        {"metadata__deprecation": {"message": "m", "sunset": None}},
    ),
    ("SCHEMA_TYPE", "spec.outputs[0].sensitive", {"spec__outputs__0__sensitive": "yes"}, {}),
    ("SCHEMA_ENUM", "spec.required_inputs[0].type", {"spec__required_inputs__0__type": "str"}, {}),
    (
        "SCHEMA_ENUM",
        "spec.engine_configs.pulumi.language",
        {"spec__engine_configs__pulumi": {"program_template": "p", "language": "rust"}},
        {
            "spec__engine_configs__pulumi": {"program_template": "p", "language": "go"},
            "spec__supported_engines": ["crossplane", "terraform", "pulumi"],
        },
    ),
    ("SCHEMA_VALUE", "metadata.category", {"metadata__category": ""}, {}),
    ("SCHEMA_VALUE", "spec.required_inputs[0].name", {"spec__required_inputs__0__name": ""}, {}),
    (
        "SCHEMA_VALUE",
        "spec.optional_inputs[1].validation.enum",
        {"spec__optional_inputs__1__validation__enum": []},
        {},
    ),
    (
        "SCHEMA_VALUE",
        "spec.optional_inputs[2].validation.min_length",
        {"spec__optional_inputs__2__validation__min_length": -1},
        {},
    ),
    ("UNKNOWN_FIELD", "metadata.owner", {"metadata__owner": "x"}, {}),
    ("UNKNOWN_FIELD", "spec.outputs[0].value", {"spec__outputs__0__value": "x"}, {}),
    ("UNKNOWN_FIELD", "status", {"status": {}}, {}),
]


@pytest.mark.parametrize(("rule", "field", "failing", "passing"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_rule_fails_and_passes(rule: str, field: str, failing: dict[str, Any], passing: dict[str, Any]) -> None:
    failed = validate_data(definition(**failing))
    assert (rule, field) in rules(failed)
    assert failed.definition is None
    assert not failed.ok
    passed = validate_data(definition(**passing))
    assert passed.findings == []
    assert passed.definition is not None


def test_all_structural_errors_are_reported_at_once() -> None:
    data = definition(
        kind="X",
        metadata__name="Bad Name",
        metadata__version="1",
        metadata__provider=DELETE,
        metadata__extra=1,
        spec__required_inputs__0__type="text",
        spec__outputs__1__name="",
    )
    assert rules(validate_data(data)) == [
        ("KIND", "kind"),
        ("NAME_FORMAT", "metadata.name"),
        ("VERSION_FORMAT", "metadata.version"),
        ("SCHEMA_REQUIRED", "metadata.provider"),
        ("UNKNOWN_FIELD", "metadata.extra"),
        ("SCHEMA_ENUM", "spec.required_inputs[0].type"),
        ("SCHEMA_VALUE", "spec.outputs[1].name"),
    ]


def test_union_branches_collapse_into_one_message() -> None:
    data = definition(spec__required_inputs__1__validation__min="20")
    (finding,) = validate_data(data).findings
    assert finding.message == "must be a number, got the string '20'"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"metadata__version": 1.2}, "quote it so YAML keeps it a string"),
        ({"metadata__version": "v1.2.0"}, "'v1.2.0' is not a full SemVer version; write MAJOR.MINOR.PATCH like 1.2.0"),
        ({"metadata__provider": 3}, "must be a string, got the number 3; quote it so YAML keeps it a string"),
        ({"spec__required_inputs__0__type": "strng"}, "did you mean 'string'?"),
        ({"metadata__maintaners": []}, "unknown field 'maintaners' (did you mean 'maintainers'?); known fields here:"),
        ({"spec__outputs__0__sensitive": 1}, "must be a boolean (true or false), got the number 1"),
        ({"spec__required_inputs__1__validation__min": True}, "booleans are not numbers"),
        ({"apiVersion": "v1"}, "must be catalog.nestor.io/v1, got the string 'v1'"),
    ],
)
def test_messages_say_what_to_do(change: dict[str, Any], message: str) -> None:
    assert message in " | ".join(f.message for f in validate_data(definition(**change)).findings)


def test_not_a_mapping() -> None:
    validated = validate_data(["not", "a", "definition"])
    assert rules(validated) == [("NOT_A_MAPPING", "")]
    assert validated.findings[0].message.endswith("not a list")


def test_validate_data_has_no_positions() -> None:
    (finding,) = validate_data(definition(metadata__provider="AWS"), file="api").findings
    assert (finding.file, finding.line, finding.column) == ("api", None, None)


def test_non_strict_mode_drops_unknown_fields_with_warnings() -> None:
    data = definition(metadata__owner="team", spec__outputs__0__value="x")
    validated = validate_data(data, settings=ValidationSettings(strict_mode=False))
    assert [(f.rule, f.severity, f.field) for f in validated.findings] == [
        ("UNKNOWN_FIELD", Severity.WARNING, "metadata.owner"),
        ("UNKNOWN_FIELD", Severity.WARNING, "spec.outputs[0].value"),
    ]
    assert validated.ok
    assert validated.definition is not None
    assert validated.definition.to_dict() == validate_data(definition()).definition.to_dict()  # type: ignore[union-attr]
    assert data["metadata"]["owner"] == "team"


def test_non_strict_mode_still_reports_other_errors() -> None:
    data = definition(metadata__owner="team", metadata__name="Bad")
    validated = validate_data(data, settings=ValidationSettings(strict_mode=False))
    assert [(f.rule, f.severity) for f in validated.findings] == [
        ("UNKNOWN_FIELD", Severity.WARNING),
        ("NAME_FORMAT", Severity.ERROR),
    ]
    assert validated.definition is None


def test_lax_types_coerce_harmless_drift() -> None:
    data = definition(spec__required_inputs__1__validation__min="20", spec__outputs__0__sensitive="false")
    assert not validate_data(data).ok
    validated = validate_data(data, settings=ValidationSettings(schema_validation=False))
    assert validated.findings == []
    assert validated.definition is not None
    assert validated.definition.spec.required_inputs[1].validation.min == 20  # type: ignore[union-attr]


def test_lax_types_still_reject_what_cannot_be_built() -> None:
    data = definition(metadata__version=1.2, spec__outputs__0__type="text")
    validated = validate_data(data, settings=ValidationSettings(schema_validation=False))
    assert [f.rule for f in validated.findings] == ["VERSION_FORMAT", "SCHEMA_ENUM"]
    assert all(f.severity is Severity.ERROR for f in validated.findings)


def test_identity_rules_apply_with_every_layer_off() -> None:
    off = ValidationSettings(strict_mode=False, schema_validation=False, policy_enforcement=False)
    validated = validate_data(definition(metadata__name="UPPER", metadata__version="1"), settings=off)
    assert [f.rule for f in validated.findings] == ["NAME_FORMAT", "VERSION_FORMAT"]


YAML = b"""apiVersion: catalog.nestor.io/v1
kind: ResourceDefinition
metadata:
  name: aws-thing
  version: 1.0
  provider: aws
  category: compute
  owner: me
spec:
  supported_engines: terraform
  required_inputs:
    - name: size
      type: integer
      validation: {min: "1"}
"""


def test_findings_carry_file_positions() -> None:
    document = load_bytes(YAML, "thing.yaml").documents[0]
    validated = validate_document(document)
    assert [(f.rule, f.field, f.line, f.column) for f in validated.findings] == [
        ("VERSION_FORMAT", "metadata.version", 5, 12),
        ("SCHEMA_REQUIRED", "metadata.resource_type", 3, 1),
        ("UNKNOWN_FIELD", "metadata.owner", 8, 3),
        ("SCHEMA_TYPE", "spec.supported_engines", 10, 22),
        ("SCHEMA_TYPE", "spec.required_inputs[0].validation.min", 14, 25),
    ]
    assert all(f.file == "thing.yaml" for f in validated.findings)
    assert str(validated.findings[0]).startswith("thing.yaml:5:12: error [VERSION_FORMAT] metadata.version: ")


def test_policies_run_after_structure_succeeds_and_are_positioned() -> None:
    text = YAML.replace(b"1.0", b'"1.0.0"').replace(b"  owner: me\n", b"  resource_type: x\n")
    text = text.replace(b"terraform\n", b"[Terraform]\n").replace(b'{min: "1"}', b"{min: 5, max: 1}")
    validated = validate_document(load_bytes(text, "thing.yaml").documents[0])
    assert [(f.rule, f.line, f.column) for f in validated.findings] == [
        ("DESCRIPTION_MISSING", 3, 1),
        ("MAINTAINERS_REQUIRED", 3, 1),
        ("ENGINE_NAME_FORMAT", 10, 23),
        ("ENGINE_CONFIG_MISSING", 10, 23),
        ("MIN_GT_MAX", 14, 25),
        ("DESCRIPTION_MISSING", 12, 7),
    ]
    assert validated.definition is not None
    assert not validated.ok
