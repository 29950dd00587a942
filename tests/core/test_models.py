from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from nestor_catalog_core import (
    CatalogError,
    Deprecation,
    ResourceDefinition,
    VersionNotFound,
    error_class_for_code,
)


def _load(path: Path) -> ResourceDefinition:
    return ResourceDefinition.model_validate(yaml.load(path.read_text(), Loader=yaml.CSafeLoader))


def test_spec_example_loads_unchanged(examples_dir: Path) -> None:
    definition = _load(examples_dir / "aws-rds-mysql-1.2.0.yaml")
    assert definition.key == ("aws-rds-mysql", "1.2.0")
    assert definition.spec.required_inputs[0].validation is not None
    assert definition.spec.required_inputs[0].validation.pattern == r"^db\.[a-z0-9]+\.[a-z]+$"
    assert definition.spec.optional_inputs[0].default == 7
    assert definition.spec.engine_configs.terraform is not None
    assert definition.spec.engine_configs.terraform.module_version == "~> 5.0"


def test_json_round_trip_keeps_content_and_digest(examples_dir: Path) -> None:
    definition = _load(examples_dir / "aws-rds-mysql-1.2.0.yaml")
    again = ResourceDefinition.model_validate_json(json.dumps(definition.to_dict()))
    assert again == definition
    assert again.compute_digest() == definition.compute_digest()


def test_yaml_round_trip(examples_dir: Path) -> None:
    definition = _load(examples_dir / "aws-rds-mysql-1.2.0.yaml")
    text = yaml.safe_dump(definition.to_dict(), sort_keys=False)
    assert ResourceDefinition.model_validate(yaml.safe_load(text)) == definition


def test_digest_ignores_lifecycle_block(examples_dir: Path) -> None:
    definition = _load(examples_dir / "aws-rds-mysql-1.2.0.yaml")
    deprecated = definition.with_deprecation(Deprecation(message="use 2.x", replacement="aws-rds-mysql@^2"))
    assert deprecated.metadata.deprecation is not None
    assert deprecated.compute_digest() == definition.compute_digest()
    assert deprecated.to_dict() != definition.to_dict()


def test_free_form_engine_configs_are_kept() -> None:
    data = {
        "apiVersion": "catalog.nestor.io/v1",
        "kind": "ResourceDefinition",
        "metadata": {
            "name": "x",
            "version": "1.0.0",
            "provider": "aws",
            "category": "cache",
            "resource_type": "redis",
        },
        "spec": {"supported_engines": ["helm"], "engine_configs": {"helm": {"chart": "bitnami/redis"}}},
    }
    definition = ResourceDefinition.model_validate(data)
    assert definition.spec.engine_configs.engines() == {"helm": {"chart": "bitnami/redis"}}
    assert definition.to_dict()["spec"]["engine_configs"] == {"helm": {"chart": "bitnami/redis"}}


def test_strict_model_rejects_unknown_fields_and_coercion() -> None:
    data = {
        "apiVersion": "catalog.nestor.io/v1",
        "kind": "ResourceDefinition",
        "metadata": {
            "name": "x",
            "version": 1.0,
            "provider": "aws",
            "category": "c",
            "resource_type": "r",
            "colour": 1,
        },
        "spec": {},
    }
    with pytest.raises(ValidationError) as info:
        ResourceDefinition.model_validate(data)
    locations = {tuple(err["loc"]) for err in info.value.errors()}
    assert ("metadata", "version") in locations
    assert ("metadata", "colour") in locations


def test_error_codes_map_back_to_classes() -> None:
    assert error_class_for_code("IMMUTABLE_VERSION").__name__ == "ImmutableVersionError"  # type: ignore[union-attr]
    assert error_class_for_code("RESOURCE_NOT_FOUND").__name__ == "ResourceNotFound"  # type: ignore[union-attr]
    assert error_class_for_code("NO_SUCH_CODE") is None
    err = VersionNotFound("aws-rds-mysql", "2.0.0")
    assert isinstance(err, CatalogError)
    assert err.to_dict()["details"] == {"resource_name": "aws-rds-mysql", "version": "2.0.0"}


def test_the_scan_constructor_builds_the_same_stored_version_as_the_dataclass() -> None:
    """``stored_version_of`` sets the slots by position: a field added, removed or reordered
    in ``StoredVersion`` without it would put values in the wrong fields."""
    from datetime import UTC, datetime

    from nestor_catalog_core.models import Source, SourceKind, StoredVersion
    from nestor_catalog_core.models.records import stored_version_of

    source = Source(kind=SourceKind.GIT, repository="platform", path="x.yaml", commit="abc")
    values = (
        "aws-rds-mysql",
        "1.2.0",
        "sha256:00",
        b'{"a":1}',
        "aws",
        "database",
        "mysql",
        source,
        datetime(2026, 1, 2, tzinfo=UTC),
        7,
        datetime(2026, 3, 4, tzinfo=UTC),
        True,
        True,
    )

    built = stored_version_of(*values)

    assert built == StoredVersion(*values)
    assert [getattr(built, f) for f in StoredVersion.__dataclass_fields__] == list(values)
