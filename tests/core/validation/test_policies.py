"""Every policy rule with a failing and a passing case."""

from __future__ import annotations

from typing import Any

import pytest

from nestor_catalog_core import Severity
from nestor_catalog_core.models import ResourceDefinition
from nestor_catalog_core.validation import ValidationSettings, check_policies, validate_data
from tests.core.validation.builders import BASE, DELETE, definition


def findings_of(data: dict[str, Any]) -> list[tuple[str, str]]:
    return [(f.rule, f.field) for f in validate_data(data).findings]


def test_base_definition_passes_every_rule() -> None:
    validated = validate_data(definition())
    assert validated.findings == []
    assert validated.ok


# (rule, field, failing change, passing change): the passing change is the nearest valid value.
CASES: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    (
        "INPUT_NAME_SNAKE_CASE",
        "spec.required_inputs[0].name",
        {"spec__required_inputs__0__name": "instanceClass"},
        {"spec__required_inputs__0__name": "instance_class_2"},
    ),
    (
        "INPUT_NAME_UNIQUE",
        "spec.optional_inputs[0].name",
        {"spec__optional_inputs__0__name": "allocated_storage"},
        {"spec__optional_inputs__0__name": "allocated_storage_gb"},
    ),
    (
        "OUTPUT_NAME_SNAKE_CASE",
        "spec.outputs[1].name",
        {"spec__outputs__1__name": "Port"},
        {"spec__outputs__1__name": "port_number"},
    ),
    ("OUTPUT_NAME_UNIQUE", "spec.outputs[1].name", {"spec__outputs__1__name": "endpoint"}, {}),
    ("ENGINES_REQUIRED", "spec.supported_engines", {"spec__supported_engines": [], "spec__engine_configs": {}}, {}),
    (
        "ENGINE_NAME_FORMAT",
        "spec.supported_engines[1]",
        {"spec__supported_engines__1": "Terraform"},
        {"spec__supported_engines": ["crossplane", "terraform", "aws-cdk"], "spec__engine_configs__aws-cdk": {"a": 1}},
    ),
    (
        "ENGINE_DUPLICATE",
        "spec.supported_engines[2]",
        {"spec__supported_engines": ["crossplane", "terraform", "terraform"]},
        {},
    ),
    (
        "ENGINE_CONFIG_MISSING",
        "spec.supported_engines[2]",
        {"spec__supported_engines": ["crossplane", "terraform", "pulumi"]},
        {
            "spec__supported_engines": ["crossplane", "terraform", "pulumi"],
            "spec__engine_configs__pulumi": {"program_template": "p"},
        },
    ),
    (
        "ENGINE_CONFIG_UNKNOWN",
        "spec.engine_configs.helm",
        {"spec__engine_configs__helm": {"chart": "bitnami/mysql"}},
        {"spec__supported_engines": ["crossplane", "terraform", "helm"], "spec__engine_configs__helm": {"chart": "c"}},
    ),
    (
        "DEFAULT_TYPE_MISMATCH",
        "spec.optional_inputs[0].default",
        {"spec__optional_inputs__0__default": "7"},
        {"spec__optional_inputs__0__default": 7.0},
    ),
    (
        "DEFAULT_TYPE_MISMATCH",
        "spec.optional_inputs[0].default",
        {"spec__optional_inputs__0__default": True},
        {"spec__optional_inputs__0__default": 1},
    ),
    (
        "DEFAULT_VIOLATES_VALIDATION",
        "spec.optional_inputs[0].default",
        {"spec__optional_inputs__0__default": 36},
        {"spec__optional_inputs__0__default": 35},
    ),
    (
        "DEFAULT_VIOLATES_VALIDATION",
        "spec.optional_inputs[1].default",
        {"spec__optional_inputs__1__default": "8.1"},
        {"spec__optional_inputs__1__default": "5.7"},
    ),
    (
        "DEFAULT_VIOLATES_VALIDATION",
        "spec.optional_inputs[2].default",
        {"spec__optional_inputs__2__default": []},
        {"spec__optional_inputs__2__default": ["a", "b", "c"]},
    ),
    (
        "DEFAULT_ON_REQUIRED",
        "spec.required_inputs[1].default",
        {"spec__required_inputs__1__default": 100},
        {"spec__required_inputs__1__default": None},
    ),
    (
        "SENSITIVE_DEFAULT",
        "spec.optional_inputs[1].default",
        {"spec__optional_inputs__1__sensitive": True},
        {"spec__optional_inputs__1__sensitive": True, "spec__optional_inputs__1__default": DELETE},
    ),
    (
        "PATTERN_INVALID",
        "spec.required_inputs[0].validation.pattern",
        {"spec__required_inputs__0__validation__pattern": "^db\\.(t3"},
        {"spec__required_inputs__0__validation__pattern": "^db\\.(t3)"},
    ),
    (
        "MIN_GT_MAX",
        "spec.required_inputs[1].validation.min",
        {"spec__required_inputs__1__validation__min": 1001},
        {"spec__required_inputs__1__validation__min": 1000},
    ),
    (
        "LENGTH_MIN_GT_MAX",
        "spec.optional_inputs[2].validation.min_length",
        {"spec__optional_inputs__2__validation__min_length": 4},
        {"spec__optional_inputs__2__validation__min_length": 3},
    ),
    (
        "VALIDATION_NOT_APPLICABLE",
        "spec.required_inputs[1].validation.pattern",
        {"spec__required_inputs__1__validation__pattern": "^[0-9]+$"},
        {"spec__required_inputs__1__validation__enum": [20, 100]},
    ),
    (
        "VALIDATION_NOT_APPLICABLE",
        "spec.required_inputs[0].validation.min",
        {"spec__required_inputs__0__validation__min": 1},
        {"spec__required_inputs__0__validation__min_length": 1},
    ),
    (
        "ENUM_TYPE_MISMATCH",
        "spec.optional_inputs[1].validation.enum[1]",
        {"spec__optional_inputs__1__validation__enum": ["5.7", 8.0]},
        {"spec__optional_inputs__1__validation__enum": ["5.7", "8.0", "8.4"]},
    ),
    (
        "ENUM_VIOLATES_VALIDATION",
        "spec.optional_inputs[1].validation.enum[2]",
        {"spec__optional_inputs__1__validation__enum": ["5.7", "8.0", "8.0.36"]},
        {"spec__optional_inputs__1__validation__enum": ["5.7", "8.0", "8.4"]},
    ),
    ("MAINTAINERS_REQUIRED", "metadata.maintainers", {"metadata__maintainers": []}, {}),
    (
        "MAINTAINER_EMAIL",
        "metadata.maintainers[1]",
        {"metadata__maintainers": ["a@company.com", "platform team"]},
        {"metadata__maintainers": ["a@company.com", "platform.team+db@eu.company.com"]},
    ),
    ("PROVIDER_FORMAT", "metadata.provider", {"metadata__provider": "AWS"}, {"metadata__provider": "ibm-cloud"}),
    (
        "CATEGORY_FORMAT",
        "metadata.category",
        {"metadata__category": "data base"},
        {"metadata__category": "data-base"},
    ),
    (
        "RESOURCE_TYPE_FORMAT",
        "metadata.resource_type",
        {"metadata__resource_type": "MySQL"},
        {"metadata__resource_type": "my_sql"},
    ),
    (
        "LABEL_FORMAT",
        'metadata.labels["-bad"]',
        {"metadata__labels": {"-bad": "x"}},
        {"metadata__labels": {"good_key.x": "x"}},
    ),
    (
        "LABEL_FORMAT",
        "metadata.labels.tier",
        {"metadata__labels": {"tier": "x" * 64}},
        {"metadata__labels": {"tier": "x" * 63}},
    ),
    (
        "LABEL_FORMAT",
        'metadata.labels["Example.com/tier"]',
        {"metadata__labels": {"Example.com/tier": "x"}},
        {"metadata__labels": {"example.com/tier": ""}},
    ),
    ("DESCRIPTION_MISSING", "metadata.description", {"metadata__description": " "}, {}),
    ("DESCRIPTION_MISSING", "spec.required_inputs[0].description", {"spec__required_inputs__0__description": ""}, {}),
    ("DESCRIPTION_MISSING", "spec.outputs[0].description", {"spec__outputs__0__description": DELETE}, {}),
    (
        "DEPRECATION_REPLACEMENT",
        "metadata.deprecation.replacement",
        {"metadata__deprecation": {"message": "m", "replacement": "Aurora MySQL"}},
        {"metadata__deprecation": {"message": "m", "replacement": "aws-aurora-mysql"}},
    ),
    (
        "DEPRECATION_REPLACEMENT",
        "metadata.deprecation.replacement",
        {"metadata__deprecation": {"message": "m", "replacement": "aws-rds-mysql@^^2"}},
        {"metadata__deprecation": {"message": "m", "replacement": "aws-rds-mysql@^2"}},
    ),
    (
        "DEPRECATION_REPLACEMENT",
        "metadata.deprecation.replacement",
        {"metadata__deprecation": {"message": "m", "replacement": "aws-rds-mysql"}},
        {"metadata__deprecation": {"message": "m", "replacement": "aws-rds-mysql@>=2.0.0, <3"}},
    ),
]


@pytest.mark.parametrize(("rule", "field", "failing", "passing"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_rule_fails_and_passes(rule: str, field: str, failing: dict[str, Any], passing: dict[str, Any]) -> None:
    assert (rule, field) in findings_of(definition(**failing))
    assert [f for f in findings_of(definition(**passing)) if f[0] == rule] == []


def test_policy_findings_have_severities_from_the_table() -> None:
    data = definition(spec__required_inputs__1__default=100, metadata__provider="AWS")
    severities = {f.rule: f.severity for f in validate_data(data).findings}
    assert severities == {"DEFAULT_ON_REQUIRED": Severity.WARNING, "PROVIDER_FORMAT": Severity.ERROR}


def test_sensitive_values_stay_out_of_messages() -> None:
    data = definition(
        spec__optional_inputs__1__sensitive=True,
        spec__optional_inputs__1__default="hunter2-hunter2",
    )
    messages = " ".join(f.message for f in validate_data(data).findings)
    assert "DEFAULT_VIOLATES_VALIDATION" in {f.rule for f in validate_data(data).findings}
    assert "hunter2" not in messages


def test_snake_case_message_suggests_a_name() -> None:
    data = definition(spec__required_inputs__0__name="InstanceClass")
    (finding,) = [f for f in validate_data(data).findings if f.rule == "INPUT_NAME_SNAKE_CASE"]
    assert finding.message == "input name 'InstanceClass' must be snake_case, like 'instance_class'"


def test_pattern_invalid_says_why() -> None:
    data = definition(spec__required_inputs__0__validation__pattern="[a-")
    (finding,) = [f for f in validate_data(data).findings if f.rule == "PATTERN_INVALID"]
    assert finding.message == "pattern '[a-' is not a valid regular expression: missing ]: [a-"


def test_pattern_invalid_applies_with_policies_off() -> None:
    data = definition(spec__required_inputs__0__validation__pattern="(a)\\1")
    findings = validate_data(data, settings=ValidationSettings(policy_enforcement=False)).findings
    assert [f.rule for f in findings] == ["PATTERN_INVALID"]


def test_check_policies_runs_on_a_built_model_without_positions() -> None:
    model = ResourceDefinition.model_validate(definition(metadata__maintainers=["nobody"]))
    (finding,) = check_policies(model)
    assert (finding.rule, finding.field, finding.file, finding.line) == (
        "MAINTAINER_EMAIL",
        "metadata.maintainers[0]",
        None,
        None,
    )


def test_policy_enforcement_can_be_switched_off() -> None:
    data = definition(metadata__provider="AWS", metadata__name="Bad")
    off = validate_data(data, settings=ValidationSettings(policy_enforcement=False))
    assert [f.rule for f in off.findings] == ["NAME_FORMAT"]
    assert off.definition is None
    relaxed = validate_data(definition(metadata__provider="AWS"), settings=ValidationSettings(policy_enforcement=False))
    assert relaxed.ok
    assert relaxed.definition is not None


def test_every_policy_issue_is_reported_at_once() -> None:
    data = definition(
        metadata__provider="AWS",
        metadata__maintainers=[],
        spec__outputs=[{"name": "A", "type": "string", "description": "x"}],
        spec__required_inputs__0__name="Bad",
    )
    assert sorted(rule for rule, _ in findings_of(data)) == sorted(
        ["PROVIDER_FORMAT", "MAINTAINERS_REQUIRED", "OUTPUT_NAME_SNAKE_CASE", "INPUT_NAME_SNAKE_CASE"]
    )


def test_base_is_not_mutated_by_the_builders() -> None:
    definition(metadata__provider="AWS")
    assert BASE["metadata"]["provider"] == "aws"
