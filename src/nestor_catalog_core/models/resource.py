"""``Resource``: a published definition together with its status, as every reader sees it.

The JSON form is the definition's own fields plus a ``status`` block::

    {"apiVersion": ..., "kind": ..., "metadata": {...}, "spec": {...},
     "status": {"digest": "sha256:...", "published_at": "...", "source": {...},
                "deprecated": false, "withdrawn": false, "sunset": false, "sequence": 12}}

``sunset`` is true once a deprecated version's sunset date has come (00:00 UTC): it is then
left out of ``latest`` and constraint resolution, and still fetchable exactly.

It is the body of ``GET /api/v1/resources/{name}/{version}``, the ``data`` of resource events,
and what the client and the mirror parse back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nestor_catalog_core.models.definition import Deprecation, ResourceDefinition, canonical_json
from nestor_catalog_core.models.records import Source, StoredVersion, format_time, parse_time

__all__ = ["Resource", "ResourceStatus", "resource_body", "stored_from_body"]


@dataclass(frozen=True, slots=True)
class ResourceStatus:
    digest: str
    published_at: datetime
    source: Source
    deprecated: bool = False
    withdrawn: bool = False
    sequence: int = 0
    updated_at: datetime | None = None
    sunset: bool = False  # past its sunset date: left out of latest and constraint resolution

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "digest": self.digest,
            "published_at": format_time(self.published_at),
            "source": self.source.to_dict(),
            "deprecated": self.deprecated,
            "withdrawn": self.withdrawn,
            "sunset": self.sunset,
        }
        if self.sequence:
            data["sequence"] = self.sequence
        if self.updated_at is not None:
            data["updated_at"] = format_time(self.updated_at)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ResourceStatus:
        updated = data.get("updated_at")
        return cls(
            digest=data["digest"],
            published_at=parse_time(data["published_at"]),
            source=Source.from_dict(data["source"]),
            deprecated=bool(data.get("deprecated", False)),
            withdrawn=bool(data.get("withdrawn", False)),
            sequence=int(data.get("sequence", 0)),
            updated_at=parse_time(updated) if updated else None,
            sunset=bool(data.get("sunset", False)),
        )

    @classmethod
    def of(cls, stored: StoredVersion, *, now: datetime | None = None) -> ResourceStatus:
        """The status of ``stored`` at ``now`` (default: the current time; ``sunset`` depends on it)."""
        return cls(
            digest=stored.digest,
            published_at=stored.published_at,
            source=stored.source,
            deprecated=stored.deprecated,
            withdrawn=stored.withdrawn,
            sequence=stored.sequence,
            updated_at=stored.updated_at,
            sunset=stored.is_sunset(now),
        )


@dataclass(frozen=True, slots=True)
class Resource:
    """A published version: the immutable definition and its (mutable) status."""

    definition: ResourceDefinition
    status: ResourceStatus

    @property
    def name(self) -> str:
        return self.definition.metadata.name

    @property
    def version(self) -> str:
        return self.definition.metadata.version

    @property
    def digest(self) -> str:
        return self.status.digest

    @property
    def deprecated(self) -> bool:
        return self.status.deprecated

    @property
    def withdrawn(self) -> bool:
        return self.status.withdrawn

    @property
    def sunset(self) -> bool:
        return self.status.sunset

    @property
    def deprecation(self) -> Deprecation | None:
        return self.definition.metadata.deprecation

    def to_dict(self) -> dict[str, Any]:
        data = self.definition.to_dict()
        data["status"] = self.status.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Resource:
        body = dict(data)
        status = body.pop("status")
        return cls(
            definition=ResourceDefinition.model_validate(body, strict=False),
            status=ResourceStatus.from_dict(status),
        )


def resource_body(stored: StoredVersion) -> bytes:
    """The resource's JSON bytes, built from the stored canonical document without parsing it."""
    status = json.dumps(ResourceStatus.of(stored).to_dict(), separators=(",", ":"), ensure_ascii=False).encode()
    document = stored.document
    if document.endswith(b"}"):
        return document[:-1] + b',"status":' + status + b"}"
    raise ValueError(f"stored document of {stored.name}@{stored.version} is not a JSON object")


def stored_from_body(body: dict[str, Any], *, sequence: int | None = None) -> StoredVersion:
    """The storage record for a resource body (an event's data, an API response) without
    running the models: the definition part is already canonical and validated.

    ``sequence`` overrides ``status.sequence`` (events carry it as their id instead).
    """
    definition = {key: value for key, value in body.items() if key != "status"}
    status = ResourceStatus.from_dict(body["status"])
    metadata = definition["metadata"]
    return StoredVersion(
        name=metadata["name"],
        version=metadata["version"],
        digest=status.digest,
        document=canonical_json(definition),
        provider=metadata["provider"],
        category=metadata["category"],
        resource_type=metadata["resource_type"],
        source=status.source,
        published_at=status.published_at,
        sequence=status.sequence if sequence is None else sequence,
        updated_at=status.updated_at,
        withdrawn=status.withdrawn,
        deprecated=status.deprecated,
    )
