"""``deployments/kubernetes``: both overlays rendered by ``kubectl kustomize``, every object
validated by kubernetes-validate (strict) against an older and the newest Kubernetes, the
ServiceMonitor component against ``schemas/servicemonitor-v1.json``, and the rendered ConfigMap
loaded by the server's own configuration loader with the environment the pod gets."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.deploy.manifests import (
    CONFIG_PATH,
    KUSTOMIZE_ROOT,
    Manifest,
    by_kind,
    container,
    kustomize,
    load_pod_settings,
    one,
    validate_all,
    workload,
)

SINGLE = KUSTOMIZE_ROOT / "overlays" / "single"
PRODUCTION = KUSTOMIZE_ROOT / "overlays" / "production"
SECRETS = {
    "nestor-catalog-secrets/cluster-secret": "cluster-secret-0123456789abcdef",
    "nestor-catalog-secrets/git-webhook-secret": "webhook-secret",
    "nestor-catalog-secrets/git-token": "ghp_token",
}


def public_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture(scope="module")
def single() -> list[Manifest]:
    return kustomize(SINGLE)


@pytest.fixture(scope="module")
def production() -> list[Manifest]:
    return kustomize(PRODUCTION)


@pytest.mark.parametrize("overlay", [SINGLE, PRODUCTION], ids=["single", "production"])
def test_every_object_of_each_overlay_is_valid_kubernetes(overlay: Path) -> None:
    checked = validate_all(kustomize(overlay))
    assert "Service/nestor-catalog" in checked
    assert "NetworkPolicy/nestor-catalog" in checked


def test_single_is_one_statefulset_replica_on_sqlite_and_a_volume(single: list[Manifest], tmp_path: Path) -> None:
    kinds = by_kind(single)
    assert "Deployment" not in kinds
    assert "HorizontalPodAutoscaler" not in kinds
    statefulset = one(single, "StatefulSet")
    assert statefulset["spec"]["replicas"] == 1
    headless = [s for s in kinds["Service"] if s["spec"].get("clusterIP") == "None"]
    assert [s["metadata"]["name"] for s in headless] == [statefulset["spec"]["serviceName"]]
    [claim] = statefulset["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    mounts = {mount["name"]: mount["mountPath"] for mount in container(single)["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == "/var/lib/nestor-catalog"
    settings = load_pod_settings(single, tmp_path, secrets={})
    assert settings.storage.type == "sqlite"
    assert settings.store_uri() == "sqlite:////var/lib/nestor-catalog/catalog.db?synchronous=full"
    assert settings.service.data_dir == Path("/var/lib/nestor-catalog")
    assert [repository.name for repository in settings.git.repositories] == ["platform-resources"]


def test_production_is_a_scaled_deployment_on_dynamodb_and_redis(production: list[Manifest], tmp_path: Path) -> None:
    deployment = one(production, "Deployment")
    assert deployment["spec"]["replicas"] >= 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    hpa = one(production, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "nestor-catalog"}
    assert hpa["spec"]["minReplicas"] >= 2
    pdb = one(production, "PodDisruptionBudget")
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]
    jwt = "/etc/nestor-catalog/jwt/public.pem"
    settings = load_pod_settings(production, tmp_path, secrets=SECRETS, files={jwt: public_pem()})
    assert settings.storage.type == "dynamodb"
    dynamodb = settings.storage.dynamodb
    assert (dynamodb.table_name, dynamodb.creates_table, dynamodb.enable_point_in_time_recovery) == (
        "nestor-catalog-prod",
        True,
        True,
    )
    assert settings.cache.type == "redis"
    assert settings.leadership.cluster_secret is not None
    assert settings.leadership.cluster_secret.get_secret_value() == SECRETS["nestor-catalog-secrets/cluster-secret"]
    assert settings.service.advertise_url == "http://10.1.2.3:8080"
    assert settings.service.replica_id == "nestor-catalog-7d9f-abcde"
    [repository] = settings.git.repositories
    assert repository.webhook_secret is not None
    assert repository.auth.token is not None
    assert settings.auth.enabled
    assert settings.auth.public_keys == (tmp_path / "pod" / jwt.lstrip("/"),)


def test_the_secrets_are_references_never_values(production: list[Manifest]) -> None:
    assert "Secret" not in by_kind(production), "the kustomization never ships secret values"
    references = {
        (entry["valueFrom"]["secretKeyRef"]["name"], entry["valueFrom"]["secretKeyRef"]["key"])
        for entry in container(production)["env"]
        if "secretKeyRef" in entry.get("valueFrom", {})
    }
    assert references == {tuple(key.split("/")) for key in SECRETS}
    volumes = {volume["name"]: volume for volume in workload(production)["spec"]["template"]["spec"]["volumes"]}
    assert volumes["jwt"]["secret"]["secretName"] == "nestor-catalog-jwt"


def test_the_secrets_example_matches_what_the_pods_read() -> None:
    import yaml

    documents = list(yaml.safe_load_all((PRODUCTION / "secrets.example.yaml").read_text()))
    validate_all(documents)
    keys = {f"{doc['metadata']['name']}/{key}" for doc in documents for key in doc["stringData"]}
    assert keys == {*SECRETS, "nestor-catalog-jwt/public.pem"}


@pytest.mark.parametrize("overlay", [SINGLE, PRODUCTION], ids=["single", "production"])
def test_probes_resources_and_an_unprivileged_read_only_container(overlay: Path) -> None:
    manifests = kustomize(overlay)
    spec = workload(manifests)["spec"]["template"]["spec"]
    catalog = container(manifests)
    assert catalog["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert catalog["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert catalog["startupProbe"]["httpGet"]["path"] == "/health"
    assert catalog["resources"]["requests"]["cpu"]
    assert catalog["resources"]["limits"]["memory"]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 10001
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = catalog["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    mounts = {mount["mountPath"] for mount in catalog["volumeMounts"]}
    assert {"/var/lib/nestor-catalog", "/tmp", CONFIG_PATH} <= mounts, "every writable path is a volume"
    assert catalog["image"].startswith("nestor/catalog:")


@pytest.mark.parametrize("overlay", [SINGLE, PRODUCTION], ids=["single", "production"])
def test_the_config_volume_is_the_generated_configmap(overlay: Path) -> None:
    manifests = kustomize(overlay)
    [config_map] = by_kind(manifests)["ConfigMap"]
    volumes = {v["name"]: v for v in workload(manifests)["spec"]["template"]["spec"]["volumes"]}
    assert volumes["config"]["configMap"]["name"] == config_map["metadata"]["name"]
    assert config_map["metadata"]["name"].startswith("nestor-catalog-config-"), "hashed: a change rolls the pods"


@pytest.mark.parametrize("overlay", [SINGLE, PRODUCTION], ids=["single", "production"])
def test_the_service_and_network_policy_select_the_pods(overlay: Path) -> None:
    manifests = kustomize(overlay)
    labels = workload(manifests)["spec"]["template"]["metadata"]["labels"]
    for service in by_kind(manifests)["Service"]:
        assert service["spec"]["selector"].items() <= labels.items()
        assert service["spec"]["ports"][0]["targetPort"] == "http"
    policy = one(manifests, "NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    assert [port["port"] for rule in policy["spec"]["ingress"] for port in rule["ports"]] == ["http"]


def test_the_servicemonitor_component_scrapes_metrics(tmp_path: Path) -> None:
    """The optional component added to the production overlay, as a user's kustomization does."""
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources:\n  - {os.path.relpath(PRODUCTION, tmp_path)}\n"
        f"components:\n  - {os.path.relpath(KUSTOMIZE_ROOT / 'components' / 'servicemonitor', tmp_path)}\n"
    )
    manifests = kustomize(tmp_path, load_restrictor=False)
    checked = validate_all(manifests)
    assert "ServiceMonitor/nestor-catalog" in checked
    monitor = one(manifests, "ServiceMonitor")
    service = next(s for s in by_kind(manifests)["Service"] if s["metadata"]["name"] == "nestor-catalog")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}


def test_the_servicemonitor_schema_refuses_a_typo() -> None:
    import jsonschema

    bad: dict[str, Any] = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "x"},
        "spec": {"selector": {"matchLabels": {"a": "b"}}, "endpoints": [{"port": "http", "intervall": "30s"}]},
    }
    with pytest.raises(jsonschema.ValidationError, match="intervall"):
        validate_all([bad])
