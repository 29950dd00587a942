"""``docs/http-api.md`` lists exactly the paths the app serves (the OpenAPI document's)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.server.api.conftest import Client

ROOT = Path(__file__).resolve().parents[3]
ROW = re.compile(r"^\| `(GET|POST|PUT|DELETE) (/[^`]*)` \|", re.MULTILINE)


async def test_the_api_page_lists_every_path_and_method(client: Client) -> None:
    document = (await client.get("/api/v1/openapi.json")).json()
    served = {(method.upper(), path) for path, operations in document["paths"].items() for method in operations}
    documented = set(ROW.findall((ROOT / "docs" / "http-api.md").read_text()))
    assert documented == served
