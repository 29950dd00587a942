"""The definition JSON Schema is generated from the models and agrees with them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from nestor_catalog_core.loading import load_file
from nestor_catalog_core.validation import (
    DEFINITION_SCHEMA_ID,
    ValidationSettings,
    definition_json_schema,
    validate_data,
)
from tests.core.validation.builders import BASE, DELETE, definition, set_path

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
STRUCTURE_ONLY = ValidationSettings(policy_enforcement=False)
VALIDATOR = Draft202012Validator(definition_json_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_accepts(data: Any) -> bool:
    return VALIDATOR.is_valid(data)


def model_accepts(data: Any) -> bool:
    return validate_data(data, settings=STRUCTURE_ONLY).ok


def test_schema_is_a_valid_draft_2020_12_schema_with_identity() -> None:
    schema = definition_json_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == DEFINITION_SCHEMA_ID
    assert schema["title"] == "Nestor ResourceDefinition (catalog.nestor.io/v1)"
    assert schema["required"] == ["apiVersion", "kind", "metadata", "spec"]
    assert schema["properties"]["apiVersion"]["const"] == "catalog.nestor.io/v1"


def test_every_object_forbids_unknown_properties_except_free_form_engines() -> None:
    schema = definition_json_schema()
    assert schema["additionalProperties"] is False
    for name, sub in schema["$defs"].items():
        if sub.get("type") != "object":
            continue
        if name == "EngineConfigs":
            assert sub["additionalProperties"] == {"additionalProperties": True, "type": "object"}
        else:
            assert sub["additionalProperties"] is False, name


def test_callers_get_their_own_copy() -> None:
    first = definition_json_schema()
    first["title"] = "changed"
    assert definition_json_schema()["title"] != "changed"


@pytest.mark.parametrize(
    "path", sorted(p for p in EXAMPLES.iterdir() if p.suffix in {".yaml", ".json"}), ids=lambda p: p.name
)
def test_examples_match_the_schema(path: Path) -> None:
    for document in load_file(path).documents:
        assert schema_accepts(document.data)


@pytest.mark.parametrize(
    "change",
    [
        {"metadata__owner": "x"},
        {"metadata__version": "1.2"},
        {"metadata__version": 1.2},
        {"metadata__name": "Bad"},
        {"spec__required_inputs__0__type": "text"},
        {"spec__outputs__0__sensitive": "no"},
        {"metadata__deprecation": {"message": "m", "sunset": "2027-06-30T00:00:00"}},
        {"metadata__deprecation": {"message": "m", "sunset": 1798675200}},
        {"kind": DELETE},
    ],
)
def test_schema_and_models_reject_the_same_mistakes(change: dict[str, Any]) -> None:
    data = definition(**change)
    assert not schema_accepts(data)
    assert not model_accepts(data)


def test_python_attribute_names_are_not_document_fields() -> None:
    data = definition()
    data["api_version"] = data.pop("apiVersion")
    assert not schema_accepts(data)
    assert [f.rule for f in validate_data(data).findings] == ["API_VERSION", "UNKNOWN_FIELD"]


def _leaf_paths(data: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            paths.extend(_leaf_paths(value, (*prefix, key)))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            paths.extend(_leaf_paths(value, (*prefix, str(index))))
    return paths


PATHS = [
    *_leaf_paths(BASE),
    ("metadata", "deprecation"),
    ("metadata", "deprecation", "sunset"),
    ("spec", "engine_configs", "helm"),
    ("spec", "engine_configs", "pulumi"),
    ("spec", "extra"),
    ("status",),
]
# Integral floats are left out: JSON Schema counts 1.0 as an integer, strict models do not
# (documented in validation/schema.py). So are strings ending in a newline, which Python's
# jsonschema lets '$' match before.
VALUES = st.one_of(
    st.sampled_from(
        [
            "",
            "x",
            "Bad Name",
            "aws-rds",
            "1.2.0",
            "1.2",
            "string",
            "integer",
            "typescript",
            "2027-06-30",
            "2027-02-30",
            "2027-06-30T00:00:00",
            "catalog.nestor.io/v1",
            "ResourceDefinition",
            "a@b.co",
            None,
            True,
            False,
            0,
            -1,
            20,
            1.5,
            -0.25,
            [],
            ["x"],
            [1, "a"],
            {},
            {"message": "m"},
            {"message": "m", "sunset": "2027-06-30"},
            {"composition_ref": "c"},
            {"program_template": "p", "language": "go"},
            {"x": 1},
            DELETE,
        ]
    ),
    st.integers(min_value=-5, max_value=100),
    st.text(alphabet="abc-._ 1A", max_size=8),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(PATHS), VALUES), min_size=1, max_size=3))
def test_schema_and_models_agree_on_generated_documents(mutations: list[tuple[tuple[str, ...], Any]]) -> None:
    data = copy.deepcopy(BASE)
    for path, value in mutations:
        try:
            _set(data, path, value)
        except (KeyError, IndexError, TypeError, ValueError):
            continue
    assert schema_accepts(data) == model_accepts(data), data


def _set(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    target: Any = data
    for part in path[:-1]:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if isinstance(target, list) and value is DELETE:
        del target[int(path[-1])]
    elif isinstance(target, list) or not isinstance(target, dict):
        set_path(data, list(path), value)
    elif value is DELETE:
        target.pop(path[-1], None)
    else:
        target[path[-1]] = copy.deepcopy(value)
