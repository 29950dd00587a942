"""The command group (lazy core commands, entry-point plugins) and schema, inputs-schema, rules."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from nestor_catalog_core.cli import main
from nestor_catalog_core.cli._group import CORE_COMMANDS, ENTRY_POINT_GROUP, LazyGroup
from nestor_catalog_core.validation import RULES, definition_json_schema, inputs_json_schema, validate_data
from nestor_catalog_core.versions import RULES as CHANGE_RULES
from tests.core.validation.builders import definition

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"


def invoke(*args: str) -> click.testing.Result:
    return CliRunner().invoke(main, list(args))


def test_help_lists_core_commands() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for name in ("validate", "schema", "inputs-schema", "rules", "check-compat"):
        assert name in result.output
    assert set(CORE_COMMANDS) <= set(LazyGroup(name="x").list_commands(click.Context(main)))


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.output.startswith("nestor-catalog, version ")


def test_missing_core_module_says_so_cleanly() -> None:
    group = LazyGroup(name="t", core={"ghost": "nestor_catalog_core.cli.no_such_module:ghost"})
    result = CliRunner().invoke(group, ["ghost", "--any", "args"])
    assert result.exit_code == 2
    assert "nestor-catalog ghost: this command is not available in this installation" in result.output
    assert "No module named 'nestor_catalog_core.cli.no_such_module'" in result.output
    help_text = CliRunner().invoke(group, ["--help"]).output
    assert "ghost  (unavailable in this installation)" in help_text


def test_target_that_is_not_a_command_is_unavailable() -> None:
    group = LazyGroup(name="t", core={"bad": "nestor_catalog_core.cli._output:EXIT_OK"})
    result = CliRunner().invoke(group, ["bad"])
    assert result.exit_code == 2
    assert "is not a click command" in result.output


def test_plugins_load_from_the_entry_point_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "nestor_test_plugin.py").write_text(
        textwrap.dedent(
            """
            import click

            @click.command()
            @click.argument("who")
            def hello(who):
                \"\"\"Say hello.\"\"\"
                click.echo(f"hello {who}")
            """
        )
    )
    dist = tmp_path / "nestor_test_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: nestor-test-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nhello = nestor_test_plugin:hello\nvalidate = nestor_test_plugin:hello\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    group = LazyGroup(name="t")
    assert "hello" in group.list_commands(click.Context(group))
    result = CliRunner().invoke(group, ["hello", "world"])
    assert result.exit_code == 0
    assert result.output == "hello world\n"
    core_wins = CliRunner().invoke(group, ["validate", str(EXAMPLES / "aws-rds-mysql-1.2.0.yaml")])
    assert core_wins.exit_code == 0
    assert "1 file, 1 definition" in core_wins.output


def test_schema_prints_the_definition_schema() -> None:
    result = invoke("schema")
    assert result.exit_code == 0
    assert json.loads(result.output) == definition_json_schema()
    assert result.output.startswith('{\n  "$schema"')
    compact = invoke("schema", "--indent", "0")
    assert compact.output.count("\n") == 1


def test_inputs_schema_prints_the_inputs_schema() -> None:
    path = EXAMPLES / "aws-rds-mysql-1.2.0.yaml"
    result = invoke("inputs-schema", str(path))
    assert result.exit_code == 0
    definition_ = validate_data(json.loads(json.dumps(_load(path)))).definition
    assert definition_ is not None
    assert json.loads(result.output) == inputs_json_schema(definition_)
    assert json.loads(result.output)["required"] == ["instance_class", "allocated_storage"]


def _load(path: Path) -> dict[str, object]:
    from nestor_catalog_core.loading import load_file

    return load_file(path).documents[0].data  # type: ignore[no-any-return]


def test_inputs_schema_of_an_invalid_file_prints_findings_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(definition(metadata__name="Bad")))
    result = CliRunner().invoke(main, ["inputs-schema", str(bad)])
    assert result.exit_code == 1
    assert "[NAME_FORMAT] metadata.name" in result.output


def test_inputs_schema_needs_a_name_when_a_file_holds_several() -> None:
    path = EXAMPLES / "kubernetes-redis.yaml"
    ambiguous = invoke("inputs-schema", str(path))
    assert ambiguous.exit_code == 2
    assert "holds 2 definitions; choose one with --name" in ambiguous.output
    assert "kubernetes-redis 1.0.0, kubernetes-redis 2.0.0" in ambiguous.output
    unknown = invoke("inputs-schema", str(path), "--name", "nope")
    assert unknown.exit_code == 2
    assert "no definition named 'nope'" in unknown.output


def test_inputs_schema_picks_by_name(tmp_path: Path) -> None:
    first = (EXAMPLES / "aws-sqs-queue-1.0.0.yaml").read_text()
    second = (EXAMPLES / "aws-vpc-2.1.0.yaml").read_text()
    path = tmp_path / "two.yaml"
    path.write_text(first + "---\n" + second)
    result = invoke("inputs-schema", str(path), "--name", "aws-vpc")
    assert result.exit_code == 0
    assert json.loads(result.output)["title"] == "Inputs of aws-vpc 2.1.0"


def test_inputs_schema_usage_error_for_a_directory() -> None:
    result = invoke("inputs-schema", str(EXAMPLES))
    assert result.exit_code == 2


def test_rules_lists_every_rule() -> None:
    result = invoke("rules")
    assert result.exit_code == 0
    for rule_id in RULES:
        assert f"\n{rule_id} " in "\n" + result.output
    assert "fix: Quote the key." in result.output


def test_rules_as_json_and_by_layer() -> None:
    rows = json.loads(invoke("rules", "--format", "json").output)
    assert [row["rule"] for row in rows][: len(RULES)] == list(RULES)
    compatibility = {row["rule"]: row for row in rows if row["layer"] == "compatibility"}
    assert set(compatibility) == {
        *CHANGE_RULES,
        "BUMP_TOO_SMALL",
        "VERSION_NOT_INCREASED",
        "IMMUTABLE_VERSION",
        "VERSION_WITHDRAWN",
    }
    assert compatibility["PATTERN_CHANGED"]["summary"].startswith("A change that needs at least a major version bump")
    assert set(rows[0]) == {"rule", "severity", "layer", "summary", "fix"}
    inputs_only = json.loads(invoke("rules", "--format", "json", "--layer", "inputs").output)
    assert {row["layer"] for row in inputs_only} == {"inputs"}
    assert "INPUT_REQUIRED" in {row["rule"] for row in inputs_only}


def test_serve_on_a_core_only_install_says_which_extra_to_install() -> None:
    # The server's dependencies made unimportable, as on `pip install nestor-catalog` without [server].
    probe = (
        "import sys\n"
        "for name in ('litestar', 'granian', 'jinja2'):\n"
        "    sys.modules[name] = None\n"
        "from nestor_catalog_core.cli import main\n"
        "main(['serve', '--port', '0'])\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 2
    assert "nestor-catalog serve: this command is not available in this installation" in result.stderr
    assert "needs the server extra" in result.stderr
    assert "pip install 'nestor-catalog[server]'" in result.stderr
    assert "Traceback" not in result.stderr
