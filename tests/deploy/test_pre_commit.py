"""The pre-commit hooks of ``.pre-commit-hooks.yaml``, run by the real ``pre-commit`` (PyPI)
against temporary git repositories: ``pre-commit try-repo`` installs this repository as a hook
repository (a fresh virtualenv, pip-installed from the checkout) exactly as a consumer's
``.pre-commit-config.yaml`` would."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.git import GitRepo, git, git_env

ROOT = Path(__file__).resolve().parents[2]
PRE_COMMIT = Path(sys.executable).parent / "pre-commit"
BAD = "apiVersion: catalog.nestor.io/v1\nkind: ResourceDefinition\nmetadata:\n  name: Bad_Name\n"


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("pre-commit-home")
    yield home
    shutil.rmtree(home, ignore_errors=True)


def pre_commit(repo: GitRepo, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = git_env({"PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never"})
    return subprocess.run(
        [str(PRE_COMMIT), *args], cwd=repo.path, env=env, capture_output=True, text=True, timeout=900, check=False
    )


def mysql(examples_dir: Path, version: str) -> str:
    return (examples_dir / f"aws-rds-mysql-{version}.yaml").read_text()


@pytest.fixture
def consumer(tmp_path: Path, examples_dir: Path) -> GitRepo:
    """A definitions repository: aws-rds-mysql 1.2.0 committed, a notes file that is not a
    definition, a .nestorignore'd fixture that would fail validation."""
    repo = GitRepo.init(tmp_path / "definitions")
    repo.write("defs/aws-rds-mysql-1.2.0.yaml", mysql(examples_dir, "1.2.0"))
    repo.write("defs/fixtures/broken.yaml", BAD)
    repo.write(".nestorignore", "fixtures/\n")
    repo.write("notes.md", "# notes\n")
    repo.commit("1.2.0")
    return repo


def test_manifest_declares_both_hooks() -> None:
    hooks = {hook["id"]: hook for hook in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) == {"nestor-catalog-validate", "nestor-catalog-check-compat"}
    assert hooks["nestor-catalog-check-compat"]["args"] == ["--against", "HEAD", "."]
    assert hooks["nestor-catalog-check-compat"]["pass_filenames"] is False


def test_try_repo_passes_good_files_and_fails_bad_ones_at_file_line_col(
    consumer: GitRepo, pre_commit_home: Path, examples_dir: Path
) -> None:
    consumer.write("defs/aws-rds-mysql-2.0.0.yaml", mysql(examples_dir, "2.0.0"))
    consumer.run("add", "-A")
    good = pre_commit(consumer, pre_commit_home, "try-repo", str(ROOT))
    assert good.returncode == 0, good.stdout + good.stderr
    assert "nestor-catalog validate" in good.stdout
    assert "nestor-catalog check-compat" in good.stdout

    consumer.write("defs/bad.yaml", BAD)
    breaking = mysql(examples_dir, "2.0.0").replace('version: "2.0.0"', 'version: "1.3.0"')
    consumer.write("defs/aws-rds-mysql-1.3.0.yaml", breaking)
    consumer.run("add", "-A")
    bad = pre_commit(consumer, pre_commit_home, "try-repo", str(ROOT))
    assert bad.returncode == 1
    out = bad.stdout
    assert "defs/bad.yaml:4:9: error [NAME_FORMAT] metadata.name:" in out
    assert "broken.yaml" not in out  # .nestorignore applies to the files pre-commit passes
    assert "defs/aws-rds-mysql-1.3.0.yaml:24:18: error [PATTERN_CHANGED]" in out
    assert "BUMP_TOO_SMALL" in out


def test_check_compat_ref_is_configurable(
    consumer: GitRepo, pre_commit_home: Path, tmp_path: Path, examples_dir: Path
) -> None:
    # A hook repository at a fixed revision: this checkout's tracked files, committed as they are.
    hooks_repo = GitRepo.init(tmp_path / "hooks")
    files = git("ls-files", "-z", cwd=ROOT).split("\0")
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file() and not source.is_symlink():
            target = hooks_repo.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    rev = hooks_repo.commit("hooks")
    # The base branch holds 1.2.0; the feature branch commits a breaking 1.3.0 (HEAD has it, so
    # the default --against HEAD sees nothing new; against main it is a too-small bump).
    consumer.run("branch", "base")
    breaking = mysql(examples_dir, "2.0.0").replace('version: "2.0.0"', 'version: "1.3.0"')
    consumer.write("defs/aws-rds-mysql-1.3.0.yaml", breaking)
    consumer.commit("1.3.0")
    config = {
        "repos": [
            {
                "repo": str(hooks_repo.path),
                "rev": rev,
                "hooks": [{"id": "nestor-catalog-check-compat", "args": ["--against", "base", "defs"]}],
            }
        ]
    }
    consumer.write(".pre-commit-config.yaml", yaml.safe_dump(config))
    result = pre_commit(consumer, pre_commit_home, "run", "--all-files")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "defs/aws-rds-mysql-1.3.0.yaml:24:18: error [PATTERN_CHANGED]" in result.stdout
    assert "aws-rds-mysql 1.2.0 -> 1.3.0: declared minor, required major: bump too small" in result.stdout
