"""Realistic records for storage tests: definitions shaped like the spec's example, with
the version, event and audit record the catalog would write for a publish.

Shared by the conformance suite, the SQLite crash writer and the benchmarks; the DynamoDB
adapter's tests reuse it through ``tests/core/storage/conftest.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from nestor_catalog_core.models import (
    AuditRecord,
    Event,
    EventType,
    Source,
    SourceKind,
    StoredVersion,
    SyncState,
    utcnow,
)
from nestor_catalog_core.models.definition import Deprecation, ResourceDefinition, canonical_json

BASE_TIME = datetime(2024, 1, 15, 10, 30, 45, tzinfo=UTC)


def git_source(
    repository: str = "platform-definitions", *, path: str | None = None, commit: str = "abc123def456"
) -> Source:
    return Source(
        kind=SourceKind.GIT,
        repository=repository,
        path=path,
        commit=commit,
        author_email="platform-team@company.com",
        committed_at=BASE_TIME,
    )


def api_source(user: str = "platform-team@company.com") -> Source:
    return Source(kind=SourceKind.API, user=user)


def definition(
    name: str = "aws-rds-mysql",
    version: str = "1.2.0",
    *,
    provider: str = "aws",
    category: str = "database",
    resource_type: str = "mysql",
    description: str = "AWS RDS MySQL database instance",
    max_storage: int = 1000,
    deprecation: Deprecation | None = None,
) -> ResourceDefinition:
    """The spec's example definition; ``max_storage`` changes the content (and digest)."""
    data: dict[str, Any] = {
        "apiVersion": "catalog.nestor.io/v1",
        "kind": "ResourceDefinition",
        "metadata": {
            "name": name,
            "version": version,
            "provider": provider,
            "category": category,
            "resource_type": resource_type,
            "description": description,
            "maintainers": ["platform-team@company.com"],
        },
        "spec": {
            "supported_engines": ["crossplane", "pulumi", "terraform"],
            "required_inputs": [
                {
                    "name": "instance_class",
                    "type": "string",
                    "description": "DB instance class (e.g., db.t3.micro)",
                    "validation": {"pattern": r"^db\.[a-z0-9]+\.[a-z]+$"},
                },
                {
                    "name": "allocated_storage",
                    "type": "integer",
                    "description": "Allocated storage in GB",
                    "validation": {"min": 20, "max": max_storage},
                },
            ],
            "optional_inputs": [
                {
                    "name": "backup_retention_period",
                    "type": "integer",
                    "default": 7,
                    "description": "Backup retention period in days",
                }
            ],
            "outputs": [
                {"name": "endpoint", "type": "string", "description": "Database connection endpoint"},
                {"name": "port", "type": "integer", "description": "Database port"},
            ],
            "engine_configs": {
                "crossplane": {"composition_ref": f"{name}-composition", "version": f"v{version}"},
                "pulumi": {"program_template": f"{name}-pulumi", "language": "typescript"},
                "terraform": {"module_source": "terraform-aws-modules/rds/aws", "module_version": "~> 5.0"},
            },
        },
    }
    built = ResourceDefinition.model_validate(data, strict=False)
    return built.with_deprecation(deprecation) if deprecation is not None else built


@dataclass(frozen=True, slots=True)
class PublishArgs:
    """What ``ComponentStore.publish`` takes, built the way the catalog builds it."""

    version: StoredVersion
    event: Event
    audit: AuditRecord

    def as_tuple(self) -> tuple[StoredVersion, Event, AuditRecord]:
        return (self.version, self.event, self.audit)


def stored_version(
    name: str = "aws-rds-mysql",
    version: str = "1.2.0",
    *,
    source: Source | None = None,
    published_at: datetime | None = None,
    **definition_options: Any,
) -> StoredVersion:
    return StoredVersion.from_definition(
        definition(name, version, **definition_options),
        source or git_source(path=f"definitions/{name}-{version}.yaml"),
        published_at=published_at or utcnow(),
    )


def version_event(version: StoredVersion, event_type: EventType = EventType.RESOURCE_CREATED, **data: Any) -> Event:
    return Event(
        type=event_type,
        time=version.published_at,
        name=version.name,
        version=version.version,
        provider=version.provider,
        category=version.category,
        resource_type=version.resource_type,
        data={"digest": version.digest, **data},
    )


def audit_record(
    action: str = EventType.RESOURCE_CREATED.value,
    resource: str | None = "aws-rds-mysql",
    version: str | None = "1.2.0",
    *,
    user: str | None = "platform-team@company.com",
    timestamp: datetime | None = None,
    outcome: str = "accepted",
    source: Source | None = None,
    changes: list[str] | None = None,
) -> AuditRecord:
    return AuditRecord(
        action=action,
        resource=resource,
        version=version,
        user=user,
        timestamp=timestamp or utcnow(),
        changes=changes if changes is not None else ["spec.optional_inputs"],
        git_commit=source.commit if source else "abc123def456",
        source=source,
        outcome=outcome,
    )


def publish_args(
    name: str = "aws-rds-mysql",
    version: str = "1.2.0",
    *,
    source: Source | None = None,
    published_at: datetime | None = None,
    user: str = "platform-team@company.com",
    **definition_options: Any,
) -> PublishArgs:
    """A version of ``name`` with its ``resource.created`` event and audit record."""
    stored = stored_version(name, version, source=source, published_at=published_at, **definition_options)
    audit = audit_record(
        EventType.RESOURCE_CREATED.value,
        name,
        version,
        user=user,
        timestamp=stored.published_at,
        source=stored.source,
        changes=[],
    )
    return PublishArgs(version=stored, event=version_event(stored), audit=audit)


def lifecycle_document(version: StoredVersion, message: str = "use 2.x") -> bytes:
    """``version``'s document with a lifecycle block (same digest)."""
    deprecated = version.definition().with_deprecation(Deprecation(message=message, replacement=f"{version.name}@^2"))
    return canonical_json(deprecated.to_dict())


def simple_event(
    event_type: EventType = EventType.SYNC_COMPLETED, *, time: datetime | None = None, **data: Any
) -> Event:
    return Event(type=event_type, time=time or utcnow(), data=dict(data))


def sync_state(source: str = "platform-definitions", *, files: int = 3) -> SyncState:
    return SyncState(
        source=source,
        last_commit="0123456789abcdef0123456789abcdef01234567",
        updated_at=BASE_TIME + timedelta(minutes=5),
        files={f"definitions/resource-{i:05d}.yaml": [f"{i:040x}", f"resource-{i:05d}", "1.0.0"] for i in range(files)},
        data={"branch": "main", "errors": {"definitions/broken.yaml": ["line 3: mapping values are not allowed"]}},
    )
