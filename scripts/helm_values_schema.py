#!/usr/bin/env python3
"""Writes deployments/helm/values.schema.json: the chart's own values, and under ``config`` the
JSON Schema of the server's configuration taken from its settings models
(``nestor_catalog_server.config.settings_json_schema``), so ``helm install`` refuses a typo'd
configuration key or a wrong type before anything is deployed.

Run it after changing the settings models or the chart's values; a test fails while the
committed file differs from what this prints:

    .venv/bin/python scripts/helm_values_schema.py          # rewrite the file
    .venv/bin/python scripts/helm_values_schema.py --check  # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from nestor_catalog_server.config import settings_json_schema

TARGET = Path(__file__).resolve().parent.parent / "deployments" / "helm" / "values.schema.json"

_STRING: dict[str, Any] = {"type": "string"}
_BOOL: dict[str, Any] = {"type": "boolean"}
_MAP: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}
_QUANTITY: dict[str, Any] = {"type": ["string", "number"]}


def _object(properties: dict[str, Any], *, required: list[str] | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _count(minimum: int) -> dict[str, Any]:
    return {"type": "integer", "minimum": minimum}


def chart_values() -> dict[str, Any]:
    """The schema of values.yaml, ``config`` excepted."""
    return {
        "image": _object(
            {
                "repository": {"type": "string", "minLength": 1},
                "tag": _STRING,
                "pullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
            },
            required=["repository"],
        ),
        "imagePullSecrets": {"type": "array", "items": _object({"name": _STRING}, required=["name"])},
        "nameOverride": _STRING,
        "fullnameOverride": _STRING,
        "secrets": _object(
            {
                "existingSecret": _STRING,
                "create": _BOOL,
                "clusterSecret": {"type": "string", "anyOf": [{"maxLength": 0}, {"minLength": 16}]},
                "gitWebhookSecret": _STRING,
                "gitToken": _STRING,
            }
        ),
        "jwt": _object({"existingSecret": _STRING, "publicKey": _STRING}),
        "replicaCount": _count(1),
        "autoscaling": _object(
            {
                "enabled": _BOOL,
                "minReplicas": _count(1),
                "maxReplicas": _count(1),
                "targetCPUUtilizationPercentage": {"type": "integer", "minimum": 1, "maximum": 100},
            }
        ),
        "podDisruptionBudget": _object({"enabled": _BOOL, "maxUnavailable": {"type": ["integer", "string"]}}),
        "resources": _object(
            {
                "requests": {"type": "object", "additionalProperties": _QUANTITY},
                "limits": {"type": "object", "additionalProperties": _QUANTITY},
            }
        ),
        "service": _object(
            {
                "type": {"enum": ["ClusterIP", "NodePort", "LoadBalancer"]},
                "port": {"type": "integer", "minimum": 1, "maximum": 65535},
            }
        ),
        "serviceAccount": _object({"create": _BOOL, "name": _STRING, "annotations": _MAP}),
        "networkPolicy": _object({"enabled": _BOOL}),
        "serviceMonitor": _object(
            {
                "enabled": _BOOL,
                "interval": {"type": "string", "pattern": "^([0-9]+(ms|s|m|h))+$"},
                "scrapeTimeout": {"type": "string", "pattern": "^([0-9]+(ms|s|m|h))+$"},
                "labels": _MAP,
            }
        ),
        "extraEnv": {"type": "array", "items": {"type": "object", "required": ["name"]}},
        "podAnnotations": _MAP,
        "podLabels": _MAP,
        "nodeSelector": _MAP,
        "tolerations": {"type": "array", "items": {"type": "object"}},
        "affinity": {"type": "object"},
    }


def build() -> dict[str, Any]:
    config = settings_json_schema()
    definitions = config.pop("$defs")
    config["description"] = (
        "The server's configuration file (nestor-catalog serve --config), rendered into a ConfigMap."
    )
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "nestor-catalog Helm values",
        "type": "object",
        "additionalProperties": False,
        "required": ["image", "config"],
        "properties": {"config": config, **chart_values()},
        "$defs": definitions,
    }


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the file is out of date")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET} is out of date: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
