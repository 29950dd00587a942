"""``nestor-catalog diff OLD NEW``: the compatibility engine's report for two files, in every
format, with ``git diff``'s exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from nestor_catalog_core.cli import main
from nestor_catalog_core.loading import load_file
from nestor_catalog_core.validation import validate_document
from nestor_catalog_core.versions import compare


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, ["diff", *map(str, args)])


def mysql(examples_dir: Path, version: str) -> Path:
    return examples_dir / f"aws-rds-mysql-{version}.yaml"


def test_text_lists_each_change_with_rule_field_values_and_bump(examples_dir: Path) -> None:
    result = run(mysql(examples_dir, "1.1.0"), mysql(examples_dir, "1.2.0"))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "aws-rds-mysql 1.1.0 -> 1.2.0: declared minor, required minor: ok",
        "  ENGINE_CONFIG_CHANGED spec.engine_configs.crossplane.version: v1.1.0 -> v1.2.0 (needs patch)",
        "  OPTIONAL_INPUT_ADDED spec.optional_inputs[1]: (none) -> multi_az (needs minor)",
        "2 changes, the largest needs a minor bump",
    ]


def test_json_is_the_reports_dict_as_the_api_answers(examples_dir: Path) -> None:
    old, new = mysql(examples_dir, "1.2.0"), mysql(examples_dir, "2.0.0")
    result = run(old, new, "--format", "json")
    assert result.exit_code == 0
    definitions = [validate_document(load_file(p).documents[0]).definition for p in (old, new)]
    assert definitions[0] is not None
    assert definitions[1] is not None
    assert json.loads(result.output) == compare(definitions[0], definitions[1]).to_dict()


def test_github_annotates_news_lines_and_errors_on_a_too_small_bump(tmp_path: Path, examples_dir: Path) -> None:
    smuggled = tmp_path / "1.3.0.yaml"
    smuggled.write_text(mysql(examples_dir, "2.0.0").read_text().replace('version: "2.0.0"', 'version: "1.3.0"'))
    result = run(mysql(examples_dir, "1.2.0"), smuggled, "--format", "github")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    pattern = next(line for line in lines if "title=PATTERN_CHANGED" in line)
    assert pattern.startswith(f"::error file={smuggled},line=24,col=18,")
    assert any(line.startswith("::notice ") and "DESCRIPTION_CHANGED" in line for line in lines)
    assert any("title=BUMP_TOO_SMALL" in line for line in lines)


def test_exit_code_flag_reports_changes_like_git_diff(examples_dir: Path) -> None:
    same = mysql(examples_dir, "1.2.0")
    assert run(same, same, "--exit-code").exit_code == 0
    assert run(same, same).output.splitlines()[-1] == "no changes"
    assert run(mysql(examples_dir, "1.1.0"), same, "--exit-code").exit_code == 1


def test_two_different_definitions_are_a_usage_error(examples_dir: Path) -> None:
    result = run(mysql(examples_dir, "1.2.0"), examples_dir / "aws-vpc-2.1.0.yaml")
    assert result.exit_code == 2
    assert "'aws-rds-mysql'" in result.output
    assert "'aws-vpc'" in result.output


def test_a_broken_file_prints_its_findings_and_exits_1(tmp_path: Path, examples_dir: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: catalog.nestor.io/v1\nkind: ResourceDefinition\nmetadata: [\n")
    result = run(mysql(examples_dir, "1.2.0"), broken)
    assert result.exit_code == 1
    assert f"{broken}:4:1: error [YAML_SYNTAX]" in result.output


def test_name_chooses_in_a_multi_document_file(tmp_path: Path, examples_dir: Path) -> None:
    both = tmp_path / "both.yaml"
    both.write_text(
        mysql(examples_dir, "1.0.0").read_text() + "\n---\n" + (examples_dir / "aws-vpc-2.1.0.yaml").read_text()
    )
    ambiguous = run(both, mysql(examples_dir, "1.1.0"))
    assert ambiguous.exit_code == 2
    assert "choose one with --name" in ambiguous.output
    chosen = run(both, mysql(examples_dir, "1.1.0"), "--name", "aws-rds-mysql")
    assert chosen.exit_code == 0, chosen.output
    assert chosen.output.startswith("aws-rds-mysql 1.0.0 -> 1.1.0")
