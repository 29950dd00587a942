"""Definitions for API tests: a valid queue definition with overridable metadata, as YAML."""

from __future__ import annotations

import yaml

__all__ = ["as_yaml", "definition"]


def definition(name: str = "team-queue", version: str = "1.0.0", **metadata: object) -> dict[str, object]:
    return {
        "apiVersion": "catalog.nestor.io/v1",
        "kind": "ResourceDefinition",
        "metadata": {
            "name": name,
            "version": version,
            "provider": "aws",
            "category": "queue",
            "resource_type": "sqs-queue",
            "description": "A queue published through the API",
            "maintainers": ["platform-team@company.com"],
            **metadata,
        },
        "spec": {
            "supported_engines": ["terraform"],
            "required_inputs": [{"name": "queue_name", "type": "string", "description": "Name"}],
            "outputs": [{"name": "queue_url", "type": "string", "description": "URL"}],
            "engine_configs": {
                "terraform": {"module_source": "terraform-aws-modules/sqs/aws", "module_version": "~> 4.0"}
            },
        },
    }


def as_yaml(*documents: dict[str, object]) -> bytes:
    return yaml.safe_dump_all(documents, sort_keys=False).encode()
