"""A valid definition to mutate in tests: it passes every rule with no warning."""

from __future__ import annotations

import copy
from typing import Any

BASE: dict[str, Any] = {
    "apiVersion": "catalog.nestor.io/v1",
    "kind": "ResourceDefinition",
    "metadata": {
        "name": "aws-rds-mysql",
        "version": "1.2.0",
        "provider": "aws",
        "category": "database",
        "resource_type": "mysql",
        "description": "AWS RDS MySQL database instance",
        "maintainers": ["platform-team@company.com"],
        "labels": {"app.kubernetes.io/part-of": "nestor", "tier": "gold"},
    },
    "spec": {
        "supported_engines": ["crossplane", "terraform"],
        "required_inputs": [
            {
                "name": "instance_class",
                "type": "string",
                "description": "DB instance class",
                "validation": {"pattern": r"^db\.[a-z0-9]+\.[a-z]+$"},
            },
            {
                "name": "allocated_storage",
                "type": "integer",
                "description": "Allocated storage in GB",
                "validation": {"min": 20, "max": 1000},
            },
        ],
        "optional_inputs": [
            {
                "name": "backup_retention_period",
                "type": "integer",
                "default": 7,
                "description": "Backup retention in days",
                "validation": {"min": 1, "max": 35},
            },
            {
                "name": "engine_version",
                "type": "string",
                "default": "8.0",
                "description": "MySQL version",
                "validation": {"enum": ["5.7", "8.0"], "min_length": 3, "max_length": 4},
            },
            {
                "name": "tags",
                "type": "array",
                "default": ["a"],
                "description": "Tags",
                "validation": {"min_length": 1, "max_length": 3},
            },
        ],
        "outputs": [
            {"name": "endpoint", "type": "string", "description": "Connection endpoint"},
            {"name": "port", "type": "integer", "description": "Port"},
        ],
        "engine_configs": {
            "crossplane": {"composition_ref": "aws-rds-mysql-composition"},
            "terraform": {"module_source": "terraform-aws-modules/rds/aws", "module_version": "~> 5.0"},
        },
    },
}


def definition(**changes: Any) -> dict[str, Any]:
    """A deep copy of ``BASE``; keyword ``a__b__0__c=value`` sets ``data[a][b][0][c]``
    (``DELETE`` removes the key)."""
    data = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        set_path(data, dotted.split("__"), value)
    return data


DELETE = object()


def set_path(data: Any, parts: list[str], value: Any) -> None:
    target = data
    for part in parts[:-1]:
        target = target[int(part)] if isinstance(target, list) else target[part]
    last = parts[-1]
    if isinstance(target, list):
        target[int(last)] = value
    elif value is DELETE:
        del target[last]
    else:
        target[last] = value
