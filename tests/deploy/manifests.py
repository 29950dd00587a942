"""Rendering and checking Kubernetes manifests: ``kubectl kustomize`` (and ``helm template``)
output, every object validated with ``kubernetes-validate`` against the Kubernetes versions in
``KUBERNETES_VERSIONS`` (strict: unknown fields are errors), the ServiceMonitor against the
schema in ``schemas/`` (CRDs are not in kubernetes-validate), and the server's configuration
loaded from the rendered ConfigMap by the project's own loader, with the environment and the
files the pod would see."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from nestor_catalog_server.config import Settings, load_settings
from tests.conftest import IN_CI, ROOT

#: The oldest Kubernetes still supported by the big providers here, and the newest schemas shipped.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
KUSTOMIZE_ROOT = ROOT / "deployments" / "kubernetes"
SCHEMAS = Path(__file__).parent / "schemas"
CONFIG_PATH = "/etc/nestor-catalog/catalog.yaml"

Manifest = dict[str, Any]


def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        if IN_CI:
            pytest.fail("kubectl is required in CI (scripts/ensure-tools installs it)", pytrace=False)
        pytest.skip("kubectl is not installed: run scripts/ensure-tools")
    return found


def kustomize(path: Path, *, load_restrictor: bool = True) -> list[Manifest]:
    args = [kubectl(), "kustomize", str(path)]
    if not load_restrictor:
        args += ["--load-restrictor", "LoadRestrictionsNone"]
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def by_kind(manifests: Iterable[Manifest]) -> dict[str, list[Manifest]]:
    kinds: dict[str, list[Manifest]] = {}
    for manifest in manifests:
        kinds.setdefault(manifest["kind"], []).append(manifest)
    return kinds


def one(manifests: Iterable[Manifest], kind: str) -> Manifest:
    [found] = by_kind(manifests)[kind]
    return found


def validate_all(manifests: Iterable[Manifest]) -> list[str]:
    """Validate every object; returns ``kind/name`` of each one checked."""
    checked = []
    servicemonitor_schema = json.loads((SCHEMAS / "servicemonitor-v1.json").read_text())
    for manifest in manifests:
        name = f"{manifest['kind']}/{manifest['metadata']['name']}"
        if manifest["apiVersion"].startswith("monitoring.coreos.com/"):
            jsonschema.validate(manifest, servicemonitor_schema)
        else:
            for version in KUBERNETES_VERSIONS:
                try:
                    kubernetes_validate.validate(manifest, version, strict=True)
                except kubernetes_validate.ValidationError as exc:
                    raise AssertionError(
                        f"{name} is invalid for Kubernetes {version}: {exc.message} at {list(exc.path)}"
                    ) from None
        checked.append(name)
    return checked


def workload(manifests: Iterable[Manifest]) -> Manifest:
    [found] = [m for m in manifests if m["kind"] in {"Deployment", "StatefulSet"}]
    return found


def container(manifests: Iterable[Manifest]) -> Manifest:
    [found] = workload(manifests)["spec"]["template"]["spec"]["containers"]
    return found


def pod_environment(manifests: Iterable[Manifest], secrets: Mapping[str, str]) -> dict[str, str]:
    """The container's environment as the kubelet builds it: values, ``$(VAR)`` references to
    earlier variables, field references (given fake pod values) and Secret keys from ``secrets``
    (``name/key`` -> value; an optional reference without a value is left out)."""
    fields = {"metadata.name": "nestor-catalog-7d9f-abcde", "status.podIP": "10.1.2.3", "metadata.namespace": "nestor"}
    env: dict[str, str] = {}
    for entry in container(manifests).get("env", []):
        source = entry.get("valueFrom")
        if source is None:
            value = str(entry.get("value", ""))
            for name, known in env.items():
                value = value.replace(f"$({name})", known)
            env[entry["name"]] = value
        elif "fieldRef" in source:
            env[entry["name"]] = fields[source["fieldRef"]["fieldPath"]]
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            key = f"{ref['name']}/{ref['key']}"
            if key in secrets:
                env[entry["name"]] = secrets[key]
            else:
                assert ref.get("optional"), f"the pod needs Secret key {key}, which the test did not give"
    return env


def load_pod_settings(
    manifests: list[Manifest], tmp_path: Path, *, secrets: Mapping[str, str], files: Mapping[str, str] = {}
) -> Settings:
    """The server's settings as the pod loads them: the rendered ConfigMap's file at the path the
    container mounts (``NESTOR_CATALOG_CONFIG``), the files of the mounted Secrets (``files``:
    absolute path in the pod -> content, placed under ``tmp_path`` and the configuration's paths
    rewritten to match) and the container's environment."""
    [config_map] = [m for m in manifests if m["kind"] == "ConfigMap" and "catalog.yaml" in m.get("data", {})]
    env = pod_environment(manifests, secrets)
    assert env["NESTOR_CATALOG_CONFIG"] == CONFIG_PATH
    text = config_map["data"]["catalog.yaml"]
    for pod_path, content in files.items():
        local = tmp_path / "pod" / pod_path.lstrip("/")
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text(content)
        text = text.replace(pod_path, str(local))
    config = tmp_path / "pod" / CONFIG_PATH.lstrip("/")
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(text)
    return load_settings(config, environ={**env, "PATH": os.environ.get("PATH", "")})
