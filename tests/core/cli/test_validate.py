"""``nestor-catalog validate``: exit codes, formats, layer flags, progress."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from nestor_catalog_core.cli import main
from tests.support.terminal import run_on_a_terminal

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"
SCRIPT = Path(sys.executable).parent / "nestor-catalog"

GOOD = """apiVersion: catalog.nestor.io/v1
kind: ResourceDefinition
metadata:
  name: {name}
  version: "1.0.0"
  provider: aws
  category: cache
  resource_type: redis
  description: "A cache"
  maintainers: [team@company.com]
spec:
  supported_engines: [terraform]
  required_inputs:
    - name: node_type
      type: string
      description: "Node type"
  engine_configs:
    terraform: {{module_source: "x"}}
"""


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_valid_examples_exit_0() -> None:
    code, output = run("validate", str(EXAMPLES))
    assert code == 0, output
    assert output.strip().endswith("0 errors, 0 warnings, 0 notices")
    assert output.startswith("22 files, 23 definitions")


def test_invalid_examples_exit_1_and_print_every_finding_with_position_and_rule() -> None:
    code, output = run("validate", str(EXAMPLES / "invalid"))
    assert code == 1
    lines = output.strip().splitlines()
    findings, summary = lines[:-1], lines[-1]
    assert len(findings) == 77
    for line in findings:
        assert line.startswith(str(EXAMPLES / "invalid") + "/"), line
        location, rest = line.split(": ", 1)
        _, row, col = location.rsplit(":", 2)
        assert row.isdigit()
        assert col.isdigit()
        assert rest.split(" ", 1)[0] in {"error", "warning", "info"}
        assert rest.split(" ", 2)[1].startswith("[")
    assert summary == "22 files, 9 definitions: 69 errors, 6 warnings, 2 notices"
    assert any(
        line.endswith(
            "structure-errors.yaml:6:12: error [VERSION_FORMAT] metadata.version: got the number 1.2: the version "
            "must be a full SemVer version like 1.2.0; quote it so YAML keeps it a string"
        )
        for line in findings
    )


def test_json_format_is_one_object(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.format(name="Bad_Name"))
    code, output = run("validate", str(tmp_path), "--format", "json")
    assert code == 1
    payload = json.loads(output)
    assert list(payload) == ["files", "definitions", "findings"]
    assert payload["files"] == 1
    assert payload["definitions"] == 1
    assert payload["findings"] == [
        {
            "rule": "NAME_FORMAT",
            "severity": "error",
            "field": "metadata.name",
            "message": payload["findings"][0]["message"],
            "file": str(bad),
            "line": 4,
            "column": 9,
        }
    ]


def test_json_format_when_clean() -> None:
    code, output = run("validate", str(EXAMPLES / "aws-rds-mysql-1.2.0.yaml"), "--format", "json")
    assert code == 0
    assert json.loads(output) == {"files": 1, "definitions": 1, "findings": []}


def test_github_format_prints_annotations(tmp_path: Path) -> None:
    path = tmp_path / "a,b.yaml"
    path.write_text(GOOD.format(name="x").replace('description: "A cache"', 'description: ""'))
    (tmp_path / "pod.yaml").write_text("apiVersion: v1\nkind: Pod\n")
    code, output = run("validate", str(tmp_path), "--format", "github")
    assert code == 0
    lines = output.splitlines()
    assert lines[0] == (
        f"::warning file={tmp_path}/a%2Cb.yaml,line=9,col=16,title=DESCRIPTION_MISSING::"
        "[DESCRIPTION_MISSING] metadata.description: describe what this resource is for"
    )
    assert lines[1].startswith(f"::notice file={tmp_path}/pod.yaml,line=1,col=13,title=FOREIGN_API_VERSION::")
    assert lines[2] == "2 files, 1 definition: 0 errors, 1 warning, 1 notice"


def test_fail_on_warning(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text(GOOD.format(name="x").replace('description: "A cache"', 'description: ""'))
    assert run("validate", str(tmp_path))[0] == 0
    assert run("validate", str(tmp_path), "--fail-on", "warning")[0] == 1


def test_layer_flags(tmp_path: Path) -> None:
    text = GOOD.format(name="x").replace("maintainers: [team@company.com]", "maintainers: [team]\n  owner: me")
    text = text.replace('      description: "Node type"', "      description: \"Node type\"\n      sensitive: 'false'")
    (tmp_path / "x.yaml").write_text(text)
    code, output = run("validate", str(tmp_path))
    assert code == 1
    assert "[UNKNOWN_FIELD]" in output
    assert "[SCHEMA_TYPE]" in output
    code, output = run("validate", str(tmp_path), "--no-strict", "--no-schema")
    assert code == 1
    assert "warning [UNKNOWN_FIELD]" in output
    assert "[SCHEMA_TYPE]" not in output
    assert "[MAINTAINER_EMAIL]" in output
    code, output = run("validate", str(tmp_path), "--no-strict", "--no-schema", "--no-policies")
    assert code == 0, output
    assert "0 errors, 1 warning" in output


@pytest.mark.parametrize(("size", "code"), [("100", 1), ("1KiB", 1), ("2KiB", 0), ("1MB", 0), ("1048576", 0)])
def test_max_file_size(size: str, code: int) -> None:
    exit_code, output = run("validate", str(EXAMPLES / "aws-rds-mysql-1.2.0.yaml"), "--max-file-size", size)
    assert exit_code == code, output
    assert ("[FILE_TOO_LARGE]" in output) == (code == 1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["validate"], "Missing argument 'PATHS...'"),
        (["validate", "/no/such/path"], "does not exist"),
        (["validate", ".", "--format", "xml"], "Invalid value for '--format'"),
        (["validate", ".", "--max-file-size", "lots"], "is not a size like"),
        (["validate", ".", "--max-file-size", "0"], "is not a size like"),
        (["validate", ".", "--bogus"], "No such option"),
        (["no-such-command"], "No such command"),
    ],
)
def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert message in result.output


def test_duplicate_versions_in_a_tree(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(GOOD.format(name="x"))
    (tmp_path / "b.yaml").write_text(GOOD.format(name="x"))
    (tmp_path / "c.yaml").write_text(GOOD.format(name="x").replace("A cache", "Another cache"))
    code, output = run("validate", str(tmp_path))
    assert code == 1
    identical = "b.yaml:5:12: warning [DUPLICATE_VERSION] metadata.version: x 1.0.0 is also defined, identically, at "
    assert f"{identical}{tmp_path}/a.yaml:5:12" in output
    assert "c.yaml:5:12: error [DUPLICATE_VERSION]" in output


def test_real_process_exit_codes_and_output() -> None:
    clean = subprocess.run([str(SCRIPT), "validate", str(EXAMPLES)], capture_output=True, text=True, timeout=120)
    assert clean.returncode == 0, clean.stderr
    assert clean.stderr == ""
    dirty = subprocess.run(
        [str(SCRIPT), "validate", str(EXAMPLES / "invalid"), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dirty.returncode == 1
    assert len(json.loads(dirty.stdout)["findings"]) == 77
    usage = subprocess.run([str(SCRIPT), "validate", "/no/such"], capture_output=True, text=True, timeout=120)
    assert usage.returncode == 2
    assert "does not exist" in usage.stderr


def test_validate_does_not_import_the_server_or_jsonschema() -> None:
    probe = (
        "import sys\nfrom click.testing import CliRunner\nfrom nestor_catalog_core.cli import main\n"
        f"CliRunner().invoke(main, ['validate', {str(EXAMPLES)!r}])\n"
        "print(sorted(m for m in ('litestar', 'jsonschema', 'nestor_catalog_server') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]"


def test_progress_bar_only_on_a_terminal_and_large_trees(tmp_path: Path) -> None:
    for index in range(210):
        (tmp_path / f"def-{index:03}.yaml").write_text(GOOD.format(name=f"cache-{index}"))
    code, terminal = run_on_a_terminal([str(SCRIPT), "validate", str(tmp_path)])
    assert code == 0
    assert "validating" in terminal
    assert "210/210" in terminal
    piped = subprocess.run([str(SCRIPT), "validate", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0
    assert piped.stderr == ""
    code, terminal = run_on_a_terminal([str(SCRIPT), "validate", str(EXAMPLES)])
    assert code == 0
    assert "validating" not in terminal
    # a CI runner with a terminal (CI=true) stays quiet too
    code, terminal = run_on_a_terminal([str(SCRIPT), "validate", str(tmp_path)], ci="true")
    assert code == 0
    assert "validating" not in terminal


def test_a_path_without_definitions_fails_unless_allowed(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "README.md").write_text("# not a definition\n")
    for path, read in ((empty, "no *.yaml, *.yml or *.json file found"), (tmp_path / "notes", "no *.yaml")):
        code, output = run("validate", str(path))
        assert code == 1
        assert f"{path}: error [NO_DEFINITIONS] no definitions under {path} ({read}" in output
        assert "--allow-empty" in output
        assert run("validate", str(path), "--allow-empty")[0] == 0
    only_foreign = tmp_path / "k8s"
    only_foreign.mkdir()
    (only_foreign / "deploy.yaml").write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n")
    code, output = run("validate", str(only_foreign))
    assert code == 1
    assert "(1 file read)" in output
    code, output = run("validate", str(only_foreign), "--format", "json")
    assert [f["rule"] for f in json.loads(output)["findings"]] == ["FOREIGN_API_VERSION", "NO_DEFINITIONS"]


def test_tab_indentation_says_tabs_are_not_allowed(tmp_path: Path) -> None:
    path = tmp_path / "tabs.yaml"
    path.write_text("apiVersion: catalog.nestor.io/v1\nkind: ResourceDefinition\nmetadata:\n\tname: x\n")
    code, output = run("validate", str(path))
    assert code == 1
    assert f"{path}:4:1: error [YAML_SYNTAX] a tab in the indentation: YAML does not allow tabs" in output
    assert "indent with spaces" in output
    nested = tmp_path / "nested.yaml"
    nested.write_text("a:\n  - b\n  \t- c\n")
    code, output = run("validate", str(nested))
    assert f"{nested}:3:3: error [YAML_SYNTAX] a tab in the indentation" in output
    inside = tmp_path / "inside.yaml"
    inside.write_text('a: "x\ty"\nb: [\n')
    assert "a tab in the indentation" not in run("validate", str(inside))[1]


def test_sunset_near_or_past_is_a_warning(tmp_path: Path) -> None:
    from datetime import timedelta

    from nestor_catalog_core.models import utcnow

    today = utcnow().date()
    for name, offset in (("passed", -3), ("today", 0), ("near", 10), ("far", 90)):
        sunset = (today + timedelta(days=offset)).isoformat()
        text = GOOD.format(name=f"cache-{name}").replace(
            "  maintainers:", f"  deprecation:\n    message: use v2\n    sunset: {sunset}\n  maintainers:", 1
        )
        (tmp_path / f"{name}.yaml").write_text(text)
    code, output = run("validate", str(tmp_path), "--format", "json")
    assert code == 0, output
    findings = {(Path(f["file"]).stem, f["rule"]): f for f in json.loads(output)["findings"]}
    assert set(findings) == {("passed", "SUNSET_PASSED"), ("today", "SUNSET_PASSED"), ("near", "SUNSET_NEAR")}
    assert all(f["severity"] == "warning" for f in findings.values())
    assert "3 days ago" in findings["passed", "SUNSET_PASSED"]["message"]
    assert "in 10 days" in findings["near", "SUNSET_NEAR"]["message"]
    assert findings["near", "SUNSET_NEAR"]["field"] == "metadata.deprecation.sunset"
    assert findings["near", "SUNSET_NEAR"]["line"] is not None
    assert run("validate", str(tmp_path), "--fail-on", "warning")[0] == 1
    code, output = run("validate", str(tmp_path), "--sunset-warning-days", "100", "--format", "json")
    assert ("far", "SUNSET_NEAR") in {(Path(f["file"]).stem, f["rule"]) for f in json.loads(output)["findings"]}
    code, output = run("check-compat", str(tmp_path), "--format", "json")
    rules = sorted(f["rule"] for f in json.loads(output)["findings"])
    assert rules == ["SUNSET_NEAR", "SUNSET_PASSED", "SUNSET_PASSED"]
