"""``--format sarif`` and ``--format junit`` of ``validate`` and ``check-compat``: SARIF checked
by Microsoft's SARIF validator (``Sarif.Multitool validate``), JUnit read back by junitparser."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import junitparser
import pytest

from nestor_catalog_core.cli.rules import rule_table
from tests.support.node_tools import sarif_multitool

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = Path(sys.executable).parent / "nestor-catalog"
INVALID = ["examples/invalid/structure-errors.yaml", "examples/invalid/input-policies.yaml"]
GOOD = "examples/aws-vpc-2.1.0.yaml"


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=120, cwd=cwd, check=False)


def multitool_findings(sarif_file: Path, tmp_path: Path) -> list[dict[str, Any]]:
    """What Microsoft's validator says about ``sarif_file`` (its own SARIF log's results)."""
    out = tmp_path / "validation.sarif"
    result = subprocess.run(
        [str(sarif_multitool()), "validate", str(sarif_file), "--output", str(out), "--log", "ForceOverwrite"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "DOTNET_SYSTEM_GLOBALIZATION_INVARIANT": "1"},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    log = json.loads(out.read_text(encoding="utf-8-sig"))
    return [
        {"rule": r["ruleId"], "level": r.get("level", "warning"), "message": r["message"]}
        for r in log["runs"][0]["results"]
    ]


def text_findings() -> list[str]:
    return [line for line in cli("validate", *INVALID, GOOD).stdout.splitlines() if ": error [" in line]


@pytest.fixture(scope="module")
def sarif(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    result = cli("validate", *INVALID, GOOD, "--format", "sarif")
    assert result.returncode == 1
    path = tmp_path_factory.mktemp("sarif") / "validate.sarif"
    path.write_text(result.stdout)
    return json.loads(result.stdout), path


def test_sarif_passes_microsofts_validator(sarif: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    _, path = sarif
    problems = multitool_findings(path, tmp_path)
    assert [p for p in problems if p["level"] == "error"] == []
    # the one remaining advice: informationUri, a public home page the project does not have yet
    assert {p["rule"] for p in problems} <= {"SARIF2005"}


def test_a_broken_sarif_is_refused_by_the_validator(sarif: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    # the validator is not a rubber stamp: a result pointing at a rule index that does not exist
    log, _ = sarif
    broken = json.loads(json.dumps(log))
    broken["runs"][0]["results"][0]["ruleIndex"] = 10_000
    del broken["runs"][0]["results"][0]["message"]
    path = tmp_path / "broken.sarif"
    path.write_text(json.dumps(broken))
    (tmp_path / "validator").mkdir()
    assert [p for p in multitool_findings(path, tmp_path / "validator") if p["level"] == "error"]


def test_sarif_results_are_the_findings_with_rules_help_and_positions(sarif: tuple[dict[str, Any], Path]) -> None:
    log, _ = sarif
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    assert run["columnKind"] == "unicodeCodePoints"
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == ROOT.as_uri() + "/"
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [row["rule"] for row in rule_table()]
    by_id = {r["id"]: r for r in rules}
    for row in rule_table():
        assert by_id[row["rule"]]["help"]["text"] == f"{row['summary']}\nHow to fix: {row['fix']}"
    assert by_id["KIND"]["help"]["text"] == "kind is not ResourceDefinition.\nHow to fix: Set kind: ResourceDefinition."
    located = []
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        physical = result["locations"][0]["physicalLocation"]
        assert physical["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
        region = physical["region"]
        level = {"error": "error", "warning": "warning", "note": "info"}[result["level"]]
        located.append(
            f"{physical['artifactLocation']['uri']}:{region['startLine']}:{region['startColumn']}: {level} "
            f"[{result['ruleId']}] {result['message']['text']}"
        )
    assert [line for line in located if ": error [" in line] == text_findings()
    assert GOOD not in {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"]}


def test_sarif_of_check_compat_locates_the_breaking_change(tmp_path: Path, examples_dir: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    (old / "mysql.yaml").write_text((examples_dir / "aws-rds-mysql-1.2.0.yaml").read_text())
    smuggled = (examples_dir / "aws-rds-mysql-2.0.0.yaml").read_text().replace('version: "2.0.0"', 'version: "1.3.0"')
    (new / "mysql.yaml").write_text(smuggled)
    result = cli("check-compat", "old", "new", "--format", "sarif", cwd=tmp_path)
    assert result.returncode == 1
    path = tmp_path / "compat.sarif"
    path.write_text(result.stdout)
    assert [p for p in multitool_findings(path, tmp_path) if p["level"] == "error"] == []
    results = json.loads(result.stdout)["runs"][0]["results"]
    pattern = next(r for r in results if r["ruleId"] == "PATTERN_CHANGED")
    assert pattern["level"] == "error"
    location = pattern["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "new/mysql.yaml"
    assert location["region"] == {"startLine": 24, "startColumn": 18}
    assert any(r["ruleId"] == "BUMP_TOO_SMALL" for r in results)


def test_junit_has_a_case_per_file_failing_with_its_findings(tmp_path: Path) -> None:
    result = cli("validate", *INVALID, GOOD, "--format", "junit")
    assert result.returncode == 1
    path = tmp_path / "report.xml"
    path.write_text(result.stdout)
    xml = junitparser.JUnitXml.fromfile(str(path))
    suites = list(xml)
    assert [suite.name for suite in suites] == ["nestor-catalog validate"]
    cases = {case.name: case for case in suites[0]}
    assert list(cases) == [*INVALID, GOOD]
    assert cases[GOOD].is_passed
    expected = text_findings()
    for name in INVALID:
        case = cases[name]
        assert not case.is_passed
        [failure] = case.result
        assert isinstance(failure, junitparser.Failure)
        lines = (failure.text or "").splitlines()
        assert lines == [line for line in expected if line.startswith(f"{name}:")]
        assert failure.type == lines[0].split("[", 1)[1].split("]", 1)[0]
    assert suites[0].tests == 3
    assert suites[0].failures == 2


def test_junit_fail_on_decides_what_fails_and_a_clean_run_passes(tmp_path: Path) -> None:
    warned = tmp_path / "warned.yaml"
    text = (ROOT / GOOD).read_text()
    warned.write_text(text.replace("  description:", "  description: ''\n  old_description:", 1))
    lenient = cli("validate", str(warned), "--no-strict", "--format", "junit")
    (tmp_path / "a.xml").write_text(lenient.stdout)
    case = next(iter(next(iter(junitparser.JUnitXml.fromfile(str(tmp_path / "a.xml"))))))
    assert lenient.returncode == 0
    assert case.is_passed
    assert "warning [" in (case.system_out or "")
    strict = cli("validate", str(warned), "--no-strict", "--format", "junit", "--fail-on", "warning")
    (tmp_path / "b.xml").write_text(strict.stdout)
    case = next(iter(next(iter(junitparser.JUnitXml.fromfile(str(tmp_path / "b.xml"))))))
    assert strict.returncode == 1
    assert not case.is_passed
