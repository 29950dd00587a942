from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from nestor_catalog_core.cli import main
from nestor_catalog_core.cli.check_compat import git_tree_results
from nestor_catalog_core.loading import LoadOptions, discover

HISTORY = ["1.0.0", "1.1.0", "1.2.0", "2.0.0"]
OLD_PATTERN = '"^db\\\\.[a-z0-9]+\\\\.[a-z]+$"'


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["check-compat", *args])


def history_file(examples_dir: Path, version: str) -> str:
    return (examples_dir / f"aws-rds-mysql-{version}.yaml").read_text()


def write_history(directory: Path, examples_dir: Path, versions: list[str] = HISTORY) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for version in versions:
        (directory / f"aws-rds-mysql-{version}.yaml").write_text(history_file(examples_dir, version))


def breaking_minor(examples_dir: Path) -> str:
    """2.0.0's content (the instance_class pattern tightened) released as 1.3.0, with an
    optional input removed on top."""
    text = history_file(examples_dir, "2.0.0").replace('version: "2.0.0"', 'version: "1.3.0"')
    start = text.index("    - name: multi_az")
    end = text.index("  outputs:")
    return text[:start] + text[end:]


def test_spec_history_is_accepted(tmp_path: Path, examples_dir: Path) -> None:
    write_history(tmp_path, examples_dir)
    result = run(str(tmp_path))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "aws-rds-mysql 1.0.0 -> 1.1.0: declared minor, required minor: ok" in lines
    assert "aws-rds-mysql 1.1.0 -> 1.2.0: declared minor, required minor: ok" in lines
    assert "aws-rds-mysql 1.2.0 -> 2.0.0: declared major, required major: ok" in lines
    assert "  OPTIONAL_INPUT_ADDED spec.optional_inputs[0]: (none) -> backup_retention_period (needs minor)" in lines
    assert any(line.startswith("  PATTERN_CHANGED spec.required_inputs[0].validation.pattern: ") for line in lines)
    assert "3 version steps checked, 0 with too small a bump" in lines
    assert lines[-1] == "4 files, 4 definitions: 0 errors, 0 warnings, 7 notices"


def test_breaking_change_released_as_minor_is_rejected(tmp_path: Path, examples_dir: Path) -> None:
    write_history(tmp_path, examples_dir, HISTORY[:3])
    new_file = tmp_path / "aws-rds-mysql-1.3.0.yaml"
    new_file.write_text(breaking_minor(examples_dir))
    result = run(str(tmp_path))
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    header = lines.index("aws-rds-mysql 1.2.0 -> 1.3.0: declared minor, required major: bump too small")
    changes = [line.split()[0] for line in lines[header + 1 :] if line.startswith("  ")]
    assert changes == ["ENGINE_CONFIG_CHANGED", "INPUT_REMOVED", "PATTERN_CHANGED", "DESCRIPTION_CHANGED"]
    assert "  INPUT_REMOVED spec.optional_inputs[1]: multi_az -> (none) (needs major)" in lines
    assert any(line.startswith(f"{new_file}:24:18: error [PATTERN_CHANGED] ") for line in lines)
    bump = next(line for line in lines if "[BUMP_TOO_SMALL]" in line)
    assert bump.startswith(f"{new_file}:6:12: error [BUMP_TOO_SMALL] metadata.version: ")
    assert bump.endswith("need major (INPUT_REMOVED, PATTERN_CHANGED); release 2.0.0 instead")
    assert lines[-1] == "4 files, 4 definitions: 3 errors, 0 warnings, 6 notices"


def test_json_lists_every_change_with_both_values_and_positions(tmp_path: Path, examples_dir: Path) -> None:
    write_history(tmp_path, examples_dir, ["1.2.0"])
    (tmp_path / "aws-rds-mysql-1.3.0.yaml").write_text(breaking_minor(examples_dir))
    result = run(str(tmp_path), "--format", "json")
    assert result.exit_code == 1, result.output
    payload = json.loads(result.output)
    assert (payload["files"], payload["definitions"]) == (2, 2)
    [comparison] = payload["comparisons"]
    assert comparison["file"].endswith("aws-rds-mysql-1.3.0.yaml")
    assert (comparison["declared"], comparison["required"], comparison["ok"]) == ("minor", "major", False)
    pattern = next(c for c in comparison["changes"] if c["rule"] == "PATTERN_CHANGED")
    assert pattern["old"] == "^db\\.[a-z0-9]+\\.[a-z]+$"
    assert pattern["new"].startswith("^db\\.(t3|t4g")
    assert pattern["needs"] == "major"
    by_rule = {f["rule"]: f for f in payload["findings"]}
    assert by_rule["PATTERN_CHANGED"]["severity"] == "error"
    assert by_rule["PATTERN_CHANGED"]["field"] == "spec.required_inputs[0].validation.pattern"
    assert (by_rule["PATTERN_CHANGED"]["line"], by_rule["PATTERN_CHANGED"]["column"]) == (24, 18)
    assert by_rule["DESCRIPTION_CHANGED"]["severity"] == "info"
    assert by_rule["INPUT_REMOVED"]["line"] == 33  # the optional_inputs list it left


def test_github_format_annotates_lines(tmp_path: Path, examples_dir: Path) -> None:
    write_history(tmp_path, examples_dir, ["1.2.0"])
    new_file = tmp_path / "aws-rds-mysql-1.3.0.yaml"
    new_file.write_text(breaking_minor(examples_dir))
    result = run(str(tmp_path), "--format", "github")
    assert result.exit_code == 1
    escaped = str(new_file).replace(":", "%3A").replace(",", "%2C")
    assert f"::error file={escaped},line=24,col=18,title=PATTERN_CHANGED::[PATTERN_CHANGED] " in result.output
    assert f"::notice file={escaped},line=22,col=20,title=DESCRIPTION_CHANGED::" in result.output


def test_old_new_compares_only_what_new_adds(tmp_path: Path, examples_dir: Path) -> None:
    write_history(tmp_path / "old", examples_dir, HISTORY[:3])
    write_history(tmp_path / "new", examples_dir)
    result = run(str(tmp_path / "old"), str(tmp_path / "new"))
    assert result.exit_code == 0, result.output
    headers = [line for line in result.output.splitlines() if " -> " in line and not line.startswith("  ")]
    assert headers == ["aws-rds-mysql 1.2.0 -> 2.0.0: declared major, required major: ok"]


def test_old_new_files(tmp_path: Path, examples_dir: Path) -> None:
    old = examples_dir / "aws-rds-mysql-1.1.0.yaml"
    new = tmp_path / "next.yaml"
    new.write_text(breaking_minor(examples_dir).replace('version: "1.3.0"', 'version: "1.2.0"'))
    result = run(str(old), str(new))
    assert result.exit_code == 1
    assert "aws-rds-mysql 1.1.0 -> 1.2.0: declared minor, required major: bump too small" in result.output


def test_changed_content_under_the_same_version_is_immutable_version(tmp_path: Path, examples_dir: Path) -> None:
    write_history(tmp_path / "old", examples_dir, ["1.2.0"])
    changed = history_file(examples_dir, "1.2.0").replace('"AWS RDS MySQL database instance"', '"MySQL on RDS"')
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "aws-rds-mysql-1.2.0.yaml").write_text(changed)
    for mode in ("strict", "warn", "off"):
        result = run(str(tmp_path / "old"), str(tmp_path / "new"), "--compatibility", mode)
        assert result.exit_code == 1, (mode, result.output)
        [line] = [line for line in result.output.splitlines() if "IMMUTABLE_VERSION" in line]
        assert line.startswith(f"{tmp_path / 'new' / 'aws-rds-mysql-1.2.0.yaml'}:6:12: error [IMMUTABLE_VERSION] ")
        assert "(metadata.description)" in line


def test_identical_versions_are_not_compared_again(tmp_path: Path, examples_dir: Path) -> None:
    write_history(tmp_path / "old", examples_dir)
    write_history(tmp_path / "new", examples_dir)
    result = run(str(tmp_path / "old"), str(tmp_path / "new"))
    assert result.exit_code == 0
    assert "0 version steps checked, 0 with too small a bump" in result.output


def test_compatibility_warn_and_fail_on(tmp_path: Path, examples_dir: Path) -> None:
    write_history(tmp_path, examples_dir, ["1.2.0"])
    (tmp_path / "aws-rds-mysql-1.3.0.yaml").write_text(breaking_minor(examples_dir))
    warned = run(str(tmp_path), "--compatibility", "warn")
    assert warned.exit_code == 0, warned.output
    assert "warning [BUMP_TOO_SMALL]" in warned.output
    assert warned.output.splitlines()[-1].endswith(": 0 errors, 3 warnings, 2 notices")
    assert run(str(tmp_path), "--compatibility", "warn", "--fail-on", "warning").exit_code == 1
    off = run(str(tmp_path), "--compatibility", "off")
    assert off.exit_code == 0
    assert "0 version steps checked" in off.output


def test_invalid_new_file_reports_validation_findings(tmp_path: Path, examples_dir: Path) -> None:
    write_history(tmp_path, examples_dir, ["1.2.0"])
    broken = history_file(examples_dir, "2.0.0").replace("name: instance_class", "name: InstanceClass")
    (tmp_path / "aws-rds-mysql-2.0.0.yaml").write_text(broken)
    (tmp_path / "garbage.yaml").write_text("apiVersion: catalog.nestor.io/v1\nkind: [\n")
    result = run(str(tmp_path))
    assert result.exit_code == 1
    assert "error [INPUT_NAME_SNAKE_CASE]" in result.output
    assert "error [YAML_SYNTAX]" in result.output
    assert "aws-rds-mysql 1.2.0 -> 2.0.0: declared major, required major: ok" in result.output


def test_invalid_old_file_is_only_a_warning(tmp_path: Path, examples_dir: Path) -> None:
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "broken.yaml").write_text("apiVersion: catalog.nestor.io/v1\nkind: [\n")
    write_history(tmp_path / "new", examples_dir, ["1.0.0"])
    result = run(str(tmp_path / "old"), str(tmp_path / "new"))
    assert result.exit_code == 0, result.output
    assert "warning [YAML_SYNTAX]" in result.output


def test_duplicate_version_in_new(tmp_path: Path, examples_dir: Path) -> None:
    write_history(tmp_path, examples_dir, ["1.2.0"])
    other = history_file(examples_dir, "1.2.0").replace('"AWS RDS MySQL database instance"', '"other"')
    (tmp_path / "zz-copy.yaml").write_text(other)
    result = run(str(tmp_path))
    assert result.exit_code == 1
    assert "error [DUPLICATE_VERSION]" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give OLD NEW, a single PATH"),
        (("a", "b", "c"), "give OLD NEW, a single PATH"),
        (("--against", "HEAD", "a", "b"), "give at most one PATH"),
        (("does-not-exist",), "does not exist"),
        (("--compatibility", "lenient", "a"), "Invalid value for '--compatibility'"),
    ],
)
def test_usage_errors_exit_2(
    tmp_path: Path, args: tuple[str, ...], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("a", "b", "c"):
        (tmp_path / name).mkdir()
    monkeypatch.chdir(tmp_path)
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output


# --- --against, with real repositories made by the git CLI -------------------------------------


def git(repo: Path, *args: str) -> str:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(repo),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Platform Team",
        "GIT_AUTHOR_EMAIL": "platform-team@company.com",
        "GIT_COMMITTER_NAME": "Platform Team",
        "GIT_COMMITTER_EMAIL": "platform-team@company.com",
    }
    done = subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True)
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path, examples_dir: Path) -> Path:
    """A repository whose ``definitions/`` holds 1.0.0-1.2.0 (one commit per version) and an
    ignored ``definitions/drafts/`` directory."""
    root = tmp_path / "platform-resources"
    root.mkdir()
    git(root, "init", "--quiet", "--initial-branch=main")
    directory = root / "definitions"
    for version in HISTORY[:3]:
        write_history(directory, examples_dir, [version])
        git(root, "add", ".")
        git(root, "commit", "--quiet", "-m", f"aws-rds-mysql {version}")
    (directory / ".nestorignore").write_text("# work in progress\ndrafts/\n")
    (directory / "drafts").mkdir()
    (directory / "drafts" / "broken.yaml").write_text("apiVersion: catalog.nestor.io/v1\nkind: [\n")
    (directory / ".hidden.yaml").write_text("apiVersion: catalog.nestor.io/v1\nkind: [\n")
    git(root, "add", ".")
    git(root, "commit", "--quiet", "-m", "drafts")
    return root


def test_against_accepts_a_legal_release(repo: Path, examples_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_history(repo / "definitions", examples_dir, ["2.0.0"])
    monkeypatch.chdir(repo)
    result = run("--against", "main", "definitions")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "aws-rds-mysql 1.2.0 -> 2.0.0: declared major, required major: ok"
    assert "1 version step checked, 0 with too small a bump" in lines


def test_against_rejects_a_breaking_minor(repo: Path, examples_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / "definitions" / "aws-rds-mysql-1.3.0.yaml").write_text(breaking_minor(examples_dir))
    monkeypatch.chdir(repo / "definitions")
    result = run("--against", "HEAD")
    assert result.exit_code == 1, result.output
    assert "aws-rds-mysql 1.2.0 -> 1.3.0: declared minor, required major: bump too small" in result.output
    assert "[BUMP_TOO_SMALL]" in result.output


def test_against_reports_rewritten_and_deleted_versions(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = repo / "definitions"
    published = directory / "aws-rds-mysql-1.1.0.yaml"
    published.write_text(published.read_text().replace('"Backup retention period in days"', '"Days of backups"'))
    (directory / "aws-rds-mysql-1.0.0.yaml").unlink()
    monkeypatch.chdir(repo)
    result = run("--against", "main", "definitions", "--format", "json")
    assert result.exit_code == 1, result.output
    findings = json.loads(result.output)["findings"]
    immutable = next(f for f in findings if f["rule"] == "IMMUTABLE_VERSION")
    assert immutable["file"] == "definitions/aws-rds-mysql-1.1.0.yaml"
    assert "main:definitions/aws-rds-mysql-1.1.0.yaml:6:12" in immutable["message"]
    withdrawn = next(f for f in findings if f["rule"] == "VERSION_WITHDRAWN")
    assert withdrawn["severity"] == "info"
    assert withdrawn["file"] == "main:definitions/aws-rds-mysql-1.0.0.yaml"
    assert (withdrawn["line"], withdrawn["column"]) == (6, 12)


def test_against_earlier_commits(repo: Path, examples_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Commits: 1.0.0, 1.1.0, 1.2.0, drafts. Against HEAD~3 (only 1.0.0) both later versions are checked.
    monkeypatch.chdir(repo)
    result = run("--against", "HEAD~3", "definitions")
    assert result.exit_code == 0, result.output
    headers = [line for line in result.output.splitlines() if line.startswith("aws-rds-mysql ")]
    assert headers == [
        "aws-rds-mysql 1.0.0 -> 1.1.0: declared minor, required minor: ok",
        "aws-rds-mysql 1.1.0 -> 1.2.0: declared minor, required minor: ok",
    ]
    commit = git(repo, "rev-parse", "HEAD~2").strip()
    for ref in (commit, commit[:10], "HEAD^^", "HEAD~1^", "main~2"):
        monkeypatch.chdir(repo)
        result = run("--against", ref, "definitions")
        assert result.exit_code == 0, (ref, result.output)
        assert "1 version step checked" in result.output, ref


def test_against_a_path_missing_at_the_ref(repo: Path, examples_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_history(repo / "more", examples_dir, HISTORY[2:])
    monkeypatch.chdir(repo)
    result = run("--against", "main", "more")
    assert result.exit_code == 0, result.output
    assert "aws-rds-mysql 1.2.0 -> 2.0.0: declared major, required major: ok" in result.output


def test_against_a_single_file(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = repo / "definitions" / "aws-rds-mysql-1.2.0.yaml"
    target.write_text(target.read_text().replace("default: false", "default: true"))
    monkeypatch.chdir(repo)
    result = run("--against", "main", str(target.relative_to(repo)))
    assert result.exit_code == 1
    assert "[IMMUTABLE_VERSION]" in result.output


@pytest.mark.parametrize(
    ("ref", "message"),
    [("no-such-branch", "unknown git ref 'no-such-branch'"), ("HEAD~99", "unknown git ref 'HEAD~99'")],
)
def test_against_unknown_ref_is_a_usage_error(
    repo: Path, ref: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    result = run("--against", ref, "definitions")
    assert result.exit_code == 2
    assert message in result.output


def test_against_outside_a_repository_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    result = run("--against", "main", str(tmp_path / "plain"))
    assert result.exit_code == 2
    assert "is not inside a git repository" in result.output


def test_git_tree_walk_reads_what_the_working_tree_walk_reads(repo: Path) -> None:
    directory = repo / "definitions"
    at_ref = [result.file for result in git_tree_results(directory, "HEAD", options=LoadOptions())]
    on_disk = [f"HEAD:{path.relative_to(repo).as_posix()}" for path in discover([directory])]
    assert at_ref == on_disk
    assert at_ref == [f"HEAD:definitions/aws-rds-mysql-{version}.yaml" for version in HISTORY[:3]]


def test_real_process_on_the_examples(examples_dir: Path, tmp_path: Path) -> None:
    """The console script, as CI runs it: the spec's history in examples/ is accepted."""
    script = Path(sys.executable).parent / "nestor-catalog"
    done = subprocess.run(
        [str(script), "check-compat", str(examples_dir)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "aws-rds-mysql 1.2.0 -> 2.0.0: declared major, required major: ok" in done.stdout
    shutil.copytree(examples_dir, tmp_path / "examples", ignore=shutil.ignore_patterns("invalid"))
    (tmp_path / "examples" / "aws-rds-mysql-1.3.0.yaml").write_text(
        (examples_dir / "aws-rds-mysql-2.0.0.yaml").read_text().replace('version: "2.0.0"', 'version: "1.3.0"')
    )
    (tmp_path / "examples" / "aws-rds-mysql-2.0.0.yaml").unlink()
    done = subprocess.run(
        [str(script), "check-compat", str(tmp_path / "examples")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "aws-rds-mysql 1.2.0 -> 1.3.0: declared minor, required major: bump too small" in done.stdout
    assert "  PATTERN_CHANGED spec.required_inputs[0].validation.pattern: " in done.stdout


def test_progress_over_a_large_tree_only_on_a_terminal(tmp_path: Path) -> None:
    from tests.core.cli.test_validate import GOOD, SCRIPT
    from tests.support.terminal import run_on_a_terminal

    for index in range(210):
        (tmp_path / f"def-{index:03}.yaml").write_text(GOOD.format(name=f"cache-{index}"))
    code, terminal = run_on_a_terminal([str(SCRIPT), "check-compat", str(tmp_path)])
    assert code == 0
    assert "checking" in terminal
    assert "210/210" in terminal
    code, terminal = run_on_a_terminal([str(SCRIPT), "check-compat", str(tmp_path)], ci="1")
    assert code == 0
    assert "checking" not in terminal
