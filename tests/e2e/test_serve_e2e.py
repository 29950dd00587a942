"""``nestor-catalog serve`` as a user runs it: the development configuration serving the
examples (what ``make run`` does), a graceful stop, a restart on the same data, and
configuration errors that exit 2 with a message and no traceback."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.e2e.conftest import example_names
from tests.support.server import run_server, server_command

pytestmark = pytest.mark.e2e


def serve(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*server_command(), "serve", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def test_a_config_error_exits_2_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "catalog.yaml"
    config.write_text("service:\n  port: 8080\n  prot: 9090\n")
    result = serve("--config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert "service.prot" in result.stderr
    assert ":3" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_missing_config_file_exits_2(tmp_path: Path) -> None:
    result = serve("--config", str(tmp_path / "nope.yaml"), cwd=tmp_path)
    assert result.returncode == 2
    assert "nope.yaml" in result.stderr
    assert "Traceback" not in result.stderr


def test_development_config_serves_the_examples(tmp_path: Path, examples_dir: Path) -> None:
    (tmp_path / "configs").mkdir()
    config = shutil.copy(ROOT / "configs" / "development.yaml", tmp_path / "configs" / "development.yaml")
    shutil.copytree(examples_dir, tmp_path / "examples")
    with run_server(Path(config), workdir=tmp_path / "run") as server, server.client() as client:
        server.wait_ready()
        listing = client.get("/api/v1/resources")
        assert {item["metadata"]["name"] for item in listing.json()["items"]} == example_names(examples_dir)
        for path in (
            "/api/v1/resources?provider=aws",
            "/api/v1/resources?category=database",
            "/api/v1/resources/aws-rds-mysql",
            "/api/v1/resources/aws-rds-mysql/1.2.0",
            "/api/v1/resources/aws-rds-mysql/versions",
            "/api/v1/resources/aws-rds-mysql/latest",
            "/api/v1/search?q=mysql",
            "/api/v1/search?q=database&provider=aws",
            "/health",
            "/ready",
            "/metrics",
            "/api/v1/status",
        ):
            assert client.get(path).status_code == 200, path
        status = client.get("/api/v1/sync/examples").json()
        assert status["findings"] == {}, "invalid/ is excluded by the development config"
        assert (tmp_path / "data" / "catalog.db").exists()
        assert "catalog serving" in server.logs()
        revision = client.get("/api/v1/status").json()["revision"]

        assert server.stop() == 0
        assert "catalog stopped" in server.logs()
        server.start()
        with server.client() as again:
            server.wait_ready()
            assert again.get("/api/v1/resources/aws-rds-mysql/1.2.0").status_code == 200
            assert again.get("/api/v1/status").json()["revision"] == revision, "a restart republishes nothing"


def test_sigterm_ends_open_event_streams(tmp_path: Path) -> None:
    with (
        run_server({"storage": {"type": "memory"}}, workdir=tmp_path) as server,
        server.client(timeout=30.0) as client,
        client.stream("GET", "/api/v1/events") as stream,
    ):
        assert stream.status_code == 200
        assert next(stream.iter_lines()).startswith("retry:")
        assert server.stop(timeout=10) == 0, "an open stream held the graceful stop until it was killed"


def test_unreachable_storage_stops_the_start_with_one_clear_line(tmp_path: Path) -> None:
    from tests.support.moto import AWS_ENV, REGION
    from tests.support.server import ServerStartError

    dynamodb = {"table_name": "missing-table", "region": REGION, "endpoint": "http://127.0.0.1:9"}
    with (
        pytest.raises(ServerStartError, match="cannot open the dynamodb storage: cannot reach DynamoDB"),
        run_server({"storage": {"type": "dynamodb", "dynamodb": dynamodb}}, env=AWS_ENV, workdir=tmp_path),
    ):
        pass
