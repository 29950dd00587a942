"""Core's curated public surface: what ``nestor_catalog_core`` exports, and that the client
and the server import core from its root or its public subpackages, never from a module inside one."""

from __future__ import annotations

import re
from pathlib import Path

import nestor_catalog_core

SRC = Path(__file__).resolve().parents[2] / "src"
#: ``from nestor_catalog_core.<package>.<module> import``: a deep import.
_DEEP_IMPORT = re.compile(r"^\s*from nestor_catalog_core\.\w+\.\w+ import", re.MULTILINE)
#: Deep imports that are the point: the DynamoDB adapter is imported lazily (boto3 is an extra).
_ALLOWED_DEEP = {("config/models.py", "from nestor_catalog_core.storage.dynamodb import")}

EXPECTED = {
    "AuditPage",
    "AuditQuery",
    "AuditRecord",
    "AuthenticationError",
    "Bump",
    "Catalog",
    "CatalogEntry",
    "CatalogError",
    "CatalogReader",
    "CatalogSettings",
    "Change",
    "CompatReport",
    "ComponentStore",
    "ConfigError",
    "ConcurrentWrite",
    "ConflictError",
    "Constraint",
    "Deprecation",
    "Event",
    "EventFilter",
    "EventType",
    "Finding",
    "ImmutableVersionError",
    "IncompatibleChange",
    "InputDeprecation",
    "InputSpec",
    "InputsInvalid",
    "InputsResult",
    "InvalidConstraint",
    "InvalidRequest",
    "InvalidVersion",
    "LeaseHeld",
    "Limits",
    "ListFilters",
    "LoadOptions",
    "LoadResult",
    "LoadedDocument",
    "MemoryStore",
    "Metadata",
    "NoMatchingVersion",
    "NotFoundError",
    "OutputSpec",
    "OwnershipConflict",
    "Page",
    "PayloadTooLarge",
    "PermissionDenied",
    "PublishOutcome",
    "PublishResult",
    "RESOURCE_EVENTS",
    "RateLimited",
    "ReadModel",
    "ReadOnly",
    "RemoteError",
    "Resource",
    "ResourceDefinition",
    "ResourceNotFound",
    "ResourceStatus",
    "SQLiteStore",
    "ServiceUnavailable",
    "Severity",
    "Source",
    "SourceKind",
    "SourceNotFound",
    "Spec",
    "StorageError",
    "StorageUnavailable",
    "StoredVersion",
    "StreamReset",
    "SyncError",
    "SyncState",
    "ValidatedDocument",
    "ValidationFailed",
    "ValidationSettings",
    "VersionNotFound",
    "__version__",
    "available_schemes",
    "check_definition",
    "check_policies",
    "compare",
    "decode_json",
    "definition_json_schema",
    "discover",
    "error_class_for_code",
    "inputs_json_schema",
    "is_version",
    "iter_load",
    "load_bytes",
    "load_file",
    "open_store",
    "parse_version",
    "register_store",
    "sort_versions",
    "validate_data",
    "validate_document",
    "validate_inputs",
    "version_key",
}


def test_all_is_exactly_the_public_names() -> None:
    assert set(nestor_catalog_core.__all__) == EXPECTED
    assert len(nestor_catalog_core.__all__) == len(EXPECTED), "a name is listed twice"


def test_every_public_name_resolves() -> None:
    for name in nestor_catalog_core.__all__:
        assert getattr(nestor_catalog_core, name) is not None, name


def test_the_client_and_the_server_import_core_from_its_public_packages() -> None:
    found = []
    for package in ("nestor_catalog_client", "nestor_catalog_server"):
        for path in sorted((SRC / package).rglob("*.py")):
            relative = path.relative_to(SRC / package).as_posix()
            for match in _DEEP_IMPORT.finditer(path.read_text()):
                if (relative, match.group(0).strip()) not in _ALLOWED_DEEP:
                    found.append(f"{package}/{relative}: {match.group(0).strip()}")
    assert found == []
