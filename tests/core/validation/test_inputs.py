"""Consumers' inputs: the inputs JSON Schema and ``validate_inputs``."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from nestor_catalog_core import ValidationFailed
from nestor_catalog_core.models import InputSpec, InputValidation, ResourceDefinition, ValueType
from nestor_catalog_core.validation import inputs_json_schema, validate_inputs
from nestor_catalog_core.validation._values import type_matches, validation_violations
from tests.core.validation.builders import definition


def model(**changes: Any) -> ResourceDefinition:
    return ResourceDefinition.model_validate(definition(**changes))


def test_inputs_schema_shape() -> None:
    schema = inputs_json_schema(model(spec__optional_inputs__1__sensitive=True))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "urn:nestor-catalog:inputs:aws-rds-mysql:1.2.0"
    assert schema["title"] == "Inputs of aws-rds-mysql 1.2.0"
    assert schema["description"] == "AWS RDS MySQL database instance"
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["instance_class", "allocated_storage"]
    assert schema["properties"] == {
        "instance_class": {
            "type": "string",
            "description": "DB instance class",
            "pattern": r"^db\.[a-z0-9]+\.[a-z]+$",
        },
        "allocated_storage": {
            "type": "integer",
            "description": "Allocated storage in GB",
            "minimum": 20,
            "maximum": 1000,
        },
        "backup_retention_period": {
            "type": "integer",
            "description": "Backup retention in days",
            "minimum": 1,
            "maximum": 35,
            "default": 7,
        },
        "engine_version": {
            "type": "string",
            "description": "MySQL version",
            "minLength": 3,
            "maxLength": 4,
            "enum": ["5.7", "8.0"],
            "default": "8.0",
            "writeOnly": True,
        },
        "tags": {
            "type": "array",
            "description": "Tags",
            "minItems": 1,
            "maxItems": 3,
            "default": ["a"],
        },
    }


def test_inputs_schema_leaves_out_keywords_that_do_not_apply() -> None:
    schema = inputs_json_schema(
        model(spec__required_inputs__1__validation={"pattern": "x", "min_length": 1, "min": 1}),
    )
    assert schema["properties"]["allocated_storage"] == {
        "type": "integer",
        "description": "Allocated storage in GB",
        "minimum": 1,
    }


def test_required_inputs_do_not_carry_defaults() -> None:
    schema = inputs_json_schema(model(spec__required_inputs__1__default=50))
    assert "default" not in schema["properties"]["allocated_storage"]


def test_valid_values_get_defaults_applied_without_touching_the_input() -> None:
    values = {"instance_class": "db.t3.micro", "allocated_storage": 100, "tags": ["x"]}
    result = validate_inputs(model(), values)
    assert result.ok
    assert result.findings == []
    assert result.values == {
        "instance_class": "db.t3.micro",
        "allocated_storage": 100,
        "tags": ["x"],
        "backup_retention_period": 7,
        "engine_version": "8.0",
    }
    assert values == {"instance_class": "db.t3.micro", "allocated_storage": 100, "tags": ["x"]}


def test_defaults_are_copies() -> None:
    definition_ = model()
    first = validate_inputs(definition_, {"instance_class": "db.t3.micro", "allocated_storage": 20})
    first.values["tags"].append("mutated")
    second = validate_inputs(definition_, {"instance_class": "db.t3.micro", "allocated_storage": 20})
    assert second.values["tags"] == ["a"]
    assert definition_.spec.optional_inputs[2].default == ["a"]


def test_every_problem_is_reported_with_its_path() -> None:
    values = {
        "instance_class": "t3.micro",
        "backup_retention_period": True,
        "engine_version": "9.0",
        "tags": [],
        "colour": "blue",
    }
    result = validate_inputs(model(), values)
    assert not result.ok
    assert [(f.rule, f.field) for f in result.findings] == [
        ("INPUT_REQUIRED", "allocated_storage"),
        ("INPUT_UNKNOWN", "colour"),
        ("INPUT_TYPE", "backup_retention_period"),
        ("INPUT_ENUM", "engine_version"),
        ("INPUT_PATTERN", "instance_class"),
        ("INPUT_LENGTH", "tags"),
    ]
    messages = {f.field: f.message for f in result.findings}
    assert messages["backup_retention_period"] == "must be an integer, got the boolean true"
    assert (
        messages["instance_class"]
        == "must match the pattern '^db\\\\.[a-z0-9]+\\\\.[a-z]+$', got the string 't3.micro'"
    )
    assert messages["colour"].startswith("unknown input 'colour'; this definition takes: instance_class, ")
    assert result.values["backup_retention_period"] is True


@pytest.mark.parametrize(
    ("value", "rule", "message"),
    [
        (19, "INPUT_RANGE", "must be at least 20, got the number 19"),
        (1001, "INPUT_RANGE", "must be at most 1000, got the number 1001"),
        (20.5, "INPUT_TYPE", "must be an integer, got the number 20.5"),
        ("20", "INPUT_TYPE", "must be an integer, got the string '20'"),
    ],
)
def test_number_inputs(value: Any, rule: str, message: str) -> None:
    result = validate_inputs(model(), {"instance_class": "db.t3.micro", "allocated_storage": value})
    assert [(f.rule, f.field, f.message) for f in result.findings] == [(rule, "allocated_storage", message)]


def test_object_and_array_inputs_check_their_type() -> None:
    data = definition(spec__optional_inputs__2__type="object", spec__optional_inputs__2__default={})
    data["spec"]["optional_inputs"][2]["validation"] = None
    result = validate_inputs(
        ResourceDefinition.model_validate(data), {"instance_class": "db.t3.micro", "allocated_storage": 20, "tags": []}
    )
    assert [(f.rule, f.field, f.message) for f in result.findings] == [
        ("INPUT_TYPE", "tags", "must be an object (mapping), got a list")
    ]
    fine = validate_inputs(model(), {"instance_class": "db.t3.micro", "allocated_storage": 20, "tags": ["a", 1]})
    assert fine.ok


def test_sensitive_values_never_appear_in_messages() -> None:
    definition_ = model(
        spec__required_inputs__0__sensitive=True,
        spec__required_inputs__0__validation={"pattern": "^db\\.", "min_length": 40},
    )
    result = validate_inputs(definition_, {"instance_class": "s3cr3t-value", "allocated_storage": 20})
    assert {f.rule for f in result.findings} == {"INPUT_PATTERN", "INPUT_LENGTH"}
    assert all("s3cr3t" not in f.message and "12" not in f.message for f in result.findings)
    wrong_type = validate_inputs(definition_, {"instance_class": 12345, "allocated_storage": 20})
    assert [f.message for f in wrong_type.findings] == ["must be a string"]


def test_inputs_that_are_not_a_mapping() -> None:
    result = validate_inputs(model(), ["db.t3.micro"])  # type: ignore[arg-type]
    assert [(f.rule, f.field) for f in result.findings] == [("INPUT_TYPE", "")]
    assert result.values == {}


def test_definition_with_an_invalid_pattern_raises() -> None:
    broken = model(spec__required_inputs__0__validation={"pattern": "(("})
    with pytest.raises(ValidationFailed, match="invalid inputs schema") as caught:
        validate_inputs(broken, {})
    assert [(f.rule, f.field) for f in caught.value.findings] == [
        ("PATTERN_INVALID", "spec.required_inputs[0].validation.pattern")
    ]


def test_validators_are_cached_per_definition_digest() -> None:
    from nestor_catalog_core.validation import inputs as inputs_module

    first = inputs_module._validator_for(model())
    assert inputs_module._validator_for(model()) is first
    assert inputs_module._validator_for(model(metadata__version="1.2.1")) is not first


# The policy layer checks defaults without jsonschema; it must agree with jsonschema.
VALIDATIONS = st.builds(
    InputValidation,
    pattern=st.sampled_from([None, "^a", "b$", "[0-9]", "^$"]),
    min=st.sampled_from([None, 0, 1.5, -3]),
    max=st.sampled_from([None, 2, 10.5]),
    min_length=st.sampled_from([None, 0, 1, 3]),
    max_length=st.sampled_from([None, 2, 5]),
    enum=st.sampled_from([None, ["a", 1, 1.0, True], [[1], {"a": 1}], [0, False], ["ab", "b"]]),
)
VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 12)
    | st.sampled_from([1.0, 2.5, -0.0, 0.5])
    | st.text("ab01$", max_size=6),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(["a", "b"]), children, max_size=2)
    ),
    max_leaves=6,
)


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(list(ValueType)), VALIDATIONS, VALUES)
def test_policy_value_checks_agree_with_jsonschema(
    value_type: ValueType, validation: InputValidation, value: Any
) -> None:
    spec = InputSpec(name="x", type=value_type, validation=validation, default=None)
    data = definition()
    data["spec"]["optional_inputs"] = [spec.model_dump(exclude_none=True, mode="json")]
    schema = inputs_json_schema(ResourceDefinition.model_validate(data))["properties"]["x"]
    jsonschema_ok = Draft202012Validator(schema).is_valid(value)
    type_ok = type_matches(value, value_type)
    assert type_ok == Draft202012Validator({"type": value_type.value}).is_valid(value)
    ours_ok = type_ok and not validation_violations(value, value_type, validation)
    assert ours_ok == jsonschema_ok
