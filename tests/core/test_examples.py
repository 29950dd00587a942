"""The examples: valid ones are spotless, invalid ones trip exactly the rules they declare.

Each file in ``examples/invalid/`` starts with ``# expect: RULE@line:col, ...`` (JSON files,
which cannot hold comments, have the line in ``<file>.expect``). The whole directory is
validated as the CLI does, so tree-level rules (``DUPLICATE_VERSION``) count too.
"""

from __future__ import annotations

import re
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest

from nestor_catalog_core.cli.validate import validate_tree
from nestor_catalog_core.loading import LoadOptions, discover, load_file
from nestor_catalog_core.models import ResourceDefinition
from nestor_catalog_core.validation import ValidationSettings, validate_document
from nestor_catalog_core.versions import Bump, compare

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
INVALID = EXAMPLES / "invalid"
EXPECT = re.compile(r"([A-Z0-9_]+)@(\d+):(\d+)")
VALID_FILES = discover([EXAMPLES])
INVALID_FILES = discover([INVALID])


def definitions(path: Path) -> list[ResourceDefinition]:
    result = load_file(path)
    assert result.findings == []
    out = []
    for document in result.documents:
        validated = validate_document(document)
        assert validated.findings == []
        assert validated.definition is not None
        out.append(validated.definition)
    return out


def test_valid_examples_skip_the_invalid_directory() -> None:
    assert VALID_FILES
    assert not any(INVALID in path.parents for path in VALID_FILES)


@pytest.mark.parametrize("path", VALID_FILES, ids=lambda p: p.name)
def test_valid_example_has_no_finding_at_all(path: Path) -> None:
    assert definitions(path)


def test_examples_cover_providers_and_categories() -> None:
    found = [d for path in VALID_FILES for d in definitions(path) if d.metadata.name != "aws-rds-mysql"]
    assert len(found) >= 12
    assert {d.metadata.provider for d in found} >= {"aws", "gcp", "azure", "kubernetes"}
    assert {d.metadata.category for d in found} >= {"database", "cache", "queue", "storage", "network", "compute"}
    assert len({d.key for d in found}) == len(found)


def test_aws_rds_mysql_history_is_legal_semver() -> None:
    history = [definitions(EXAMPLES / f"aws-rds-mysql-{v}.yaml")[0] for v in ("1.0.0", "1.1.0", "1.2.0", "2.0.0")]
    reports = [compare(old, new) for old, new in pairwise(history)]
    assert [(r.ok, r.declared, r.required) for r in reports] == [
        (True, Bump.MINOR, Bump.MINOR),
        (True, Bump.MINOR, Bump.MINOR),
        (True, Bump.MAJOR, Bump.MAJOR),
    ]
    assert [i.name for i in history[0].spec.optional_inputs] == []
    assert [i.name for i in history[1].spec.optional_inputs] == ["backup_retention_period"]
    assert [i.name for i in history[2].spec.optional_inputs] == ["backup_retention_period", "multi_az"]
    assert "PATTERN_CHANGED" in {c.rule for c in reports[2].changes}


def test_spec_example_keeps_the_spec_content() -> None:
    (spec_example,) = definitions(EXAMPLES / "aws-rds-mysql-1.2.0.yaml")
    data = spec_example.to_dict()
    data["spec"]["optional_inputs"] = [i for i in data["spec"]["optional_inputs"] if i["name"] != "multi_az"]
    assert data["metadata"]["description"] == "AWS RDS MySQL database instance"
    assert data["spec"]["required_inputs"][0]["validation"] == {"pattern": r"^db\.[a-z0-9]+\.[a-z]+$"}
    assert data["spec"]["optional_inputs"] == [
        {
            "name": "backup_retention_period",
            "type": "integer",
            "default": 7,
            "description": "Backup retention period in days",
            "sensitive": False,
        }
    ]


def expectations(path: Path) -> Counter[tuple[str, int, int]]:
    if path.suffix == ".json":
        line = Path(f"{path}.expect").read_text()
    else:
        line = path.read_bytes().split(b"\n", 1)[0].decode()
    assert line.startswith("# expect:"), f"{path} declares no expectations"
    return Counter((rule, int(row), int(col)) for rule, row, col in EXPECT.findall(line))


def test_invalid_examples_produce_exactly_what_they_declare() -> None:
    report = validate_tree([INVALID], options=LoadOptions(), settings=ValidationSettings())
    produced: dict[str, Counter[tuple[str, int, int]]] = {str(path): Counter() for path in INVALID_FILES}
    for finding in report.findings:
        assert finding.line is not None
        assert finding.column is not None
        produced[finding.file or ""][(finding.rule, finding.line, finding.column)] += 1
    assert len(INVALID_FILES) >= 15
    for path in INVALID_FILES:
        assert produced[str(path)] == expectations(path), path.name
