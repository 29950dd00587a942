"""The README's client snippets (the spec's orchestrator and composer patterns in Python), run
exactly as written against a real server process."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from nestor_catalog_client import CatalogClient
from nestor_catalog_core import Resource
from tests.client.helpers import definition_yaml
from tests.support.server import ServerHandle, run_server

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[2] / "README.md"
SNIPPET = re.compile(r"<!-- snippet: (?P<name>[\w-]+) -->\n```python\n(?P<code>.*?)\n```", re.DOTALL)
WAIT = 20.0


def snippets() -> dict[str, str]:
    return {match["name"]: match["code"] for match in SNIPPET.finditer(README.read_text())}


class Done(Exception):
    """Ends the composer's endless loop once it has seen what the test waits for."""


class Orchestrator:
    def __init__(self) -> None:
        self.deployments: list[tuple[Resource, dict[str, Any]]] = []

    def create_deployment(self, resource: Resource, user_config: dict[str, Any]) -> str:
        self.deployments.append((resource, user_config))
        return f"deployment of {resource.name}@{resource.version}"


class Composer:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def invalidate_cache(self, name: str) -> None:
        self.calls.append(("invalidate_cache", name))

    def refresh_compositions(self, name: str) -> None:
        self.calls.append(("refresh_compositions", name))
        raise Done

    def rebuild(self, resources: Iterable[Resource]) -> None:
        self.calls.append(("rebuild", ",".join(r.name for r in resources)))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    folder = tmp_path_factory.mktemp("snippets")
    config = {"storage": {"type": "sqlite"}, "logging": {"level": "warning"}, "sse": {"heartbeat_interval": "1s"}}
    with run_server(config, workdir=folder) as handle:
        with CatalogClient(handle.url) as client:
            for version, optional in (("1.0.0", ()), ("1.1.0", ("extra_0",)), ("1.2.0", ("extra_0", "extra_1"))):
                client.publish(definition_yaml("aws-rds-mysql", version, optional=optional))
        yield handle


def namespace(server: ServerHandle, **extra: Any) -> dict[str, Any]:
    return {"config": SimpleNamespace(catalog_endpoint=server.url, token=None), **extra}


def test_the_readme_has_the_snippets() -> None:
    assert {"orchestrator", "composer", "consumer-async"} <= set(snippets())


def test_orchestrator_snippet(server: ServerHandle) -> None:
    orchestrator = Orchestrator()
    scope = namespace(server, orchestrator=orchestrator, user_config={"size": "db.t3.micro"})
    exec(snippets()["orchestrator"], scope)
    scope["catalog_client"].close()
    ((resource, user_config),) = orchestrator.deployments
    assert (resource.name, resource.version) == ("aws-rds-mysql", "1.2.0")
    assert user_config == {"size": "db.t3.micro"}
    assert scope["deployment"] == "deployment of aws-rds-mysql@1.2.0"


def test_composer_snippet(server: ServerHandle) -> None:
    composer = Composer()
    scope = namespace(server, composer=composer)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            exec(snippets()["composer"], scope)
        except Done:
            pass
        except BaseException as exc:
            failure.append(exc)
        finally:
            if "catalog_client" in scope:
                scope["catalog_client"].close()

    thread = threading.Thread(target=run, daemon=True)
    with CatalogClient(server.url) as publisher:
        thread.start()
        deadline = time.monotonic() + WAIT
        while publisher.status()["sse"]["connections"] < 1:
            assert time.monotonic() < deadline, "the composer never subscribed"
            time.sleep(0.02)
        publisher.publish(definition_yaml("gcp-cloudsql-postgres", provider="gcp"))
        publisher.publish(definition_yaml("aws-aurora"))
        publisher.publish(definition_yaml("aws-s3-bucket", category="storage"))
        publisher.publish(definition_yaml("aws-aurora", "1.1.0", optional=["extra_0"]))
        thread.join(WAIT)
    assert not thread.is_alive()
    assert failure == []
    assert composer.calls == [("invalidate_cache", "aws-aurora"), ("refresh_compositions", "aws-aurora")]


def test_consumer_async_snippet(server: ServerHandle) -> None:
    scope = namespace(server)
    exec(snippets()["consumer-async"], scope)
    planned = asyncio.run(scope["plan"]({"size": "db.t3.micro"}))
    assert planned == {"resource": "aws-rds-mysql@1.2.0", "inputs": {"size": "db.t3.micro", "extra_0": 1, "extra_1": 1}}
    with pytest.raises(ValueError, match="size"):
        asyncio.run(scope["plan"]({"extra_0": 5}))
