"""The console script (``nestor_catalog_core.cli:console``): ``validate`` without click for the
argument lists it parses itself (exactly what click would call the command with), the click
group for the rest, and after ``validate`` an exit that skips tearing the interpreter down,
with the same output and exit status.

The exit cases run ``console`` in a new interpreter beside an object that says so when the
interpreter frees it at exit (the teardown ``validate`` skips) and, in some cases, an ``atexit``
callback (which must always run).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nestor_catalog_core.cli._console import validate_arguments
from nestor_catalog_core.cli.validate import validate

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"
CLEAN = EXAMPLES / "aws-rds-mysql-1.0.0.yaml"
SCRIPT = Path(sys.executable).parent / "nestor-catalog"

PROBE = """
import atexit, sys

class Witness:
    def __del__(self):
        sys.__stderr__.write("torn down\\n")

witness = Witness()
if sys.argv[1] == "atexit":
    atexit.register(lambda: sys.__stderr__.write("atexit ran\\n"))
sys.argv = ["nestor-catalog", *sys.argv[2:]]
from nestor_catalog_core.cli import console
console()
"""


def _console(*args: str, atexit: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROBE, "atexit" if atexit else "-", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("validate", str(CLEAN)), 0),
        (("validate", str(EXAMPLES / "invalid" / "structure-errors.yaml")), 1),
        (("validate", "/no/such"), 2),
    ],
)
def test_validate_exits_without_the_teardown(args: tuple[str, ...], code: int) -> None:
    done = _console(*args)
    assert done.returncode == code
    assert "torn down" not in done.stderr
    if code == 2:
        assert "does not exist" in done.stderr
    else:
        assert "1 file, 1 definition" in done.stdout  # flushed before the exit


def test_a_large_report_arrives_whole() -> None:
    done = _console("validate", str(EXAMPLES / "invalid"), "--format", "json")
    assert done.returncode == 1
    assert len(json.loads(done.stdout)["findings"]) > 50


def test_other_commands_and_atexit_callbacks_get_the_normal_exit() -> None:
    rules = _console("rules")
    assert rules.returncode == 0
    assert "torn down" in rules.stderr
    version = _console("--version")
    assert version.returncode == 0
    assert "torn down" in version.stderr
    validate = _console("validate", str(CLEAN), atexit=True)
    assert validate.returncode == 0
    assert "atexit ran" in validate.stderr
    assert "torn down" in validate.stderr


def test_the_installed_script_runs_console() -> None:
    assert "from nestor_catalog_core.cli import console" in SCRIPT.read_text()
    done = subprocess.run([str(SCRIPT), "validate", str(CLEAN)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    assert done.stdout.endswith("1 file, 1 definition: 0 errors, 0 warnings, 0 notices\n")


def _click_params(args: list[str]) -> dict[str, Any] | None:
    """What click calls ``validate`` with for ``args``, or None when it refuses them."""
    try:
        with validate.make_context("validate", list(args)) as ctx:
            return dict(ctx.params)
    except (click.ClickException, click.exceptions.Exit):
        return None


MISSING = str(ROOT / "no-such-file.yaml")
TOKENS = [
    str(CLEAN),
    str(EXAMPLES / "invalid"),
    MISSING,
    "relative/missing.yaml",
    "--format",
    "--format=json",
    "--format=",
    "json",
    "sarif",
    "JSON",
    "--fail-on",
    "--fail-on=warning",
    "warning",
    "error",
    "Error",
    "--no-strict",
    "--no-strict=1",
    "--no-schema",
    "--no-policies",
    "--force-exclude",
    "--allow-empty",
    "--max-file-size",
    "--max-file-size=1MB",
    "2MiB",
    "512kib",
    "0",
    "1_000",
    "--sunset-warning-days",
    "--sunset-warning-days=0",
    "7",
    "07",
    "-1",
    "+5",
    "\u0663",  # ARABIC-INDIC DIGIT THREE: int() takes it, the fast path leaves it to click
    "--",
    "-",
    "-h",
    "--help",
    "--unknown",
    "--form",
]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=8))
def test_the_fast_path_calls_validate_as_click_would(args: list[str]) -> None:
    fast = validate_arguments(["validate", *args])
    if fast is not None:
        assert _click_params(args) == dict(fast)


@pytest.mark.parametrize(
    "args",
    [
        [str(CLEAN)],
        [str(CLEAN), str(EXAMPLES / "invalid"), "--format", "json"],
        ["--format=sarif", str(CLEAN), "--fail-on", "warning", "--no-strict"],
        [str(CLEAN), "--max-file-size", "2MiB", "--sunset-warning-days", "0", "--allow-empty", "--force-exclude"],
        ["--no-schema", "--no-policies", str(CLEAN), "--max-file-size=1048576", "--sunset-warning-days=90"],
    ],
)
def test_the_common_argument_lists_take_the_fast_path(args: list[str]) -> None:
    fast = validate_arguments(["validate", *args])
    assert fast is not None
    assert _click_params(args) == dict(fast)


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["rules"],
        ["--version"],
        ["validate"],
        ["validate", "--help"],
        ["validate", MISSING],
        ["validate", str(CLEAN), "--format", "xml"],
        ["validate", str(CLEAN), "--format"],
        ["validate", str(CLEAN), "--no-strict", "--no-strict"],
        ["validate", "--", str(CLEAN)],
    ],
)
def test_everything_else_goes_to_click(args: list[str]) -> None:
    assert validate_arguments(args) is None
