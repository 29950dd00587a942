"""The rule table is complete: every id the code emits is in it, and every rule has a failing case."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from nestor_catalog_core import Severity
from nestor_catalog_core.validation import RULES, Layer, Rule
from nestor_catalog_core.validation.rules import rule

ROOT = Path(__file__).resolve().parents[3]
SOURCES = [
    *sorted((ROOT / "src/nestor_catalog_core/loading").glob("*.py")),
    *sorted((ROOT / "src/nestor_catalog_core/validation").glob("*.py")),
    *(
        ROOT / "src/nestor_catalog_core/cli" / name
        for name in ("_console.py", "_group.py", "_output.py", "_validating.py", "validate.py", "schema.py")
    ),
]
LITERAL = re.compile(r"[\"']([A-Z][A-Z0-9]+(?:_[A-Z0-9]+)+|[A-Z][A-Z0-9]{2,})[\"']")
EXPECT = re.compile(r"([A-Z0-9_]+)@(\d+):(\d+)")
#: Rules whose failing case needs a file system state that cannot live in git (tests/core/loading/test_files.py;
#: NO_DEFINITIONS: an empty folder, tests/core/cli/test_validate.py).
FILE_SYSTEM_RULES = {"FILE_TOO_LARGE", "SYMLINK_OUTSIDE_ROOT", "FILE_UNREADABLE", "NO_DEFINITIONS"}
#: Rules that depend on today's date, so no committed file can trip them for good
#: (tests/core/cli/test_validate.py writes files with dates relative to today).
TIME_DEPENDENT_RULES = {"SUNSET_NEAR", "SUNSET_PASSED"}


def test_rules_are_well_formed() -> None:
    for rule_id, entry in RULES.items():
        assert isinstance(entry, Rule)
        assert entry.id == rule_id
        assert re.fullmatch(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)*", rule_id)
        assert entry.summary.endswith(".")
        assert entry.fix.endswith(".")
        assert isinstance(entry.severity, Severity)
        assert isinstance(entry.layer, Layer)
    assert rule("YAML_TAG").layer is Layer.LOAD
    assert rule("DEFAULT_ON_REQUIRED").severity is Severity.WARNING


def test_the_design_rule_ids_exist() -> None:
    required = {
        "YAML_SYNTAX", "JSON_SYNTAX", "DUPLICATE_KEY", "YAML_TAG", "YAML_ALIAS_BOMB", "FILE_TOO_LARGE", "NOT_UTF8",
        "SYMLINK_OUTSIDE_ROOT", "NOT_A_MAPPING", "FOREIGN_API_VERSION", "EMPTY_DOCUMENT", "FILE_UNREADABLE",
        "SCHEMA_REQUIRED", "SCHEMA_TYPE", "SCHEMA_ENUM", "SCHEMA_VALUE", "UNKNOWN_FIELD", "NAME_FORMAT",
        "VERSION_FORMAT", "API_VERSION", "KIND", "INPUT_NAME_SNAKE_CASE", "INPUT_NAME_UNIQUE",
        "OUTPUT_NAME_SNAKE_CASE", "OUTPUT_NAME_UNIQUE", "ENGINE_CONFIG_MISSING", "ENGINE_CONFIG_UNKNOWN",
        "ENGINES_REQUIRED", "DEFAULT_TYPE_MISMATCH", "DEFAULT_VIOLATES_VALIDATION", "DEFAULT_ON_REQUIRED",
        "PATTERN_INVALID", "MIN_GT_MAX", "LENGTH_MIN_GT_MAX", "VALIDATION_NOT_APPLICABLE", "ENUM_TYPE_MISMATCH",
        "MAINTAINER_EMAIL", "MAINTAINERS_REQUIRED", "PROVIDER_FORMAT", "CATEGORY_FORMAT", "LABEL_FORMAT",
        "DESCRIPTION_MISSING", "DEPRECATION_REPLACEMENT",
    }  # fmt: skip
    assert required <= RULES.keys()


def test_every_rule_id_in_the_code_is_in_the_table() -> None:
    used: set[str] = set()
    constants: set[str] = set()
    for source in SOURCES:
        text = source.read_text()
        used.update(LITERAL.findall(text))
        constants.update(_module_constants(text))
    used -= constants
    assert used - RULES.keys() == set()
    assert RULES.keys() - used == set(), "rules nothing emits"


def _module_constants(text: str) -> set[str]:
    names: set[str] = set()
    for node in ast.parse(text).body:
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def test_every_file_rule_has_a_failing_example() -> None:
    expected: set[str] = set()
    for path in (ROOT / "examples/invalid").rglob("*"):
        if path.suffix in {".yaml", ".yml"}:
            expected.update(m[0] for m in EXPECT.findall(path.read_bytes().split(b"\n", 1)[0].decode()))
        elif path.suffix == ".expect":
            expected.update(m[0] for m in EXPECT.findall(path.read_text()))
    file_rules = {r.id for r in RULES.values() if r.layer is not Layer.INPUTS}
    assert file_rules - expected == FILE_SYSTEM_RULES | TIME_DEPENDENT_RULES
