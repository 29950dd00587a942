"""``deployments/helm``: the chart the spec installs.

Without Helm: ``values.schema.json`` (generated from the settings models by
``scripts/helm_values_schema.py``, checked to be current) accepts ``values.yaml`` and the spec's
``--set`` keys and refuses bad values (check-jsonschema, the real CLI); the ``config`` value loads
with the server's configuration loader; every template is valid YAML once its actions are
replaced by their default values. With Helm (``scripts/ensure-tools`` installs it): ``helm lint
--strict``, and ``helm template`` output validated like the Kustomize overlays.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from nestor_catalog_server.config import settings_from_mapping
from tests.conftest import IN_CI, ROOT
from tests.deploy.manifests import KUSTOMIZE_ROOT, by_kind, container, kustomize, load_pod_settings, validate_all

CHART = ROOT / "deployments" / "helm"
SCHEMA = CHART / "values.schema.json"
SPEC_SET = (
    "config.storage.dynamodb.table_name=nestor-catalog-prod",
    "config.git.repositories[0].url=https://github.com/company/platform-resources.git",
)
BAD_SET = {
    "config.storage.dynamodb.tabel_name=x": "tabel_name",
    "config.storage.type=postgres": "postgres",
    "config.sse.heartbeat_interval=soon": "soon",
    "config.git.repositories[0].path=resources": "url",
    "config.sse.max_connections=0": "minimum",
    "replicaCount=0": "minimum",
    "image.pullPolicy=Sometimes": "Sometimes",
    "serviceMonitor.enabled=maybe": "maybe",
}


def values() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return document


def _typed(text: str) -> Any:
    """A ``--set`` value as Helm types it: booleans, integers, null, else a string."""
    if text in {"true", "false"}:
        return text == "true"
    if text == "null":
        return None
    if re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    return text


def with_set(base: dict[str, Any], *assignments: str) -> dict[str, Any]:
    """``base`` with ``--set key.path[0].key=value`` applied as Helm applies it (a list index
    replaces the list given in values.yaml by one holding the new item)."""
    result = copy.deepcopy(base)
    for assignment in assignments:
        path, _, raw = assignment.partition("=")
        parts: list[str | int] = []
        for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
            parts.append(int(index) if index else name)
        target: Any = result
        touched_lists: set[int] = set()
        for position, part in enumerate(parts):
            last = position == len(parts) - 1
            following = None if last else parts[position + 1]
            if isinstance(part, int):
                while len(target) <= part:
                    target.append({} if not isinstance(following, int) else [])
                if last:
                    target[part] = _typed(raw)
                else:
                    target = target[part]
                continue
            if last:
                target[part] = _typed(raw)
            elif isinstance(following, int):
                if id(target.get(part)) not in touched_lists:
                    target[part] = []
                    touched_lists.add(id(target[part]))
                target = target[part]
            else:
                target = target.setdefault(part, {})
    return result


def check_jsonschema(document: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    instance = tmp_path / "values.json"
    instance.write_text(json.dumps(document))
    tool = Path(sys.executable).with_name("check-jsonschema")
    return subprocess.run(
        [str(tool), "--schemafile", str(SCHEMA), str(instance)], capture_output=True, text=True, check=False
    )


def public_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


# --------------------------------------------------------------------------------------------- no helm needed


def test_values_schema_is_generated_from_the_settings_models() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "helm_values_schema.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_values_yaml_passes_its_schema(tmp_path: Path) -> None:
    result = check_jsonschema(values(), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_specs_set_keys_pass_the_schema(tmp_path: Path) -> None:
    result = check_jsonschema(with_set(values(), *SPEC_SET), tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("assignment", "reason"), BAD_SET.items(), ids=list(BAD_SET))
def test_bad_values_are_refused_by_the_schema(assignment: str, reason: str, tmp_path: Path) -> None:
    result = check_jsonschema(with_set(values(), assignment), tmp_path)
    assert result.returncode == 1
    assert reason in result.stdout, result.stdout


def test_the_config_value_loads_with_the_servers_loader() -> None:
    settings = settings_from_mapping(values()["config"], environ={})
    assert settings.storage.type == "dynamodb"
    assert settings.storage.dynamodb.creates_table
    assert settings.leadership.cluster_secret is None, "no Secret: HTTP forwarding stays closed"
    assert settings.git.repositories == ()
    settings = settings_from_mapping(
        with_set(values(), *SPEC_SET)["config"], environ={"CLUSTER_SECRET": "cluster-secret-0123456789"}
    )
    assert settings.storage.dynamodb.table_name == "nestor-catalog-prod"
    [repository] = settings.git.repositories
    assert (repository.name, repository.url) == ("platform-resources", SPEC_SET[1].split("=", 1)[1])
    assert settings.leadership.cluster_secret is not None


_ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}")
_CONTROL = re.compile(r"^(if|else|end|with|range|define|/\*)")


def substitute_defaults(text: str, defaults: dict[str, Any]) -> str:
    """A template with its actions replaced: control lines dropped (every branch kept), a
    ``.Values.x`` reference by its default, an ``include``/``toYaml`` block by nothing (its
    key reads as null) and any other expression by a placeholder string."""

    def lookup(expression: str) -> Any:
        match = re.fullmatch(r"\.Values\.([\w.]+)(?:\s*\|\s*quote)?", expression)
        if match is None:
            return None
        value: Any = defaults
        for part in match.group(1).split("."):
            value = value.get(part) if isinstance(value, dict) else None
        return value

    lines = []
    for line in text.splitlines():
        actions = _ACTION.findall(line)
        stripped = _ACTION.sub("", line).strip()
        if actions and not stripped:
            continue  # a control line or a block include/toYaml

        def replace(match: re.Match[str]) -> str:
            value = lookup(match.group(1))
            if value is None or isinstance(value, dict | list):
                return "placeholder"
            return str(value).lower() if isinstance(value, bool) else str(value)

        lines.append(_ACTION.sub(replace, line))
    return "\n".join(lines)


@pytest.mark.parametrize("template", sorted((CHART / "templates").glob("*.yaml")), ids=lambda p: p.name)
def test_every_template_is_yaml_with_its_defaults(template: Path) -> None:
    rendered = substitute_defaults(template.read_text(), values())
    documents = [document for document in yaml.safe_load_all(rendered) if document]
    assert documents, f"{template.name} renders nothing"
    for document in documents:
        assert {"apiVersion", "kind", "metadata"} <= set(document), template.name


def test_the_chart_has_the_production_overlays_objects() -> None:
    kinds = {path.stem for path in (CHART / "templates").glob("*.yaml")}
    overlay = by_kind(kustomize(KUSTOMIZE_ROOT / "overlays" / "production"))
    expected = {
        kind.lower().replace("horizontalpodautoscaler", "hpa").replace("poddisruptionbudget", "pdb") for kind in overlay
    }
    assert expected <= kinds | {"configmap"}
    assert {"servicemonitor", "secret"} <= kinds


# --------------------------------------------------------------------------------------------- with helm


def helm() -> str:
    found = shutil.which("helm") or str(ROOT / "tools" / "bin" / "helm")
    if not Path(found).exists():
        reason = "helm is not installed: scripts/ensure-tools (make test) installs it into tools/bin"
        if IN_CI:
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return found


def helm_template(*assignments: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    args = [helm(), "template", "nestor-catalog", str(CHART)]
    for assignment in assignments:
        args += ["--set", assignment]
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_helm_lint_strict() -> None:
    result = subprocess.run([helm(), "lint", "--strict", str(CHART)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_helm_template_of_the_specs_install_is_valid_kubernetes(tmp_path: Path) -> None:
    manifests = [document for document in yaml.safe_load_all(helm_template(*SPEC_SET).stdout) if document]
    checked = validate_all(manifests)
    assert {
        "Deployment/nestor-catalog",
        "HorizontalPodAutoscaler/nestor-catalog",
        "PodDisruptionBudget/nestor-catalog",
    } <= set(checked)
    settings = load_pod_settings(manifests, tmp_path, secrets={})
    assert settings.storage.dynamodb.table_name == "nestor-catalog-prod"
    assert [repository.name for repository in settings.git.repositories] == ["platform-resources"]
    assert settings.service.advertise_url == "http://10.1.2.3:8080"
    assert container(manifests)["securityContext"]["readOnlyRootFilesystem"] is True


def test_helm_template_with_secrets_auth_and_monitoring(tmp_path: Path) -> None:
    pem = public_pem()
    jwt_path = "/etc/nestor-catalog/jwt/public.pem"
    result = helm_template(
        *SPEC_SET,
        "secrets.create=true",
        "secrets.clusterSecret=cluster-secret-0123456789",
        "secrets.gitToken=ghp_token",
        "serviceMonitor.enabled=true",
        "config.auth.enabled=true",
        f"config.auth.public_keys[0]={jwt_path}",
        "config.git.repositories[0].auth.token_env=GIT_TOKEN",
        f"jwt.publicKey={pem.strip()}",
    )
    manifests = [document for document in yaml.safe_load_all(result.stdout) if document]
    checked = validate_all(manifests)
    assert "ServiceMonitor/nestor-catalog" in checked
    secrets = {doc["metadata"]["name"]: doc["stringData"] for doc in by_kind(manifests)["Secret"]}
    given = {f"nestor-catalog-secrets/{key}": value for key, value in secrets["nestor-catalog-secrets"].items()}
    settings = load_pod_settings(
        manifests, tmp_path, secrets=given, files={jwt_path: secrets["nestor-catalog-jwt"]["public.pem"]}
    )
    assert settings.auth.enabled
    assert settings.leadership.cluster_secret is not None
    assert settings.git.repositories[0].auth.token is not None


HELM_REFUSES = {
    "config.storage.dynamodb.tabel_name=x": "at '/config/storage/dynamodb': additional properties 'tabel_name'",
    "config.storage.type=postgres": "at '/config/storage/type'",
    "config.sse.heartbeat_interval=soon": "at '/config/sse/heartbeat_interval'",
    "config.git.repositories[0].path=resources": "at '/config/git/repositories/0'",
}


@pytest.mark.parametrize(("assignment", "reason"), HELM_REFUSES.items(), ids=list(HELM_REFUSES))
def test_helm_refuses_bad_values(assignment: str, reason: str) -> None:
    result = helm_template(assignment, check=False)
    assert result.returncode != 0
    assert reason in result.stderr
