"""The views ``nestor-catalog validate`` builds without pydantic report exactly what the models do.

``_view_schema`` is ``ResourceDefinition``'s core schema as pydantic generates it now (the
drift check), and on examples, broken files and generated mutations the findings of
``validate_document_view`` equal ``validate_document``'s, and a view reads as its model.
"""

from __future__ import annotations

import copy
import types
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from nestor_catalog_core.loading import LoadedDocument, load_file
from nestor_catalog_core.models import ResourceDefinition
from nestor_catalog_core.models._codegen import render, view_schema
from nestor_catalog_core.models._view_schema import DEFINITION_SCHEMA
from nestor_catalog_core.models._views import DefinitionView, _View, empty_engine_configs
from nestor_catalog_core.validation import ValidationSettings, validate_document
from nestor_catalog_core.validation._structure import _known_fields
from nestor_catalog_core.validation.documents import validate_document_view
from tests.core.validation.builders import BASE
from tests.core.validation.test_properties import SETTINGS, json_like, mutated_definitions

ROOT = Path(__file__).resolve().parents[3]
DOCUMENTS = sorted(
    [*ROOT.joinpath("examples").rglob("*.yaml"), *ROOT.joinpath("examples").rglob("*.json")],
    key=lambda path: str(path),
)


def test_the_generated_schema_is_what_pydantic_builds_from_the_models() -> None:
    # Fails after a model change until ``python -m nestor_catalog_core.models._codegen`` is run.
    assert view_schema() == DEFINITION_SCHEMA
    source = ROOT.joinpath("src/nestor_catalog_core/models/_view_schema.py").read_text()
    namespace: dict[str, Any] = {}
    exec(compile(render(), "<render>", "exec"), namespace)  # the rendered source builds the same schema
    assert namespace["DEFINITION_SCHEMA"] == DEFINITION_SCHEMA
    assert "DEFINITION_SCHEMA" in source


def _same(view: Any, model: Any) -> None:
    """A view holds what its model holds, field by field, with the same fields set."""
    if isinstance(model, BaseModel):
        assert isinstance(view, _View), (view, model)
        assert type(view).__name__ in {f"{type(model).__name__}View", "DefinitionView"}
        assert view.model_fields_set == model.model_fields_set
        assert (view.__pydantic_extra__ or {}) == (model.__pydantic_extra__ or {})
        for name in type(model).model_fields:
            _same(getattr(view, name), getattr(model, name))
    elif isinstance(model, list):
        assert isinstance(view, list)
        assert len(view) == len(model)
        for item_view, item_model in zip(view, model, strict=True):
            _same(item_view, item_model)
    else:
        assert type(view) is type(model), (view, model)
        assert view == model
        if isinstance(model, Enum | date):
            assert view is model or view == model


def _check(data: Any, validation: ValidationSettings, file: str = "<input>") -> None:
    document = LoadedDocument(file, 0, copy.deepcopy(data))
    validated = validate_document(document, validation)
    view, findings = validate_document_view(LoadedDocument(file, 0, copy.deepcopy(data)), validation)
    assert findings == validated.findings
    assert (view is None) == (validated.definition is None)
    if view is not None:
        assert isinstance(view, DefinitionView)
        _same(view, validated.definition)
        assert view.key == validated.definition.key


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_examples_and_broken_files_give_the_same_findings(path: Path) -> None:
    for validation in SETTINGS:
        for document in load_file(path).documents:
            validated = validate_document(document, validation)
            view, findings = validate_document_view(document, validation)
            assert findings == validated.findings  # file, line and column included
            assert (view is None) == (validated.definition is None)
            if view is not None:
                _same(view, validated.definition)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(mutated_definitions, json_like), st.sampled_from(SETTINGS))
def test_mutated_documents_give_the_same_findings(data: Any, validation: ValidationSettings) -> None:
    _check(data, validation)


@pytest.mark.parametrize(
    "change",
    [
        {"deprecation": {"message": "m", "sunset": "2026-06-30", "replacement": "aws-x@^2"}},
        {"deprecation": {"message": "m", "sunset": date(2026, 6, 30)}},
        {"deprecation": {"message": "m", "sunset": 1_700_000_000}},
        {"deprecation": {"message": "m", "sunset": "2026-13-45"}},
        {"version": "1.0.0+build"},
        {"version": 1.0},
        {"name": "Bad_Name"},
        {"labels": {"x": 1}},
    ],
)
def test_metadata_edge_cases_give_the_same_findings(change: dict[str, Any]) -> None:
    data = copy.deepcopy(BASE)
    data["metadata"].update(change)
    for validation in SETTINGS:
        _check(data, validation)


def test_lax_types_and_defaults_give_the_same_findings() -> None:
    data = copy.deepcopy(BASE)
    inputs = data["spec"]["required_inputs"]
    inputs[1]["validation"] = {"min": "20", "max": 1000.0, "min_length": True}
    inputs[0]["sensitive"] = "yes"
    data["spec"]["engine_configs"] = {"helm": {"chart": "x"}, "pulumi": {"program_template": "p", "language": "rust"}}
    data["spec"]["outputs"][0]["type"] = "strin"
    for validation in SETTINGS:
        _check(data, validation)
    del data["spec"]["engine_configs"]
    for validation in SETTINGS:
        _check(data, validation)


def test_the_default_engine_configs_view_is_the_models_default() -> None:
    view = empty_engine_configs()
    data = copy.deepcopy(BASE)
    del data["spec"]["engine_configs"]
    model = ResourceDefinition.model_validate(data, by_alias=True, by_name=False)
    _same(view, model.spec.engine_configs)
    assert view.engines() == model.spec.engine_configs.engines() == {}


def _known_from_models(path: tuple[str | int, ...]) -> list[str]:
    """What ``_known_fields`` answered when it walked the models' annotations (before views)."""

    def unwrap(annotation: Any) -> Any:
        if get_origin(annotation) in {Union, types.UnionType}:
            members = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(members) == 1:
                return members[0]
        return annotation

    current: Any = ResourceDefinition
    for part in path:
        current = unwrap(current)
        if isinstance(part, int):
            if get_origin(current) is not list:
                return []
            current = get_args(current)[0]
        elif isinstance(current, type) and issubclass(current, BaseModel):
            fields = {(field.alias or name): field.annotation for name, field in current.model_fields.items()}
            if part not in fields:
                return []
            current = fields[part]
        else:
            return []
    current = unwrap(current)
    if not (isinstance(current, type) and issubclass(current, BaseModel)):
        return []
    return [field.alias or name for name, field in current.model_fields.items()]


def _paths(model: Any, prefix: tuple[str | int, ...] = (), depth: int = 0) -> list[tuple[str | int, ...]]:
    out = [prefix, (*prefix, "nope"), (*prefix, 0)]
    if depth > 4:
        return out
    model = _known_from_models(prefix)
    for name in model:
        out.extend(_paths(None, (*prefix, name), depth + 1))
        out.extend(_paths(None, (*prefix, name, 0), depth + 1))
    return out


def test_known_fields_read_from_the_core_schema_match_the_models() -> None:
    paths = _paths(None)
    assert len(paths) > 200
    assert any(len(_known_from_models(path)) > 0 for path in paths if path and path[-1] == 0)  # reached list items
    for path in paths:
        assert _known_fields(path) == _known_from_models(path), path
