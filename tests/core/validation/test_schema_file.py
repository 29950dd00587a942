"""The committed definition schema (``schemas/catalog.nestor.io/v1/resource-definition.schema.json``,
the file editors and other tools point at) is the one the models generate."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

from nestor_catalog_core.validation import DEFINITION_SCHEMA_ID, definition_json_schema

ROOT = Path(__file__).resolve().parents[3]
COMMITTED = ROOT / "schemas" / "catalog.nestor.io" / "v1" / "resource-definition.schema.json"


def test_the_committed_schema_is_the_generated_one() -> None:
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert committed == definition_json_schema(), (
        "the models changed: run `nestor-catalog schema > schemas/catalog.nestor.io/v1/resource-definition.schema.json`"
    )
    assert COMMITTED.read_text(encoding="utf-8") == json.dumps(committed, indent=2, ensure_ascii=False) + "\n"


def test_the_files_place_mirrors_its_id() -> None:
    assert definition_json_schema()["$id"] == DEFINITION_SCHEMA_ID
    assert COMMITTED.relative_to(ROOT / "schemas").as_posix() == urlsplit(DEFINITION_SCHEMA_ID).path.lstrip("/")
