"""Property tests: validating anything raises nothing, and definitions round-trip."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nestor_catalog_core.cli as cli_package
import nestor_catalog_core.loading as loading_package
import nestor_catalog_core.validation as validation_package
from nestor_catalog_core.loading import load_bytes, load_file
from nestor_catalog_core.models import ResourceDefinition
from nestor_catalog_core.validation import RULES, ValidationSettings, validate_data, validate_document
from tests.core.validation.builders import BASE

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
SETTINGS = [
    ValidationSettings(),
    ValidationSettings(strict_mode=False),
    ValidationSettings(schema_validation=False),
    ValidationSettings(strict_mode=False, schema_validation=False, policy_enforcement=False),
]
scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12)
json_like = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
keys = st.sampled_from(
    ["apiVersion", "kind", "metadata", "spec", "name", "version", "type", "validation", "default", "enum", "min", "x"]
)


def _mutated(draw: st.DrawFn) -> Any:
    data: Any = json.loads(json.dumps(BASE))
    for _ in range(draw(st.integers(1, 4))):
        target = data
        for _ in range(draw(st.integers(0, 3))):
            if isinstance(target, dict) and target:
                target = target[draw(st.sampled_from(sorted(target)))]
            elif isinstance(target, list) and target:
                target = target[draw(st.integers(0, len(target) - 1))]
        if isinstance(target, dict):
            target[draw(keys)] = draw(json_like)
        elif isinstance(target, list):
            target.append(draw(json_like))
    return data


mutated_definitions = st.composite(_mutated)()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(json_like, mutated_definitions), st.sampled_from(SETTINGS))
def test_validating_anything_returns_findings(data: Any, validation: ValidationSettings) -> None:
    validated = validate_data(data, settings=validation)
    assert all(f.rule in RULES for f in validated.findings)
    assert validated.ok == (validated.definition is not None and not any(f.is_error for f in validated.findings))
    if validated.definition is not None:
        assert validated.definition.compute_digest().startswith("sha256:")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_definitions)
def test_valid_documents_round_trip_through_yaml(data: Any) -> None:
    validated = validate_data(data)
    if validated.definition is None:
        return
    text = yaml.safe_dump(validated.definition.to_dict(), sort_keys=False).encode()
    again = validate_document(load_bytes(text, "again.yaml").documents[0])
    assert again.definition == validated.definition
    assert [f.rule for f in again.findings] == [f.rule for f in validated.findings]


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_examples_round_trip_through_json_and_yaml(path: Path) -> None:
    for document in load_file(path).documents:
        definition = validate_document(document).definition
        assert definition is not None
        as_json = json.dumps(definition.to_dict()).encode()
        as_yaml = yaml.safe_dump(definition.to_dict()).encode()
        for text, suffix in ((as_json, ".json"), (as_yaml, ".yaml")):
            again = validate_document(load_bytes(text, suffix=suffix).documents[0])
            assert again.findings == []
            assert again.definition == definition
            assert isinstance(again.definition, ResourceDefinition)
            assert again.definition.compute_digest() == definition.compute_digest()


def test_public_surfaces_are_exactly_the_documented_names() -> None:
    assert sorted(loading_package.__all__) == [
        "DEFAULT_MAX_FILE_SIZE",
        "DEFINITION_GLOBS",
        "DEFINITION_SUFFIXES",
        "IGNORE_FILE",
        "IgnoreRules",
        "LoadOptions",
        "LoadResult",
        "LoadedDocument",
        "Locator",
        "Position",
        "compile_globs",
        "decode_json",
        "discover",
        "ignored_below",
        "is_ignored",
        "iter_load",
        "load_bytes",
        "load_file",
        "load_yaml_document",
    ]
    assert sorted(validation_package.__all__) == [
        "DEFAULT_LIMITS",
        "DEFINITION_SCHEMA_ID",
        "InputsResult",
        "Layer",
        "Limits",
        "RULES",
        "Rule",
        "ValidatedDocument",
        "ValidationSettings",
        "check_definition",
        "check_policies",
        "definition_json_schema",
        "inputs_json_schema",
        "validate_data",
        "validate_document",
        "validate_inputs",
    ]
    assert cli_package.__all__ == ["console", "main", "progress"]
    for package in (loading_package, validation_package, cli_package):
        assert all(hasattr(package, name) for name in package.__all__)
