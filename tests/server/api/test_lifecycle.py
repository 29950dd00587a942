"""The deprecation lifecycle over HTTP: RFC 9745 ``Deprecation``, RFC 8594 ``Sunset``, a version
past its sunset left out of latest and constraints but served exactly with a ``Warning``, the
``sunset`` flags in status and version lists, and deprecated inputs in ``inputs:validate``."""

from __future__ import annotations

from datetime import timedelta
from email.utils import parsedate_to_datetime

from nestor_catalog_core import Catalog, Source, SourceKind
from nestor_catalog_core.models import parse_time, utcnow
from nestor_catalog_server.api.caching import SUNSET_WARNING
from tests.server.api.builders import as_yaml, definition
from tests.server.api.conftest import Client

API = Source(kind=SourceKind.API, user="platform@company.com")
YESTERDAY = (utcnow() - timedelta(days=1)).date()


async def publish_queue(catalog: Catalog) -> None:
    old = definition()
    newer = definition(version="1.1.0", deprecation={"message": "use team-fifo", "sunset": YESTERDAY.isoformat()})
    newer["spec"]["optional_inputs"] = [  # type: ignore[index]
        {"name": "visibility_timeout", "type": "integer", "default": 30, "description": "Seconds"},
        {
            "name": "legacy_mode",
            "type": "boolean",
            "description": "Old delivery semantics",
            "deprecated": {"message": "legacy delivery goes away in 2.0", "replacement": "visibility_timeout"},
        },
    ]
    for document in (old, newer):
        await catalog.publish_bytes(as_yaml(document), file="queue.yaml", source=API)


async def test_past_sunset_is_served_exactly_with_a_warning_and_never_resolved(
    client: Client, catalog: Catalog
) -> None:
    await publish_queue(catalog)
    exact = await client.get("/api/v1/resources/team-queue/1.1.0")
    assert exact.status_code == 200
    body = exact.json()
    assert body["status"]["sunset"] is True
    assert exact.headers["warning"] == SUNSET_WARNING
    assert parsedate_to_datetime(exact.headers["sunset"]).date() == YESTERDAY
    published = parse_time(body["status"]["published_at"])
    assert exact.headers["deprecation"] == f"@{int(published.timestamp())}"
    for path in ("/api/v1/resources/team-queue", "/api/v1/resources/team-queue/latest"):
        answer = await client.get(path)
        assert answer.json()["metadata"]["version"] == "1.0.0", path
        assert "warning" not in answer.headers
    resolved = await client.get("/api/v1/resources/team-queue", params={"constraint": "^1"})
    assert resolved.json()["metadata"]["version"] == "1.0.0"
    refused = await client.get("/api/v1/resources/team-queue", params={"constraint": ">=1.1.0"})
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "NO_MATCHING_VERSION"
    versions = (await client.get("/api/v1/resources/team-queue/versions")).json()
    assert versions["latest"] == "1.0.0"
    assert [(v["version"], v["deprecated"], v["sunset"]) for v in versions["versions"]] == [
        ("1.1.0", True, True),
        ("1.0.0", False, False),
    ]


async def test_the_sunset_event_reaches_the_event_log(client: Client, catalog: Catalog) -> None:
    await publish_queue(catalog)
    revision = catalog.revision
    [event] = await catalog.announce_sunsets()
    assert event.sequence == revision + 1
    audit = (await client.get("/api/v1/audit", params={"action": "resource.sunset"})).json()
    assert [(item["resource"], item["version"]) for item in audit["items"]] == [("team-queue", "1.1.0")]


async def test_a_deprecated_input_is_a_warning_not_an_error(client: Client, catalog: Catalog) -> None:
    await publish_queue(catalog)
    path = "/api/v1/resources/team-queue/1.1.0/inputs:validate"
    used = (await client.post(path, json={"queue_name": "orders", "legacy_mode": True})).json()
    assert used["valid"] is True
    [finding] = used["findings"]
    assert (finding["rule"], finding["severity"], finding["field"]) == ("INPUT_DEPRECATED", "warning", "legacy_mode")
    assert finding["message"] == (
        "input 'legacy_mode' is deprecated: legacy delivery goes away in 2.0; set 'visibility_timeout' instead"
    )
    unused = (await client.post(path, json={"queue_name": "orders"})).json()
    assert unused["findings"] == []
    schema = (await client.get("/api/v1/resources/team-queue/1.1.0/schema")).json()
    assert schema["properties"]["legacy_mode"]["deprecated"] is True
    assert "deprecated" not in schema["properties"]["visibility_timeout"]
