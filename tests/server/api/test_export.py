from __future__ import annotations

import json

from nestor_catalog_core import Catalog, Source, SourceKind
from nestor_catalog_core.models import stored_from_body
from tests.server.api.conftest import Client


async def test_export_streams_every_version_at_one_revision(client: Client, catalog: Catalog) -> None:
    await catalog.withdraw("aws-rds-mysql", "1.0.0", source=Source(kind=SourceKind.API, user="t"))
    response = await client.get("/api/v1/export")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert int(response.headers["x-catalog-revision"]) == catalog.revision
    lines = response.content.splitlines()
    assert int(response.headers["x-resource-count"]) == len(lines) == catalog.stats()["versions"]
    bodies = [json.loads(line) for line in lines]
    keys = [(b["metadata"]["name"], b["metadata"]["version"]) for b in bodies]
    assert ("aws-rds-mysql", "1.0.0") in keys
    assert keys[: keys.index(("aws-rds-mysql", "2.0.0")) + 1][-4:] == [
        ("aws-rds-mysql", v) for v in ("1.0.0", "1.1.0", "1.2.0", "2.0.0")
    ]
    withdrawn = next(
        b for b in bodies if b["metadata"]["version"] == "1.0.0" and b["metadata"]["name"] == "aws-rds-mysql"
    )
    assert withdrawn["status"]["withdrawn"] is True
    for body in bodies:
        stored = stored_from_body(body)
        assert stored.document == catalog.entry(stored.name, stored.version).stored.document
