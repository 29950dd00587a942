"""``CatalogClient`` (the blocking client) against a real server process: the read API, errors,
the ETag cache, deprecation warnings, use inside a running event loop and from many threads,
and the sync subscription across a real server restart."""

from __future__ import annotations

import asyncio
import threading
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from nestor_catalog_client import CatalogClient, CatalogDeprecationWarning, ReconnectPolicy
from nestor_catalog_core import (
    Event,
    EventType,
    NoMatchingVersion,
    ResourceNotFound,
    ServiceUnavailable,
    StreamReset,
    ValidationFailed,
)
from tests.client.helpers import API_SOURCE, definition_yaml, new_catalog
from tests.support.server import ServerHandle, run_server

pytestmark = pytest.mark.e2e

WAIT = 20.0


def server_config(folder: Path) -> dict[str, Any]:
    return {
        "storage": {"type": "sqlite", "sqlite": {"path": str(folder / "catalog.db")}},
        "sse": {"heartbeat_interval": "1s", "retry": "100ms"},
        "logging": {"level": "warning"},
    }


def seed(client: CatalogClient) -> None:
    for version, optional in (("1.0.0", ()), ("1.1.0", ("extra_0",)), ("1.2.0", ("extra_0", "extra_1"))):
        client.publish(definition_yaml("aws-rds-mysql", version, optional=optional))
    client.publish(definition_yaml("gcp-cloudsql-postgres", provider="gcp"))
    client.publish(definition_yaml("aws-s3-bucket", category="storage"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    folder = tmp_path_factory.mktemp("sync-client")
    with run_server(server_config(folder), workdir=folder) as handle:
        with CatalogClient(handle.url) as client:
            seed(client)
        yield handle


@pytest.fixture
def client(server: ServerHandle) -> Iterator[CatalogClient]:
    with CatalogClient(server.url) as client:
        yield client


def test_reads(client: CatalogClient) -> None:
    assert client.get_resource("aws-rds-mysql", "1.1.0").version == "1.1.0"
    assert client.get_resource("aws-rds-mysql", constraint="<1.2").version == "1.1.0"
    assert client.latest("aws-rds-mysql").version == "1.2.0"
    assert [v.version for v in client.versions("aws-rds-mysql")] == ["1.2.0", "1.1.0", "1.0.0"]
    assert [r.name for r in client.list_resources(page_size=1)] == [
        "aws-rds-mysql",
        "aws-s3-bucket",
        "gcp-cloudsql-postgres",
    ]
    assert [r.name for r in client.list_resources(provider="aws", category="storage")] == ["aws-s3-bucket"]
    assert client.search("postgres").items[0].name == "gcp-cloudsql-postgres"
    assert client.facets().facets["provider"] == {"aws": 2, "gcp": 1}
    assert client.inputs_schema("aws-rds-mysql", "1.2.0")["required"] == ["size"]
    assert client.validate_inputs("aws-rds-mysql", "1.2.0", {"size": "s"}).values["extra_1"] == 1
    assert client.validate(definition_yaml("fine-thing")).valid
    assert client.health() == {"status": "ok"}
    assert client.ready()["status"] == "ready"
    assert client.status()["counts"]["versions"] == 5


def test_errors_are_the_core_tree(client: CatalogClient) -> None:
    with pytest.raises(ResourceNotFound) as missing:
        client.get_resource("missing-thing")
    assert missing.value.trace_id
    with pytest.raises(NoMatchingVersion, match=r"\^3"):
        client.get_resource("aws-rds-mysql", constraint="^3")
    with pytest.raises(ValidationFailed) as invalid:
        client.publish(definition_yaml("Not_A_Name"))
    assert invalid.value.findings


def test_cache_and_deprecation_warning(client: CatalogClient) -> None:
    assert client.cache is not None
    client.get_resource("aws-rds-mysql", "1.0.0")
    client.get_resource("aws-rds-mysql", "1.0.0")
    assert client.cache.hits == 1
    client.deprecate("aws-s3-bucket", "1.0.0", "use object storage v2")
    with pytest.warns(CatalogDeprecationWarning, match="aws-s3-bucket 1.0.0 is deprecated") as seen:
        assert client.get_resource("aws-s3-bucket", "1.0.0").deprecated
    assert [Path(w.filename).name for w in seen] == [Path(__file__).name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client.get_resource("aws-s3-bucket", "1.0.0")
    client.undeprecate("aws-s3-bucket", "1.0.0")
    assert not client.get_resource("aws-s3-bucket", "1.0.0").deprecated


def test_works_inside_a_running_event_loop(server: ServerHandle) -> None:
    async def notebook_cell() -> tuple[str, int]:
        assert asyncio.get_running_loop().is_running()
        with CatalogClient(server.url) as client:
            return client.latest("aws-rds-mysql").version, len(list(client.list_resources()))

    assert asyncio.run(notebook_cell()) == ("1.2.0", 3)


def test_one_client_shared_by_threads(client: CatalogClient) -> None:
    def read(index: int) -> tuple[str, str, str]:
        version = ("1.0.0", "1.1.0", "1.2.0")[index % 3]
        resource = client.get_resource("aws-rds-mysql", version)
        return resource.version, version, threading.current_thread().name

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(read, range(60)))
    assert all(got == wanted for got, wanted, _ in results)
    assert len({name for *_, name in results}) > 1


def test_sync_subscription_replays_and_follows(client: CatalogClient) -> None:
    head = client.status()["revision"]
    with client.subscribe(since=head - 2, heartbeat_timeout=WAIT) as events:
        first, second = next(events), next(events)
        client.publish(definition_yaml("followed-live"))
        third = next(events)
    assert [first.sequence, second.sequence, third.sequence] == [head - 1, head, head + 1]
    assert isinstance(third, Event)
    assert (third.type, third.name) == (EventType.RESOURCE_CREATED, "followed-live")
    with client.subscribe(provider="gcp", since=0, heartbeat_timeout=WAIT) as gcp:
        only = next(gcp)
    assert isinstance(only, Event)
    assert only.name == "gcp-cloudsql-postgres"


def test_sync_subscription_survives_a_server_restart(tmp_path: Path) -> None:
    with run_server(server_config(tmp_path), workdir=tmp_path) as server, CatalogClient(server.url) as client:
        client.publish(definition_yaml("first-thing"))
        since = client.status()["revision"]
        events = client.subscribe(since=since, heartbeat_timeout=5.0, reconnect=ReconnectPolicy(initial_delay=0.05))
        client.publish(definition_yaml("before-restart"))
        received = [next(events)]
        server.kill()  # like a crash: the stream breaks, the port stops answering
        asyncio.run(publish_into(tmp_path / "catalog.db", "while-down"))
        server.start()
        client.publish(definition_yaml("after-restart"))
        received += [next(events), next(events)]
        events.close()
    assert [item.sequence for item in received] == [since + 1, since + 2, since + 3]
    assert [item.name for item in received if isinstance(item, Event)] == [
        "before-restart",
        "while-down",
        "after-restart",
    ]
    assert events.state.connections >= 2
    assert not any(isinstance(item, StreamReset) for item in received)


async def publish_into(database: Path, name: str) -> None:
    catalog = await new_catalog(f"sqlite:///{database}")
    try:
        await catalog.publish_bytes(definition_yaml(name).encode(), source=API_SOURCE)
    finally:
        await catalog.close()


def test_a_dead_server_is_service_unavailable(tmp_path: Path) -> None:
    with run_server(server_config(tmp_path), workdir=tmp_path) as server:
        url = server.url
    with CatalogClient(url, retries=1) as client, pytest.raises(ServiceUnavailable, match="unreachable"):
        client.status()
