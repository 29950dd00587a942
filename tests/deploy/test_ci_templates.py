"""The CI templates platform teams copy: the GitHub Action (``action.yml``, composite) and the
GitLab CI template. Both are checked against their platform's JSON Schema (check-jsonschema's
vendored schemas), and their shell steps run for real with bash in a git repository whose base
branch lives in a bare "origin", with the inputs or variables a pipeline would pass."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import junitparser
import pytest
import yaml

from tests.support.git import GitRepo, git_env, init_bare

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / "action.yml"
GITLAB = ROOT / "ci" / "gitlab" / "nestor-catalog.gitlab-ci.yml"
BIN = Path(sys.executable).parent
CHECK_JSONSCHEMA = BIN / "check-jsonschema"
EXPRESSION = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")


def mysql(examples_dir: Path, version: str) -> str:
    return (examples_dir / f"aws-rds-mysql-{version}.yaml").read_text()


@pytest.fixture
def pull_request(tmp_path: Path, examples_dir: Path) -> GitRepo:
    """A definitions repository: main (pushed to a bare origin) holds aws-rds-mysql 1.2.0; the
    checkout is on a feature branch that adds 2.0.0. ``origin/main`` is not fetched yet."""
    origin = init_bare(tmp_path / "origin.git")
    seed = GitRepo.init(tmp_path / "seed")
    seed.write("definitions/aws-rds-mysql-1.2.0.yaml", mysql(examples_dir, "1.2.0"))
    seed.commit("1.2.0")
    seed.push(origin)
    repo = GitRepo(tmp_path / "work")
    subprocess.run(["git", "clone", "-q", "--single-branch", str(origin), str(repo.path)], check=True, env=git_env())
    repo.run("update-ref", "-d", "refs/remotes/origin/main")  # as a shallow PR checkout lacks the base
    repo.run("checkout", "-q", "-b", "feature")
    repo.write("definitions/aws-rds-mysql-2.0.0.yaml", mysql(examples_dir, "2.0.0"))
    repo.commit("2.0.0")
    return repo


def smuggle_breaking_minor(repo: GitRepo, examples_dir: Path) -> None:
    repo.remove("definitions/aws-rds-mysql-2.0.0.yaml")
    text = mysql(examples_dir, "2.0.0").replace('version: "2.0.0"', 'version: "1.3.0"')
    repo.write("definitions/aws-rds-mysql-1.3.0.yaml", text)
    repo.commit("1.3.0, breaking")


# -- GitHub Action -----------------------------------------------------------------------------


def action() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(ACTION.read_text())
    return document


def evaluate(text: str, inputs: dict[str, str]) -> str:
    """The ``${{ inputs.X }}`` and ``${{ github.action_path }}`` expressions the steps use."""

    def value(match: re.Match[str]) -> str:
        expression = match.group(1)
        if expression.startswith("inputs."):
            return inputs[expression.removeprefix("inputs.")]
        if expression == "github.action_path":
            return str(ROOT)
        raise AssertionError(f"the test does not evaluate {expression!r}")

    return EXPRESSION.sub(value, text)


def run_action(repo: GitRepo, tmp_path: Path, **given: str) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """Run the action's ``check`` step as the runner does (``bash --noprofile --norc -eo pipefail``),
    with the inputs' defaults overridden by ``given``; returns the result and $GITHUB_OUTPUT."""
    definition = action()
    inputs = {name: str(spec.get("default", "")) for name, spec in definition["inputs"].items()}
    named = {key.replace("_", "-"): value for key, value in given.items()}
    assert set(named) <= set(inputs), set(named) - set(inputs)
    inputs.update(named)
    [step] = [step for step in definition["runs"]["steps"] if step.get("id") == "check"]
    script = tmp_path / "step.sh"
    script.write_text(step["run"])
    output = tmp_path / "github_output"
    output.write_text("")
    env = git_env({"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "GITHUB_OUTPUT": str(output)})
    env.update({key: evaluate(str(value), inputs) for key, value in step["env"].items()})
    env.pop("CI", None)
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        cwd=repo.path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    return result, outputs


def test_action_is_a_valid_composite_action() -> None:
    subprocess.run([str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-actions", str(ACTION)], check=True)
    definition = action()
    assert definition["runs"]["using"] == "composite"
    assert {"paths", "format", "against"} <= definition["inputs"].keys()
    for step in definition["runs"]["steps"]:
        if "run" in step:
            assert "${{" not in step["run"], "inputs reach scripts through env, never spliced into the code"


def test_action_passes_a_good_pull_request_and_fetches_the_base(pull_request: GitRepo, tmp_path: Path) -> None:
    result, outputs = run_action(pull_request, tmp_path, paths="definitions", against="origin/main")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "aws-rds-mysql 1.2.0 -> 2.0.0" not in result.stdout  # github format: annotations and summaries only
    assert "::notice file=definitions/aws-rds-mysql-2.0.0.yaml,line=24,col=18,title=PATTERN_CHANGED::" in result.stdout
    assert pull_request.run("rev-parse", "--verify", "origin/main").strip()
    assert outputs == {}


def test_action_fails_a_breaking_minor_with_an_annotation_on_its_line(
    pull_request: GitRepo, tmp_path: Path, examples_dir: Path
) -> None:
    smuggle_breaking_minor(pull_request, examples_dir)
    result, _ = run_action(pull_request, tmp_path, paths="definitions", against="origin/main")
    assert result.returncode == 1
    assert "::error file=definitions/aws-rds-mysql-1.3.0.yaml,line=24,col=18,title=PATTERN_CHANGED::" in result.stdout
    assert "title=BUMP_TOO_SMALL" in result.stdout


def test_action_writes_sarif_reports_for_code_scanning(
    pull_request: GitRepo, tmp_path: Path, examples_dir: Path
) -> None:
    smuggle_breaking_minor(pull_request, examples_dir)
    result, outputs = run_action(pull_request, tmp_path, paths="definitions", against="origin/main", format="sarif")
    assert result.returncode == 1
    reports = pull_request.path / outputs["reports"]
    assert sorted(path.name for path in reports.iterdir()) == ["check-compat.sarif", "validate.sarif"]
    compat = json.loads((reports / "check-compat.sarif").read_text())
    rules = [r["ruleId"] for r in compat["runs"][0]["results"] if r["level"] == "error"]
    assert "PATTERN_CHANGED" in rules
    assert json.loads((reports / "validate.sarif").read_text())["runs"][0]["results"] == []


def test_action_validate_only_and_an_empty_path(pull_request: GitRepo, tmp_path: Path) -> None:
    (pull_request.path / "empty").mkdir()
    result, _ = run_action(pull_request, tmp_path, paths="empty")
    assert result.returncode == 1
    assert "NO_DEFINITIONS" in result.stdout
    allowed, _ = run_action(pull_request, tmp_path, paths="empty", allow_empty="true")
    assert allowed.returncode == 0, allowed.stdout


# -- GitLab CI template ------------------------------------------------------------------------


def gitlab() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(GITLAB.read_text())
    return document


def run_gitlab_job(job: str, repo: GitRepo, variables: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The job's ``script`` as the runner runs it: one bash script, with the template's and the
    pipeline's variables in the environment (``before_script``'s pip install is the venv here)."""
    template = gitlab()
    spec = template[job]
    env = git_env({"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"})
    env.pop("CI", None)
    env.update({key: str(value) for key, value in template["variables"].items()})
    env.update({key: str(value) for key, value in spec.get("variables", {}).items()})
    env.update(variables)
    reports = env["NESTOR_CATALOG_REPORTS"]
    script = "set -eo pipefail\n" + f'mkdir -p "{reports}"\n' + "\n".join(spec["script"]) + "\n"
    return subprocess.run(
        ["bash", "-c", script], cwd=repo.path, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_gitlab_template_is_valid_gitlab_ci() -> None:
    subprocess.run([str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.gitlab-ci", str(GITLAB)], check=True)
    template = gitlab()
    assert template[".nestor-catalog"]["artifacts"]["reports"]["junit"] == "$NESTOR_CATALOG_REPORTS/*.xml"
    assert template["nestor-catalog:check-compat"]["rules"] == [{"if": "$CI_MERGE_REQUEST_TARGET_BRANCH_NAME"}]


def test_gitlab_jobs_report_junit_and_fail_like_the_cli(
    pull_request: GitRepo, tmp_path: Path, examples_dir: Path
) -> None:
    pipeline = {"NESTOR_CATALOG_PATHS": "definitions", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME": "main"}
    passed = run_gitlab_job("nestor-catalog:check-compat", pull_request, pipeline)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    smuggle_breaking_minor(pull_request, examples_dir)
    for job, report in (
        ("nestor-catalog:validate", "validate.xml"),
        ("nestor-catalog:check-compat", "check-compat.xml"),
    ):
        result = run_gitlab_job(job, pull_request, pipeline)
        xml = junitparser.JUnitXml.fromfile(str(pull_request.path / "nestor-catalog-reports" / report))
        cases = {case.name: case for suite in xml for case in suite}
        if job.endswith("validate"):
            assert result.returncode == 0, result.stdout + result.stderr
            assert all(case.is_passed for case in cases.values())
        else:
            assert result.returncode == 1
            assert "PATTERN_CHANGED" in result.stdout
            failing = cases["definitions/aws-rds-mysql-1.3.0.yaml"]
            assert not failing.is_passed
            assert "[PATTERN_CHANGED]" in (failing.result[0].text or "")
