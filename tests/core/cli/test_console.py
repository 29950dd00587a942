"""The console script (``nestor_catalog_core.cli:console``): ``main``, and after ``validate`` an exit
that skips tearing the interpreter down, with the same output and exit status.

Each case runs ``console`` in a new interpreter beside an object that says so when the
interpreter frees it at exit (the teardown ``validate`` skips) and, in some cases, an ``atexit``
callback (which must always run).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

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
