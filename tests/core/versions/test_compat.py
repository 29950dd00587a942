from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from nestor_catalog_core import IncompatibleChange, InvalidRequest, InvalidVersion, ResourceDefinition, Severity
from nestor_catalog_core.loading import load_bytes
from nestor_catalog_core.models import canonical_json
from nestor_catalog_core.models.definition import InputSpec, InputValidation, Metadata, OutputSpec, Spec
from nestor_catalog_core.versions import (
    RULES,
    Bump,
    Change,
    changed_fields,
    compare,
    declared_bump,
    next_version,
)
from nestor_catalog_core.versions.compat import KNOWN_FIELDS, changed_fields_of

BASE_YAML = """\
apiVersion: catalog.nestor.io/v1
kind: ResourceDefinition
metadata:
  name: aws-rds-mysql
  version: "1.0.0"
  provider: aws
  category: database
  resource_type: mysql
  description: "AWS RDS MySQL database instance"
  maintainers:
    - platform-team@company.com
    - dba@company.com
  labels:
    team: data
spec:
  supported_engines:
    - crossplane
    - pulumi
    - terraform
  required_inputs:
    - name: instance_class
      type: string
      description: "DB instance class (e.g., db.t3.micro)"
      validation:
        pattern: "^db\\\\.[a-z0-9]+\\\\.[a-z]+$"
    - name: allocated_storage
      type: integer
      description: "Allocated storage in GB"
      validation:
        min: 20
        max: 1000
  optional_inputs:
    - name: backup_retention_period
      type: integer
      default: 7
      description: "Backup retention period in days"
    - name: storage_type
      type: string
      default: gp3
      description: "EBS volume type"
      validation:
        enum: [gp2, gp3, io1]
        min_length: 3
        max_length: 3
  outputs:
    - name: endpoint
      type: string
      description: "Database connection endpoint"
    - name: password
      type: string
      description: "Master password"
      sensitive: true
  engine_configs:
    crossplane:
      composition_ref: "aws-rds-mysql-composition"
      version: "v1.0.0"
    pulumi:
      program_template: "aws-rds-mysql-pulumi"
      language: "typescript"
    terraform:
      module_source: "terraform-aws-modules/rds/aws"
      module_version: "~> 5.0"
"""

BASE: dict[str, Any] = yaml.safe_load(BASE_YAML)

Mutation = Callable[[dict[str, Any]], None]


def definition(version: str = "1.0.0", mutate: Mutation | None = None) -> ResourceDefinition:
    data = copy.deepcopy(BASE)
    data["metadata"]["version"] = version
    if mutate is not None:
        mutate(data)
    return ResourceDefinition.model_validate(data)


def _spec(data: dict[str, Any]) -> dict[str, Any]:
    return data["spec"]


def _inputs(data: dict[str, Any], section: str, name: str) -> dict[str, Any]:
    return next(item for item in data["spec"][section] if item["name"] == name)


def _set_validation(section: str, name: str, attribute: str, value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        validation = _inputs(data, section, name).setdefault("validation", {})
        if value is None:
            validation.pop(attribute, None)
        else:
            validation[attribute] = value

    return mutate


def _remove_input(section: str, name: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        data["spec"][section] = [item for item in data["spec"][section] if item["name"] != name]

    return mutate


def _move_input(name: str, source: str, target: str, **updates: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        item = _inputs(data, source, name)
        data["spec"][source].remove(item)
        item.update(updates)
        for key, value in list(item.items()):
            if value is None:
                del item[key]
        data["spec"][target].append(item)

    return mutate


def _update(path: tuple[Any, ...], value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        target = data
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return mutate


def _remove_engine(engine: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        data["spec"]["supported_engines"].remove(engine)
        del data["spec"]["engine_configs"][engine]

    return mutate


def _add_engine(engine: str, config: dict[str, Any]) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        data["spec"]["supported_engines"].append(engine)
        data["spec"]["engine_configs"][engine] = config

    return mutate


REQ, OPT = "required_inputs", "optional_inputs"

# (id, mutation, rule, field, old, new, needs)
CASES: list[tuple[str, Mutation, str, str, Any, Any, Bump]] = [
    (
        "optional input removed",
        _remove_input(OPT, "backup_retention_period"),
        "INPUT_REMOVED",
        "spec.optional_inputs[0]",
        "backup_retention_period",
        None,
        Bump.MAJOR,
    ),
    (
        "required input removed",
        _remove_input(REQ, "instance_class"),
        "INPUT_REMOVED",
        "spec.required_inputs[0]",
        "instance_class",
        None,
        Bump.MAJOR,
    ),
    (
        "required input added",
        lambda d: d["spec"][REQ].append({"name": "vpc_id", "type": "string"}),
        "REQUIRED_INPUT_ADDED",
        "spec.required_inputs[2]",
        None,
        "vpc_id",
        Bump.MAJOR,
    ),
    (
        "optional made required",
        _move_input("backup_retention_period", OPT, REQ, default=None),
        "INPUT_MADE_REQUIRED",
        "spec.required_inputs[2]",
        "optional",
        "required",
        Bump.MAJOR,
    ),
    (
        "input type changed",
        _update(("spec", REQ, 1, "type"), "number"),
        "INPUT_TYPE_CHANGED",
        "spec.required_inputs[1].type",
        "integer",
        "number",
        Bump.MAJOR,
    ),
    (
        "min raised",
        _set_validation(REQ, "allocated_storage", "min", 50),
        "VALIDATION_TIGHTENED",
        "spec.required_inputs[1].validation.min",
        20,
        50,
        Bump.MAJOR,
    ),
    (
        "max lowered",
        _set_validation(REQ, "allocated_storage", "max", 500),
        "VALIDATION_TIGHTENED",
        "spec.required_inputs[1].validation.max",
        1000,
        500,
        Bump.MAJOR,
    ),
    (
        "min_length raised",
        _set_validation(OPT, "storage_type", "min_length", 4),
        "VALIDATION_TIGHTENED",
        "spec.optional_inputs[1].validation.min_length",
        3,
        4,
        Bump.MAJOR,
    ),
    (
        "max_length lowered",
        _set_validation(OPT, "storage_type", "max_length", 2),
        "VALIDATION_TIGHTENED",
        "spec.optional_inputs[1].validation.max_length",
        3,
        2,
        Bump.MAJOR,
    ),
    (
        "enum value removed",
        _set_validation(OPT, "storage_type", "enum", ["gp3", "io1"]),
        "VALIDATION_TIGHTENED",
        "spec.optional_inputs[1].validation.enum",
        ["gp2", "gp3", "io1"],
        ["gp3", "io1"],
        Bump.MAJOR,
    ),
    (
        "enum value swapped",
        _set_validation(OPT, "storage_type", "enum", ["gp2", "gp3", "io2"]),
        "VALIDATION_TIGHTENED",
        "spec.optional_inputs[1].validation.enum",
        ["gp2", "gp3", "io1"],
        ["gp2", "gp3", "io2"],
        Bump.MAJOR,
    ),
    (
        "pattern added",
        _set_validation(OPT, "storage_type", "pattern", "^gp"),
        "VALIDATION_TIGHTENED",
        "spec.optional_inputs[1].validation.pattern",
        None,
        "^gp",
        Bump.MAJOR,
    ),
    (
        "bound added",
        _set_validation(OPT, "backup_retention_period", "max", 35),
        "VALIDATION_TIGHTENED",
        "spec.optional_inputs[0].validation.max",
        None,
        35,
        Bump.MAJOR,
    ),
    (
        "enum added",
        _set_validation(OPT, "backup_retention_period", "enum", [1, 7, 35]),
        "VALIDATION_TIGHTENED",
        "spec.optional_inputs[0].validation.enum",
        None,
        [1, 7, 35],
        Bump.MAJOR,
    ),
    (
        "pattern changed",
        _set_validation(REQ, "instance_class", "pattern", "^db\\.(t3|m5)\\.[a-z]+$"),
        "PATTERN_CHANGED",
        "spec.required_inputs[0].validation.pattern",
        "^db\\.[a-z0-9]+\\.[a-z]+$",
        "^db\\.(t3|m5)\\.[a-z]+$",
        Bump.MAJOR,
    ),
    (
        "output removed",
        lambda d: d["spec"]["outputs"].pop(0),
        "OUTPUT_REMOVED",
        "spec.outputs[0]",
        "endpoint",
        None,
        Bump.MAJOR,
    ),
    (
        "output retyped",
        _update(("spec", "outputs", 0, "type"), "object"),
        "OUTPUT_TYPE_CHANGED",
        "spec.outputs[0].type",
        "string",
        "object",
        Bump.MAJOR,
    ),
    (
        "engine removed",
        _remove_engine("pulumi"),
        "ENGINE_REMOVED",
        "spec.supported_engines",
        "pulumi",
        None,
        Bump.MAJOR,
    ),
    (
        "provider",
        _update(("metadata", "provider"), "gcp"),
        "PROVIDER_CHANGED",
        "metadata.provider",
        "aws",
        "gcp",
        Bump.MAJOR,
    ),
    (
        "category",
        _update(("metadata", "category"), "storage"),
        "CATEGORY_CHANGED",
        "metadata.category",
        "database",
        "storage",
        Bump.MAJOR,
    ),
    (
        "resource type",
        _update(("metadata", "resource_type"), "aurora"),
        "RESOURCE_TYPE_CHANGED",
        "metadata.resource_type",
        "mysql",
        "aurora",
        Bump.MAJOR,
    ),
    (
        "optional input added",
        lambda d: d["spec"][OPT].append({"name": "multi_az", "type": "boolean", "default": False}),
        "OPTIONAL_INPUT_ADDED",
        "spec.optional_inputs[2]",
        None,
        "multi_az",
        Bump.MINOR,
    ),
    (
        "required made optional",
        _move_input("allocated_storage", REQ, OPT, default=20),
        "INPUT_MADE_OPTIONAL",
        "spec.optional_inputs[2]",
        "required",
        "optional",
        Bump.MINOR,
    ),
    (
        "min lowered",
        _set_validation(REQ, "allocated_storage", "min", 10),
        "VALIDATION_LOOSENED",
        "spec.required_inputs[1].validation.min",
        20,
        10,
        Bump.MINOR,
    ),
    (
        "max removed",
        _set_validation(REQ, "allocated_storage", "max", None),
        "VALIDATION_LOOSENED",
        "spec.required_inputs[1].validation.max",
        1000,
        None,
        Bump.MINOR,
    ),
    (
        "max_length raised",
        _set_validation(OPT, "storage_type", "max_length", 10),
        "VALIDATION_LOOSENED",
        "spec.optional_inputs[1].validation.max_length",
        3,
        10,
        Bump.MINOR,
    ),
    (
        "enum value added",
        _set_validation(OPT, "storage_type", "enum", ["gp2", "gp3", "io1", "io2"]),
        "VALIDATION_LOOSENED",
        "spec.optional_inputs[1].validation.enum",
        ["gp2", "gp3", "io1"],
        ["gp2", "gp3", "io1", "io2"],
        Bump.MINOR,
    ),
    (
        "enum removed",
        _set_validation(OPT, "storage_type", "enum", None),
        "VALIDATION_LOOSENED",
        "spec.optional_inputs[1].validation.enum",
        ["gp2", "gp3", "io1"],
        None,
        Bump.MINOR,
    ),
    (
        "pattern removed",
        _set_validation(REQ, "instance_class", "pattern", None),
        "VALIDATION_LOOSENED",
        "spec.required_inputs[0].validation.pattern",
        "^db\\.[a-z0-9]+\\.[a-z]+$",
        None,
        Bump.MINOR,
    ),
    (
        "output added",
        lambda d: d["spec"]["outputs"].append({"name": "arn", "type": "string"}),
        "OUTPUT_ADDED",
        "spec.outputs[2]",
        None,
        "arn",
        Bump.MINOR,
    ),
    (
        "engine added",
        _add_engine("kubernetes", {"chart": "mysql-operator"}),
        "ENGINE_ADDED",
        "spec.supported_engines[3]",
        None,
        "kubernetes",
        Bump.MINOR,
    ),
    (
        "default changed",
        _update(("spec", OPT, 0, "default"), 14),
        "DEFAULT_CHANGED",
        "spec.optional_inputs[0].default",
        7,
        14,
        Bump.MINOR,
    ),
    (
        "default retyped",
        _update(("spec", OPT, 0, "default"), 7.0),
        "DEFAULT_CHANGED",
        "spec.optional_inputs[0].default",
        7,
        7.0,
        Bump.MINOR,
    ),
    (
        "output no longer sensitive",
        _update(("spec", "outputs", 1, "sensitive"), False),
        "SENSITIVE_CHANGED",
        "spec.outputs[1].sensitive",
        True,
        False,
        Bump.MINOR,
    ),
    (
        "input made sensitive",
        _update(("spec", REQ, 0, "sensitive"), True),
        "SENSITIVE_CHANGED",
        "spec.required_inputs[0].sensitive",
        False,
        True,
        Bump.PATCH,
    ),
    (
        "input marked deprecated",
        _update(("spec", OPT, 0, "deprecated"), {"message": "use backup_policy", "replacement": "backup_policy"}),
        "INPUT_DEPRECATION_CHANGED",
        "spec.optional_inputs[0].deprecated",
        None,
        {"message": "use backup_policy", "replacement": "backup_policy"},
        Bump.PATCH,
    ),
    (
        "description",
        _update(("metadata", "description"), "MySQL on RDS"),
        "DESCRIPTION_CHANGED",
        "metadata.description",
        "AWS RDS MySQL database instance",
        "MySQL on RDS",
        Bump.PATCH,
    ),
    (
        "input description",
        _update(("spec", REQ, 1, "description"), "GiB"),
        "DESCRIPTION_CHANGED",
        "spec.required_inputs[1].description",
        "Allocated storage in GB",
        "GiB",
        Bump.PATCH,
    ),
    (
        "output description",
        _update(("spec", "outputs", 0, "description"), "Host name"),
        "DESCRIPTION_CHANGED",
        "spec.outputs[0].description",
        "Database connection endpoint",
        "Host name",
        Bump.PATCH,
    ),
    (
        "maintainers",
        _update(("metadata", "maintainers"), ["platform-team@company.com"]),
        "MAINTAINERS_CHANGED",
        "metadata.maintainers",
        ["platform-team@company.com", "dba@company.com"],
        ["platform-team@company.com"],
        Bump.PATCH,
    ),
    (
        "labels",
        _update(("metadata", "labels"), {"team": "storage"}),
        "LABELS_CHANGED",
        "metadata.labels",
        {"team": "data"},
        {"team": "storage"},
        Bump.PATCH,
    ),
    (
        "engine config value",
        _update(("spec", "engine_configs", "terraform", "module_version"), "~> 6.0"),
        "ENGINE_CONFIG_CHANGED",
        "spec.engine_configs.terraform.module_version",
        "~> 5.0",
        "~> 6.0",
        Bump.PATCH,
    ),
    (
        "engine config key added",
        _update(("spec", "engine_configs", "pulumi", "version"), "3.1.0"),
        "ENGINE_CONFIG_CHANGED",
        "spec.engine_configs.pulumi.version",
        None,
        "3.1.0",
        Bump.PATCH,
    ),
]

_BUMPED = {Bump.MAJOR: "2.0.0", Bump.MINOR: "1.1.0", Bump.PATCH: "1.0.1"}
_ONE_LESS = {Bump.MAJOR: "1.1.0", Bump.MINOR: "1.0.1", Bump.PATCH: "1.0.0"}


@pytest.mark.parametrize(
    ("mutation", "rule", "field", "old", "new", "needs"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_rule_passes_with_the_bump_it_needs(
    mutation: Mutation, rule: str, field: str, old: Any, new: Any, needs: Bump
) -> None:
    report = compare(definition(), definition(_BUMPED[needs], mutation))
    assert [(c.rule, c.field, c.old, c.new, c.needs) for c in report.changes] == [(rule, field, old, new, needs)]
    assert report.required is needs
    assert report.declared is needs
    assert report.ok
    assert [f.severity for f in report.findings()] == [Severity.INFO]
    assert RULES[rule] >= needs


@pytest.mark.parametrize(
    ("mutation", "rule", "needs"), [(c[1], c[2], c[6]) for c in CASES], ids=[case[0] for case in CASES]
)
def test_rule_fails_with_a_smaller_bump(mutation: Mutation, rule: str, needs: Bump) -> None:
    report = compare(definition(), definition(_ONE_LESS[needs], mutation))
    assert not report.ok
    findings = report.findings("new.yaml")
    assert findings[0].rule == rule
    assert findings[0].severity is Severity.ERROR
    assert findings[0].file == "new.yaml"
    summary_rule = "VERSION_NOT_INCREASED" if needs is Bump.PATCH else "BUMP_TOO_SMALL"
    assert [f.rule for f in findings[1:]] == [summary_rule]
    assert findings[1].severity is Severity.ERROR
    assert findings[1].field == "metadata.version"


def test_every_rule_has_a_case() -> None:
    assert {case[2] for case in CASES} == set(RULES)


def test_checker_knows_every_model_field() -> None:
    models = {"Metadata": Metadata, "Spec": Spec, "InputSpec": InputSpec, "InputValidation": InputValidation}
    models["OutputSpec"] = OutputSpec
    for name, model in models.items():
        assert set(model.model_fields) == KNOWN_FIELDS[name], name


def test_reordering_is_no_change() -> None:
    def reorder(data: dict[str, Any]) -> None:
        spec = data["spec"]
        for key in ("required_inputs", "optional_inputs", "outputs", "supported_engines"):
            spec[key].reverse()
        data["metadata"]["maintainers"].reverse()
        spec["engine_configs"] = dict(reversed(spec["engine_configs"].items()))

    report = compare(definition(), definition("1.0.1", reorder))
    assert report.changes == []
    assert report.required is Bump.NONE
    assert report.ok
    assert changed_fields(definition(), definition("1.0.1", reorder)) == []


def test_rename_is_removal_plus_addition() -> None:
    report = compare(definition(), definition("2.0.0", _update(("spec", REQ, 1, "name"), "storage_gb")))
    assert [(c.rule, c.field) for c in report.changes] == [
        ("INPUT_REMOVED", "spec.required_inputs[1]"),
        ("REQUIRED_INPUT_ADDED", "spec.required_inputs[1]"),
    ]


def test_lifecycle_and_version_are_not_changes() -> None:
    deprecate = _update(("metadata", "deprecation"), {"message": "use aws-aurora-mysql", "sunset": "2030-01-01"})
    report = compare(definition(), definition("1.0.1", deprecate))
    assert report.changes == []
    assert changed_fields(definition(), definition("1.0.1", deprecate)) == []


def test_moving_an_input_reports_a_changed_default_only_when_both_have_one() -> None:
    move = _move_input("backup_retention_period", OPT, REQ, default=9)
    report = compare(definition(), definition("2.0.0", move))
    assert [c.rule for c in report.changes] == ["INPUT_MADE_REQUIRED", "DEFAULT_CHANGED"]


def test_engine_config_changes_without_engine_changes() -> None:
    def drop_config(data: dict[str, Any]) -> None:
        del data["spec"]["engine_configs"]["pulumi"]

    report = compare(definition(), definition("1.0.1", drop_config))
    assert [(c.rule, c.field, c.needs) for c in report.changes] == [
        ("ENGINE_CONFIG_CHANGED", "spec.engine_configs.pulumi", Bump.PATCH)
    ]
    report = compare(definition("1.0.0", drop_config), definition("1.0.1"))
    assert [(c.rule, c.old, c.new) for c in report.changes] == [
        ("ENGINE_CONFIG_CHANGED", None, {"program_template": "aws-rds-mysql-pulumi", "language": "typescript"})
    ]


def test_several_changes_are_all_listed_with_the_largest_need() -> None:
    def many(data: dict[str, Any]) -> None:
        _set_validation(REQ, "instance_class", "pattern", "^db\\.t3\\.[a-z]+$")(data)
        _remove_input(OPT, "backup_retention_period")(data)
        data["spec"]["outputs"].append({"name": "arn", "type": "string"})
        data["metadata"]["description"] = "changed"

    report = compare(definition("1.2.0"), definition("1.3.0", many))
    assert not report.ok
    assert report.declared is Bump.MINOR
    assert report.required is Bump.MAJOR
    assert [c.rule for c in report.changes] == [
        "DESCRIPTION_CHANGED",
        "INPUT_REMOVED",
        "PATTERN_CHANGED",
        "OUTPUT_ADDED",
    ]
    assert [c.rule for c in report.violations] == ["INPUT_REMOVED", "PATTERN_CHANGED"]
    findings = report.findings()
    assert [(f.rule, f.severity) for f in findings] == [
        ("DESCRIPTION_CHANGED", Severity.INFO),
        ("INPUT_REMOVED", Severity.ERROR),
        ("PATTERN_CHANGED", Severity.ERROR),
        ("OUTPUT_ADDED", Severity.INFO),
        ("BUMP_TOO_SMALL", Severity.ERROR),
    ]
    assert findings[-1].message == (
        "aws-rds-mysql 1.2.0 -> 1.3.0 is a minor bump, but the changes need major "
        "(INPUT_REMOVED, PATTERN_CHANGED); release 2.0.0 instead"
    )
    assert report.summary() == "aws-rds-mysql 1.2.0 -> 1.3.0: declared minor, required major: bump too small"
    assert report.suggested_version() == "2.0.0"


def test_findings_point_at_lines_of_the_new_document() -> None:
    new_data = copy.deepcopy(BASE)
    new_data["metadata"]["version"] = "1.1.0"
    _set_validation(REQ, "allocated_storage", "min", 50)(new_data)
    _remove_input(OPT, "backup_retention_period")(new_data)
    text = yaml.safe_dump(new_data, sort_keys=False)
    loaded = load_bytes(text.encode(), "new.yaml").documents[0]
    report = compare(definition(), ResourceDefinition.model_validate(loaded.data))
    lines = text.splitlines()
    by_rule = {f.rule: f for f in report.findings("new.yaml", locate=loaded)}
    min_line = by_rule["VALIDATION_TIGHTENED"].line
    assert min_line is not None
    assert lines[min_line - 1].strip() == "min: 50"
    removed_line = by_rule["INPUT_REMOVED"].line
    assert removed_line is not None
    assert lines[removed_line - 1].startswith("  optional_inputs:")
    version_line = by_rule["BUMP_TOO_SMALL"].line
    assert version_line is not None
    assert "version: 1.1.0" in lines[version_line - 1]


def test_version_not_increased() -> None:
    report = compare(definition("1.1.0"), definition("1.0.5"))
    assert not report.ok
    assert report.declared is Bump.NONE
    assert report.summary() == "aws-rds-mysql 1.1.0 -> 1.0.5: declared none, required none: version not increased"
    [finding] = report.findings()
    assert finding.rule == "VERSION_NOT_INCREASED"
    assert finding.message == "1.0.5 is not higher than 1.1.0; release 1.1.1"


def test_spec_history_is_accepted() -> None:
    v100 = definition("1.0.0", _remove_input(OPT, "backup_retention_period"))
    v110 = definition("1.1.0")
    v120 = definition(
        "1.2.0", lambda d: d["spec"][OPT].append({"name": "multi_az", "type": "boolean", "default": False})
    )

    def v200_change(data: dict[str, Any]) -> None:
        data["spec"][OPT].append({"name": "multi_az", "type": "boolean", "default": False})
        _set_validation(REQ, "instance_class", "pattern", "^db\\.(t3|m5)\\.[a-z]+$")(data)

    v200 = definition("2.0.0", v200_change)
    reports = [compare(v100, v110), compare(v110, v120), compare(v120, v200)]
    assert [r.ok for r in reports] == [True, True, True]
    assert [(r.declared, r.required) for r in reports] == [
        (Bump.MINOR, Bump.MINOR),
        (Bump.MINOR, Bump.MINOR),
        (Bump.MAJOR, Bump.MAJOR),
    ]
    assert reports[2].summary() == "aws-rds-mysql 1.2.0 -> 2.0.0: declared major, required major: ok"


def test_different_names_cannot_be_compared() -> None:
    other = definition("1.0.1", _update(("metadata", "name"), "aws-rds-postgres"))
    with pytest.raises(InvalidRequest, match="cannot compare different resources"):
        compare(definition(), other)


def test_change_describe_and_report_serialization() -> None:
    report = compare(definition(), definition("1.1.0", _set_validation(REQ, "allocated_storage", "min", 50)))
    change = report.changes[0]
    assert change.describe() == "VALIDATION_TIGHTENED spec.required_inputs[1].validation.min: 20 -> 50 (needs major)"
    assert Change("X", "f", None, ["a"], Bump.PATCH, "m").describe() == 'X f: (none) -> ["a"] (needs patch)'
    assert report.findings()[0].message == (
        "input 'allocated_storage': validation.min tightened (was 20, now 50; needs a major bump)"
    )
    assert report.to_dict() == {
        "name": "aws-rds-mysql",
        "old_version": "1.0.0",
        "new_version": "1.1.0",
        "declared": "minor",
        "required": "major",
        "ok": False,
        "changes": [
            {
                "rule": "VALIDATION_TIGHTENED",
                "field": "spec.required_inputs[1].validation.min",
                "old": 20,
                "new": 50,
                "needs": "major",
                "message": "input 'allocated_storage': validation.min tightened",
            }
        ],
    }
    error = report.to_error()
    assert isinstance(error, IncompatibleChange)
    assert error.details["changes"][0]["rule"] == "VALIDATION_TIGHTENED"
    assert error.details["resource_name"] == "aws-rds-mysql"
    assert str(Bump.MAJOR) == "major"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("1.0.0", "2.0.0", Bump.MAJOR),
        ("1.9.9", "2.0.0", Bump.MAJOR),
        ("1.0.0", "1.1.0", Bump.MINOR),
        ("1.0.9", "1.1.0", Bump.MINOR),
        ("1.0.0", "1.0.1", Bump.PATCH),
        ("1.0.0", "1.0.0", Bump.NONE),
        ("1.1.0", "1.0.9", Bump.NONE),
        ("1.0.0", "1.0.0+build.2", Bump.NONE),
        ("0.1.0", "0.2.0", Bump.MAJOR),
        ("0.1.0", "0.1.1", Bump.MINOR),
        ("0.0.1", "0.0.2", Bump.MINOR),
        ("0.9.3", "1.0.0", Bump.MAJOR),
        ("1.1.0", "1.2.0-rc.1", Bump.MINOR),
        ("1.1.0", "2.0.0-rc.1", Bump.MAJOR),
        ("1.2.0-rc.1", "1.2.0-rc.2", Bump.MINOR),
        ("1.2.0-rc.1", "1.2.0", Bump.MINOR),
        ("1.2.3-rc.1", "1.2.3", Bump.PATCH),
        ("2.0.0-rc.1", "2.0.0", Bump.MAJOR),
        ("2.0.0-rc.1", "2.0.1", Bump.PATCH),
        ("0.2.0-rc.1", "0.2.0", Bump.MAJOR),
        ("0.2.1-rc.1", "0.2.1", Bump.MINOR),
        ("0.0.0-alpha", "0.0.0", Bump.MAJOR),
    ],
)
def test_declared_bump(old: str, new: str, expected: Bump) -> None:
    assert declared_bump(old, new) is expected


def test_declared_bump_needs_versions() -> None:
    with pytest.raises(InvalidVersion, match=r"'1\.0'"):
        declared_bump("1.0", "2.0.0")


@pytest.mark.parametrize(
    ("version", "bump", "expected"),
    [
        ("1.2.3", Bump.MAJOR, "2.0.0"),
        ("1.2.3", Bump.MINOR, "1.3.0"),
        ("1.2.3", Bump.PATCH, "1.2.4"),
        ("1.2.3", Bump.NONE, "1.2.4"),
        ("0.2.3", Bump.MAJOR, "0.3.0"),
        ("0.2.3", Bump.MINOR, "0.2.4"),
        ("0.2.3", Bump.PATCH, "0.2.4"),
        ("1.3.0-rc.1", Bump.MINOR, "1.3.0"),
        ("1.3.0-rc.1", Bump.MAJOR, "2.0.0"),
        ("2.0.0-rc.1", Bump.MAJOR, "2.0.0"),
        ("1.2.3+build", Bump.PATCH, "1.2.4"),
    ],
)
def test_next_version(version: str, bump: Bump, expected: str) -> None:
    assert next_version(version, bump) == expected
    assert declared_bump(version, expected) >= bump


def test_changed_fields_is_coarse() -> None:
    added = definition("1.1.0", lambda d: d["spec"][OPT].append({"name": "multi_az", "type": "boolean"}))
    assert changed_fields(definition(), added) == ["spec.optional_inputs"]
    moved = definition("2.0.0", _move_input("backup_retention_period", OPT, REQ, default=None))
    assert changed_fields(definition(), moved) == ["spec.required_inputs", "spec.optional_inputs"]

    def several(data: dict[str, Any]) -> None:
        data["metadata"]["description"] = "x"
        data["metadata"]["labels"] = {}
        data["spec"]["engine_configs"]["terraform"]["module_version"] = "~> 6.0"
        data["spec"]["outputs"][0]["type"] = "object"

    assert changed_fields(definition(), definition("2.0.0", several)) == [
        "metadata.description",
        "metadata.labels",
        "spec.outputs",
        "spec.engine_configs",
    ]


def test_changed_fields_of_stored_json_and_document_data_agree_with_the_models() -> None:
    """The publish path compares the predecessor's stored JSON (lifecycle block included) with
    the new document's data; that must list what comparing the two models lists."""
    deprecate = _update(("metadata", "deprecation"), {"message": "use aws-aurora-mysql", "sunset": "2030-01-01"})

    def several(data: dict[str, Any]) -> None:
        data["metadata"]["description"] = "x"
        data["spec"]["outputs"][0]["type"] = "object"
        data["spec"]["required_inputs"].reverse()

    old = definition("1.0.0", deprecate)
    for new in (
        definition("1.0.1"),
        definition("1.0.1", deprecate),
        definition("2.0.0", several),
        definition("2.0.0", _move_input("backup_retention_period", OPT, REQ, default=None)),
    ):
        stored = json.loads(canonical_json(old.to_dict()))
        assert changed_fields_of(stored, new.to_dict()) == changed_fields(old, new)
    assert changed_fields_of(json.loads(canonical_json(old.to_dict())), definition("2.0.0", several).to_dict()) == [
        "metadata.description",
        "spec.outputs",
    ]
