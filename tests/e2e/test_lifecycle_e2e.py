"""The sunset announcer of a real server: a watched directory gets a version whose sunset date
has passed; the server records ``resource.sunset`` (event on the live stream, audit record) by
itself, leaves the version out of latest, and serves it exactly with ``status.sunset``."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import httpx

from nestor_catalog_core.models import utcnow
from tests.e2e.conftest import examples_config
from tests.support.server import run_server

QUEUE = """\
apiVersion: catalog.nestor.io/v1
kind: ResourceDefinition
metadata:
  name: team-queue
  version: "{version}"
  provider: aws
  category: queue
  resource_type: sqs-queue
  description: A queue
  maintainers: [platform-team@company.com]
{deprecation}spec:
  supported_engines: [terraform]
  required_inputs:
    - {{name: queue_name, type: string, description: Name}}
  outputs:
    - {{name: queue_url, type: string, description: URL}}
  engine_configs:
    terraform: {{module_source: terraform-aws-modules/sqs/aws}}
"""


def test_the_server_announces_a_passed_sunset_by_itself(tmp_path: Path) -> None:
    folder = tmp_path / "definitions"
    folder.mkdir()
    (folder / "queue-1.0.0.yaml").write_text(QUEUE.format(version="1.0.0", deprecation=""))
    with run_server(examples_config(folder, tmp_path), workdir=tmp_path) as server, server.client() as http:
        server.wait_ready()
        assert http.get("/api/v1/resources/team-queue").json()["metadata"]["version"] == "1.0.0"
        with (
            httpx.Client(base_url=server.url, timeout=30) as stream_client,
            stream_client.stream("GET", "/api/v1/events", params={"filter": "event:resource.sunset"}) as stream,
        ):
            yesterday = (utcnow() - timedelta(days=1)).date().isoformat()
            block = f"  deprecation:\n    message: use team-fifo\n    sunset: {yesterday}\n"
            (folder / "queue-1.1.0.yaml").write_text(QUEUE.format(version="1.1.0", deprecation=block))
            data = None
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    assert line == "event: resource.sunset"
                if line.startswith("data:"):
                    data = json.loads(line.removeprefix("data:"))
                    break
        assert data is not None
        assert (data["metadata"]["version"], data["status"]["sunset"]) == ("1.1.0", True)
        audit = http.get("/api/v1/audit", params={"action": "resource.sunset"}).json()["items"]
        assert [(a["resource"], a["version"]) for a in audit] == [("team-queue", "1.1.0")]
        assert http.get("/api/v1/resources/team-queue").json()["metadata"]["version"] == "1.0.0"
        exact = http.get("/api/v1/resources/team-queue/1.1.0")
        assert exact.json()["status"]["sunset"] is True
        assert exact.headers["warning"].startswith('299 - "sunset:')
        assert any(entry.get("operation") == "sunset" for entry in server.json_logs())
