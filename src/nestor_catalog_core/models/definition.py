"""The ``ResourceDefinition`` document (``apiVersion: catalog.nestor.io/v1``).

The models are the single source of the definition's shape: the JSON Schema served to
editors and clients is generated from them (``definition_json_schema``), and validation
runs them in pydantic's strict mode, so what the schema says and what the catalog accepts
never drift apart.

Identity rules that every layer depends on (name format, SemVer version) are part of the
model, so they hold even when policy enforcement is switched off.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from nestor_catalog_core.models._base import (
    API_VERSION,
    KIND,
    NAME_PATTERN,
    SEMVER_PATTERN,
    ValueType,
    canonical_json,
    configured_engines,
    iso_date_only,
)

__all__ = [
    "API_VERSION",
    "KIND",
    "NAME_PATTERN",
    "SEMVER_PATTERN",
    "CrossplaneConfig",
    "Deprecation",
    "EngineConfigs",
    "InputDeprecation",
    "InputSpec",
    "InputValidation",
    "Metadata",
    "OutputSpec",
    "PulumiConfig",
    "ResourceDefinition",
    "Spec",
    "TerraformConfig",
    "ValueType",
    "canonical_json",
]


class _Strict(BaseModel):
    """Base of every document model: unknown fields are findings, not silently dropped."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        populate_by_name=True,
        use_enum_values=False,
        str_strip_whitespace=False,
    )


# Enums arrive as strings from YAML/JSON; strict mode would demand enum instances.
_TypeField = Annotated[ValueType, Field(strict=False)]


class InputValidation(_Strict):
    """Constraints on an input's value; they become JSON Schema keywords for consumers."""

    pattern: str | None = Field(default=None, description="Regular expression a string must match.")
    min: int | float | None = Field(default=None, description="Smallest allowed number (inclusive).")
    max: int | float | None = Field(default=None, description="Largest allowed number (inclusive).")
    min_length: int | None = Field(default=None, ge=0, description="Shortest string, or fewest array items.")
    max_length: int | None = Field(default=None, ge=0, description="Longest string, or most array items.")
    enum: list[Any] | None = Field(default=None, min_length=1, description="The allowed values.")


class InputDeprecation(_Strict):
    """An input consumers should stop setting: still accepted, with a warning. Marking an input
    deprecated is a patch-level change; removing it later is a major one."""

    message: str = Field(min_length=1, description="Why, and what to do instead.")
    replacement: str | None = Field(default=None, description="The input to set instead, if any.")


class InputSpec(_Strict):
    """One input of a resource. Required inputs have no default; optional ones usually do."""

    name: str = Field(description="snake_case name of the input.", min_length=1)
    type: _TypeField
    description: str = ""
    default: Any = Field(default=None, description="Value used when the consumer gives none.")
    validation: InputValidation | None = None
    sensitive: bool = Field(default=False, description="Never log or display the value.")
    deprecated: InputDeprecation | None = Field(
        default=None, description="Consumers setting this input get a warning (inputs:validate)."
    )

    @property
    def has_default(self) -> bool:
        return "default" in self.model_fields_set and self.default is not None


class OutputSpec(_Strict):
    """One output a deployed resource exposes."""

    name: str = Field(min_length=1)
    type: _TypeField
    description: str = ""
    sensitive: bool = False


class CrossplaneConfig(_Strict):
    composition_ref: str = Field(min_length=1, description="Name of the Crossplane Composition.")
    version: str | None = Field(default=None, description="Version of the composition package.")


class PulumiConfig(_Strict):
    program_template: str = Field(min_length=1, description="Pulumi program template to instantiate.")
    language: Literal["typescript", "javascript", "python", "go", "csharp", "java", "yaml"] | None = None
    version: str | None = None


class TerraformConfig(_Strict):
    module_source: str = Field(min_length=1, description="Terraform module source address.")
    module_version: str | None = Field(default=None, description="Terraform version constraint.")


class EngineConfigs(_Strict):
    """Per-engine settings: typed for crossplane, pulumi and terraform, free-form maps otherwise."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, dict[str, Any]]

    crossplane: CrossplaneConfig | None = None
    pulumi: PulumiConfig | None = None
    terraform: TerraformConfig | None = None

    def engines(self) -> dict[str, Any]:
        """Every configured engine name with its config (typed ones as models)."""
        return configured_engines(self)


class Deprecation(_Strict):
    """The lifecycle block: the only part of a published version that may change."""

    message: str = Field(min_length=1)
    replacement: str | None = Field(default=None, description="What to use instead: a name, or name@constraint.")
    sunset: Annotated[date, Field(strict=False), BeforeValidator(iso_date_only)] | None = Field(
        default=None, description="ISO date after which the version may stop resolving."
    )


class Metadata(_Strict):
    name: str = Field(pattern=NAME_PATTERN, max_length=63)
    version: str = Field(pattern=SEMVER_PATTERN)
    provider: str = Field(min_length=1)
    category: str = Field(min_length=1)
    resource_type: str = Field(min_length=1)
    description: str = ""
    maintainers: list[str] = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)
    deprecation: Deprecation | None = None


class Spec(_Strict):
    supported_engines: list[str] = Field(default_factory=list)
    required_inputs: list[InputSpec] = Field(default_factory=list)
    optional_inputs: list[InputSpec] = Field(default_factory=list)
    outputs: list[OutputSpec] = Field(default_factory=list)
    engine_configs: EngineConfigs = Field(default_factory=EngineConfigs)

    def inputs(self) -> list[InputSpec]:
        return [*self.required_inputs, *self.optional_inputs]


class ResourceDefinition(_Strict):
    """A versioned, immutable infrastructure primitive, as platform teams write it in git."""

    api_version: Literal["catalog.nestor.io/v1"] = Field(alias="apiVersion")
    kind: Literal["ResourceDefinition"]
    metadata: Metadata
    spec: Spec

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

    def to_dict(self, *, lifecycle: bool = True) -> dict[str, Any]:
        """The document as JSON-safe data, field names as written in YAML."""
        exclude: dict[str, Any] | None = None if lifecycle else {"metadata": {"deprecation"}}
        return self.model_dump(mode="json", by_alias=True, exclude_none=True, exclude=exclude)

    def compute_digest(self) -> str:
        """``sha256:<hex>`` of the canonical JSON without the lifecycle block: the ETag,
        the immutability check and the dedup key. Stored with each published version, so
        readers use ``StoredVersion.digest`` instead of recomputing it."""
        return "sha256:" + hashlib.sha256(canonical_json(self.to_dict(lifecycle=False))).hexdigest()

    def with_deprecation(self, deprecation: Deprecation | None) -> ResourceDefinition:
        """A copy with another lifecycle block; the digest does not change."""
        metadata = self.metadata.model_copy(update={"deprecation": deprecation})
        return self.model_copy(update={"metadata": metadata})
