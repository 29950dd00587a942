"""``docker-compose.yml``, ``Dockerfile`` and ``configs/compose.yaml``: no Docker engine runs the
tests, so their structure is checked here, and each replica's configuration is loaded by the
real settings loader with the environment compose gives it."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from nestor_catalog_server.config import load_settings
from tests.conftest import ROOT

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
CONFIG_IN_CONTAINER = "/etc/nestor/catalog.yaml"
REPLICAS = ("catalog", "catalog-replica")
_DEFAULTED = re.compile(r"\$\{([A-Z_]+):-([^}]*)\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


def environment(service: dict[str, Any]) -> dict[str, str]:
    """The service's environment as compose passes it (``${VAR:-default}`` -> its default)."""
    return {key: _DEFAULTED.sub(lambda m: m.group(2), str(value)) for key, value in service["environment"].items()}


def test_the_services_and_how_they_start(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"dynamodb", "redis", "init", *REPLICAS}
    assert services["dynamodb"]["image"].startswith("amazon/dynamodb-local")
    assert services["dynamodb"]["ports"] == ["8000:8000"]
    assert services["redis"]["image"] == "redis:7"
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    init = services["init"]
    assert init["command"][:2] == ["storage", "init"]
    assert init["command"][init["command"].index("--endpoint") + 1] == "http://dynamodb:8000"
    assert init["command"][init["command"].index("--table") + 1] == "nestor-catalog"
    assert init["build"] == "."
    for name in REPLICAS:
        service = services[name]
        assert service["build"] == "."
        assert service["command"] == ["serve", "--config", CONFIG_IN_CONTAINER]
        assert service["depends_on"]["init"] == {"condition": "service_completed_successfully"}
        assert service["depends_on"]["redis"] == {"condition": "service_healthy"}
        assert f"./configs/compose.yaml:{CONFIG_IN_CONTAINER}:ro" in service["volumes"]
        assert "/ready" in " ".join(service["healthcheck"]["test"])
    assert services["catalog"]["ports"] == ["8080:8080"]
    assert services["catalog-replica"]["ports"] == ["8081:8080"]


def test_the_environment_is_the_specs_docker_example(compose: dict[str, Any]) -> None:
    for name in REPLICAS:
        env = environment(compose["services"][name])
        assert env["STORAGE_TYPE"] == "dynamodb"
        assert env["DYNAMODB_ENDPOINT"] == "http://dynamodb:8000"
        assert env["CACHE_TYPE"] == "redis"
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert env["NESTOR_CATALOG__SERVICE__ADVERTISE_URL"] == f"http://{compose['services'][name]['hostname']}:8080"
        assert env["AWS_ACCESS_KEY_ID"]
    assert (
        environment(compose["services"]["catalog"])["CLUSTER_SECRET"]
        == environment(compose["services"]["catalog-replica"])["CLUSTER_SECRET"]
    ), "the replicas share one cluster secret"


@pytest.mark.parametrize("name", REPLICAS)
def test_each_replica_configuration_loads(compose: dict[str, Any], name: str, tmp_path: Path) -> None:
    """``configs/compose.yaml`` as the container sees it: the examples mounted beside it."""
    service = compose["services"][name]
    mounts = dict(volume.rsplit(":", 1)[0].split(":", 1) for volume in service["volumes"])
    folder = tmp_path / "etc-nestor"
    folder.mkdir()
    assert mounts == {"./configs/compose.yaml": CONFIG_IN_CONTAINER, "./examples": "/etc/nestor/examples"}
    config = folder / Path(CONFIG_IN_CONTAINER).name
    shutil.copy(ROOT / "configs" / "compose.yaml", config)
    (folder / "examples").symlink_to(ROOT / "examples", target_is_directory=True)

    settings = load_settings(config, environ=environment(service))
    assert settings.storage.type == "dynamodb"
    assert settings.storage.dynamodb.endpoint == "http://dynamodb:8000"
    assert settings.storage.dynamodb.table_name == "nestor-catalog"
    assert settings.cache.type == "redis"
    assert settings.cache.redis.url == "redis://redis:6379/0"
    assert settings.leadership.cluster_secret is not None
    assert settings.service.advertise_url == f"http://{service['hostname']}:8080"
    assert [directory.name for directory in settings.git.directories] == ["examples"]


def test_the_image_installs_the_server_with_its_scale_out_extras() -> None:
    text = DOCKERFILE.read_text()
    assert re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE) == [
        "python:${PYTHON_VERSION}-slim",
        "python:${PYTHON_VERSION}-slim",
    ]
    assert '".[server,dynamodb,redis,otel]"' in text
    assert 'ENTRYPOINT ["nestor-catalog"]' in text
    assert 'CMD ["serve"]' in text, "no mounted file is needed: compose passes --config itself"
    assert re.search(r"^USER 10001:10001$", text, flags=re.MULTILINE), "the server does not run as root"
    assert "EXPOSE 8080" in text


def test_docker_compose_accepts_the_file() -> None:
    docker = shutil.which("docker")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False) if docker else None
    if probe is None or probe.returncode != 0:
        pytest.skip("the docker compose client is not installed here; the structure tests above stand in for it")
    checked = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        check=False,
        env={"CLUSTER_SECRET": "x" * 32, "PATH": "/usr/bin:/bin"},
    )
    assert checked.returncode == 0, checked.stderr.decode()
