"""The spec's Getting Started targets: ``make docker-build``, ``make docker-up`` and
``make dev-catalog``. Docker is not on these machines, so the first two are checked as the
commands make would run; ``dev-catalog`` runs for real against moto_server and a private Redis,
standing in for the DynamoDB Local and Redis that ``docker-up`` starts."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import ROOT
from tests.support.moto import AWS_ENV, moto_or_skip
from tests.support.redis import redis_or_skip
from tests.support.server import free_port

pytestmark = pytest.mark.e2e

MAKE = shutil.which("make") or "make"


def dry_run(target: str, *variables: str) -> str:
    result = subprocess.run(
        [MAKE, "--no-print-directory", "-n", target, *variables], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return result.stdout


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


def test_docker_build_tags_the_specs_image() -> None:
    command = dry_run("docker-build")
    assert command.startswith("docker build --tag nestor/catalog:dev ")
    assert "--build-arg VERSION=0.1.0" in command
    assert "--build-arg REVISION=" in command
    assert command.rstrip().endswith(" .")


def test_docker_up_starts_dynamodb_local_and_redis_from_compose() -> None:
    assert dry_run("docker-up").strip() == "docker compose up --detach dynamodb redis"
    services = compose()["services"]
    assert services["dynamodb"]["image"].startswith("amazon/dynamodb-local")
    assert services["dynamodb"]["ports"] == ["8000:8000"]
    assert services["redis"]["ports"] == ["6379:6379"]


def test_dev_catalog_points_at_what_docker_up_publishes() -> None:
    command = dry_run("dev-catalog")
    assert "DYNAMODB_ENDPOINT=http://127.0.0.1:8000" in command
    assert "REDIS_URL=redis://127.0.0.1:6379/0" in command
    assert "serve --config configs/development.yaml" in command


def test_run_stays_the_no_dependency_default() -> None:
    command = dry_run("run")
    assert "serve --config configs/development.yaml" in command
    assert "dynamodb" not in command.lower()


@contextlib.contextmanager
def _make(target: str, *variables: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [MAKE, "--no-print-directory", target, *variables],
            cwd=ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


def test_dev_catalog_serves_the_examples_on_dynamodb_and_redis(tmp_path: Path) -> None:
    port = free_port()
    with moto_or_skip() as moto, redis_or_skip() as redis:
        env = {key: value for key, value in os.environ.items() if not key.startswith("NESTOR_CATALOG")}
        env |= {**AWS_ENV, "DATA_DIR": str(tmp_path / "data")}
        variables = (f"PORT={port}", f"DEV_DYNAMODB_ENDPOINT={moto.endpoint}", f"DEV_REDIS_URL={redis.url}")
        log = tmp_path / "make.log"
        with _make("dev-catalog", *variables, env=env, log=log) as process:
            deadline = time.monotonic() + 90
            ready: dict[str, Any] = {}
            while not ready:
                assert process.poll() is None, log.read_text()[-4000:]
                with contextlib.suppress(httpx.TransportError):
                    response = httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2)
                    if response.status_code == 200:
                        ready = response.json()
                assert time.monotonic() < deadline, log.read_text()[-4000:]
                time.sleep(0.2)
            status = httpx.get(f"http://127.0.0.1:{port}/api/v1/status", timeout=5).json()
            assert status["storage"]["type"] == "dynamodb"
            assert status["components"]["redis"]["ok"] is True, status
            mysql = httpx.get(f"http://127.0.0.1:{port}/api/v1/resources/aws-rds-mysql", timeout=5)
            assert mysql.status_code == 200
            assert mysql.json()["metadata"]["version"] == "2.0.0"
