"""Document models (``ResourceDefinition``), findings, stored records and the API's ``Resource``.

Names are imported the first time they are used (PEP 562 ``__getattr__``): the models need
pydantic, which ``nestor-catalog validate`` does not import (it reads ``Finding`` and the
pydantic-free views of ``_views``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nestor_catalog_core import _lazy

if TYPE_CHECKING:
    from nestor_catalog_core.models.definition import (
        API_VERSION,
        KIND,
        NAME_PATTERN,
        SEMVER_PATTERN,
        CrossplaneConfig,
        Deprecation,
        EngineConfigs,
        InputDeprecation,
        InputSpec,
        InputValidation,
        Metadata,
        OutputSpec,
        PulumiConfig,
        ResourceDefinition,
        Spec,
        TerraformConfig,
        ValueType,
        canonical_json,
    )
    from nestor_catalog_core.models.findings import (
        Finding,
        Severity,
        format_field_path,
        has_errors,
    )
    from nestor_catalog_core.models.records import (
        RESOURCE_EVENTS,
        AuditRecord,
        Event,
        EventType,
        Lease,
        Source,
        SourceKind,
        StoredVersion,
        SyncState,
        format_time,
        parse_time,
        utcnow,
    )
    from nestor_catalog_core.models.resource import (
        Resource,
        ResourceStatus,
        resource_body,
        stored_from_body,
    )

__all__ = [
    "API_VERSION",
    "KIND",
    "NAME_PATTERN",
    "RESOURCE_EVENTS",
    "SEMVER_PATTERN",
    "AuditRecord",
    "CrossplaneConfig",
    "Deprecation",
    "EngineConfigs",
    "Event",
    "EventType",
    "Finding",
    "InputDeprecation",
    "InputSpec",
    "InputValidation",
    "Lease",
    "Metadata",
    "OutputSpec",
    "PulumiConfig",
    "Resource",
    "ResourceDefinition",
    "ResourceStatus",
    "Severity",
    "Source",
    "SourceKind",
    "Spec",
    "StoredVersion",
    "SyncState",
    "TerraformConfig",
    "ValueType",
    "canonical_json",
    "format_field_path",
    "format_time",
    "has_errors",
    "parse_time",
    "resource_body",
    "stored_from_body",
    "utcnow",
]

_LAZY: dict[str, str] = {
    "API_VERSION": "nestor_catalog_core.models._base",
    "AuditRecord": "nestor_catalog_core.models.records",
    "CrossplaneConfig": "nestor_catalog_core.models.definition",
    "Deprecation": "nestor_catalog_core.models.definition",
    "EngineConfigs": "nestor_catalog_core.models.definition",
    "Event": "nestor_catalog_core.models.records",
    "EventType": "nestor_catalog_core.models.records",
    "Finding": "nestor_catalog_core.models.findings",
    "InputDeprecation": "nestor_catalog_core.models.definition",
    "InputSpec": "nestor_catalog_core.models.definition",
    "InputValidation": "nestor_catalog_core.models.definition",
    "KIND": "nestor_catalog_core.models._base",
    "Lease": "nestor_catalog_core.models.records",
    "Metadata": "nestor_catalog_core.models.definition",
    "NAME_PATTERN": "nestor_catalog_core.models._base",
    "OutputSpec": "nestor_catalog_core.models.definition",
    "PulumiConfig": "nestor_catalog_core.models.definition",
    "RESOURCE_EVENTS": "nestor_catalog_core.models.records",
    "Resource": "nestor_catalog_core.models.resource",
    "ResourceDefinition": "nestor_catalog_core.models.definition",
    "ResourceStatus": "nestor_catalog_core.models.resource",
    "SEMVER_PATTERN": "nestor_catalog_core.models._base",
    "Severity": "nestor_catalog_core.models.findings",
    "Source": "nestor_catalog_core.models.records",
    "SourceKind": "nestor_catalog_core.models.records",
    "Spec": "nestor_catalog_core.models.definition",
    "StoredVersion": "nestor_catalog_core.models.records",
    "SyncState": "nestor_catalog_core.models.records",
    "TerraformConfig": "nestor_catalog_core.models.definition",
    "ValueType": "nestor_catalog_core.models._base",
    "canonical_json": "nestor_catalog_core.models._base",
    "format_field_path": "nestor_catalog_core.models.findings",
    "format_time": "nestor_catalog_core.models.records",
    "has_errors": "nestor_catalog_core.models.findings",
    "parse_time": "nestor_catalog_core.models.records",
    "resource_body": "nestor_catalog_core.models.resource",
    "stored_from_body": "nestor_catalog_core.models.resource",
    "utcnow": "nestor_catalog_core.models.records",
}


__getattr__, __dir__ = _lazy.lazy_names(globals(), _LAZY)
