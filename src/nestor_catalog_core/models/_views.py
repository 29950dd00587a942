"""Read-only views of a definition, validated by pydantic-core without pydantic.

``nestor-catalog validate`` checks one file in a new process; importing pydantic and
building the ``ResourceDefinition`` model graph cost more than everything else the
command does. A view is what the same core schema builds when its model classes are these
plain classes: pydantic-core runs the very schema pydantic generates for the models
(``_view_schema``, generated from them by ``_codegen``; a test fails when the two drift),
so every error (type, location, message, input) is the one the model reports, and the
fields the structure, limit and policy layers read have the same values.

A view has no pydantic behaviour (no ``model_dump``, no digest): what needs one (the
duplicate check's digest) builds the real model.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from nestor_catalog_core.models._base import ValueType, configured_engines
from nestor_catalog_core.models._extension import SchemaValidator

if TYPE_CHECKING:
    from nestor_catalog_core.models.definition import (
        Deprecation,
        InputSpec,
        InputValidation,
        OutputSpec,
        ResourceDefinition,
    )

__all__ = [
    "CrossplaneConfigView",
    "DefinitionLike",
    "DefinitionView",
    "DeprecationLike",
    "DeprecationView",
    "EngineConfigsView",
    "InputDeprecationView",
    "InputSpecLike",
    "InputSpecView",
    "InputValidationLike",
    "InputValidationView",
    "MetadataView",
    "OutputSpecLike",
    "OutputSpecView",
    "PulumiConfigView",
    "SpecView",
    "TerraformConfigView",
    "empty_engine_configs",
    "validate_view",
    "view_validator",
]


class _View:
    """What pydantic-core sets on an instance it builds for a ``model`` schema: the field
    values as ``__dict__``, the fields the input set and the extra fields."""

    __pydantic_fields_set__: set[str]
    __pydantic_extra__: dict[str, Any] | None

    @property
    def model_fields_set(self) -> set[str]:
        return self.__pydantic_fields_set__

    def __repr__(self) -> str:
        fields = ", ".join(f"{key}={value!r}" for key, value in vars(self).items() if not key.startswith("__"))
        return f"{type(self).__name__}({fields})"


class InputValidationView(_View):
    pattern: str | None
    min: int | float | None
    max: int | float | None
    min_length: int | None
    max_length: int | None
    enum: list[Any] | None


class InputDeprecationView(_View):
    message: str
    replacement: str | None


class InputSpecView(_View):
    name: str
    type: ValueType
    description: str
    default: Any
    validation: InputValidationView | None
    sensitive: bool
    deprecated: InputDeprecationView | None

    @property
    def has_default(self) -> bool:
        return "default" in self.__pydantic_fields_set__ and self.default is not None


class OutputSpecView(_View):
    name: str
    type: ValueType
    description: str
    sensitive: bool


class CrossplaneConfigView(_View):
    composition_ref: str
    version: str | None


class PulumiConfigView(_View):
    program_template: str
    language: Literal["typescript", "javascript", "python", "go", "csharp", "java", "yaml"] | None
    version: str | None


class TerraformConfigView(_View):
    module_source: str
    module_version: str | None


class EngineConfigsView(_View):
    crossplane: CrossplaneConfigView | None
    pulumi: PulumiConfigView | None
    terraform: TerraformConfigView | None

    def engines(self) -> dict[str, Any]:
        """Every configured engine name with its config (typed ones as views)."""
        return configured_engines(self)


def empty_engine_configs() -> EngineConfigsView:
    """``EngineConfigs()``'s view: the default of ``spec.engine_configs``."""
    view = EngineConfigsView()
    view.__dict__.update(crossplane=None, pulumi=None, terraform=None)
    view.__pydantic_fields_set__ = set()
    view.__pydantic_extra__ = {}
    return view


class DeprecationView(_View):
    message: str
    replacement: str | None
    sunset: date | None


class MetadataView(_View):
    name: str
    version: str
    provider: str
    category: str
    resource_type: str
    description: str
    maintainers: list[str]
    labels: dict[str, str]
    deprecation: DeprecationView | None


class SpecView(_View):
    supported_engines: list[str]
    required_inputs: list[InputSpecView]
    optional_inputs: list[InputSpecView]
    outputs: list[OutputSpecView]
    engine_configs: EngineConfigsView

    def inputs(self) -> list[InputSpecView]:
        return [*self.required_inputs, *self.optional_inputs]


class DefinitionView(_View):
    """A ``ResourceDefinition`` as the validation layers read it."""

    api_version: Literal["catalog.nestor.io/v1"]
    kind: Literal["ResourceDefinition"]
    metadata: MetadataView
    spec: SpecView

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def version(self) -> str:
        return self.metadata.version

    @property
    def key(self) -> tuple[str, str]:
        """Identity: ``(name, version)``."""
        return (self.metadata.name, self.metadata.version)


@lru_cache(maxsize=1)
def view_validator() -> SchemaValidator:
    """pydantic-core's validator of ``ResourceDefinition``'s core schema, building views
    (about 1 ms, the first time)."""
    from nestor_catalog_core.models._view_schema import DEFINITION_SCHEMA

    return SchemaValidator(DEFINITION_SCHEMA)


def validate_view(data: Any, *, strict: bool | None = None) -> DefinitionView:
    """``ResourceDefinition.model_validate(data, strict=strict, by_alias=True, by_name=False)``
    as a view: raises the same ``pydantic_core.ValidationError``."""
    view = view_validator().validate_python(data, strict=strict, by_alias=True, by_name=False)
    assert isinstance(view, DefinitionView)
    return view


#: What the validation layers accept: a model or its view (they read the same fields).
DefinitionLike: TypeAlias = "ResourceDefinition | DefinitionView"
InputSpecLike: TypeAlias = "InputSpec | InputSpecView"
InputValidationLike: TypeAlias = "InputValidation | InputValidationView"
DeprecationLike: TypeAlias = "Deprecation | DeprecationView"
OutputSpecLike: TypeAlias = "OutputSpec | OutputSpecView"
