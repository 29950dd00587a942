"""``nestor-catalog validate`` imports only what checking definitions needs (start-up, issue 13).

Each case runs the command in a new interpreter, as the console script does, and lists the
modules loaded when it exits. The server, the client, their network, storage and telemetry
stacks, jsonschema, pydantic itself (the views of ``models._views`` stand in for the models),
pydantic-core's package (its compiled extension is loaded alone, ``models._extension``: the
package's ``__init__`` builds ``core_schema`` and imports ``typing_extensions``), the catalog,
storage, search, events and versions packages (but for the SARIF rule table and
a ``name@constraint`` replacement), ``importlib.metadata`` (plugin discovery), ``pathspec``
(only with a ``.nestorignore``) and, for a YAML file, the JSON loader (``json`` too, in the text
and github formats) must not be among them; nor click, when the console script parses the
arguments itself (``cli._console``). The benchmark
``bench_validate.startup_row`` times the same command.
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

#: Top-level packages (and their submodules) the command must not import.
HEAVY = (
    "pydantic",
    "litestar",
    "granian",
    "httpx",
    "httpcore",
    "boto3",
    "botocore",
    "redis",
    "opentelemetry",
    "dulwich",
    "jsonschema",
    "sqlite3",
    "semver",
    "pathspec",
    "nestor_catalog_server",
    "nestor_catalog_client",
    "nestor_catalog_core.catalog",
    "nestor_catalog_core.storage",
    "nestor_catalog_core.search",
    "nestor_catalog_core.events",
    "nestor_catalog_core.versions",
    "nestor_catalog_core.models.definition",
    "importlib.metadata",
    "pydantic_core.core_schema",
    "typing_extensions",
)
#: Packages whose ``__init__`` must not run, though a submodule of theirs is loaded on its own.
NOT_RUN = ("pydantic_core",)

#: Runs ``main`` (the click group) or ``console`` (the console script; the ``atexit`` callback
#: keeps the interpreter's normal exit, see ``_console``, so the modules can be listed
#: afterwards). The arguments come as they are and json is imported after the run: whether
#: the command imports it is part of what is checked.
PROBE = """
import atexit, sys
from nestor_catalog_core import cli
entry = sys.argv[1]
if entry == "console":
    atexit.register(lambda: None)
sys.argv = ["nestor-catalog", *sys.argv[2:]]
try:
    getattr(cli, entry)()
except SystemExit as exit:
    code = exit.code
modules = sorted(sys.modules)
import json
print(json.dumps({"code": code, "modules": modules}))
"""


def _run(*args: str, cwd: Path = ROOT, entry: str = "main") -> tuple[int, list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, entry, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=cwd,
    )
    result = json.loads(done.stdout.splitlines()[-1])
    return result["code"], result["modules"]


#: What the versions package needs (``semver``): the SARIF rule table lists the compatibility
#: rules of ``versions.compat``, and a deprecation's ``name@constraint`` is parsed.
VERSIONS = ("nestor_catalog_core.versions", "semver")


def _heavy(modules: list[str], *, allowed: tuple[str, ...] = ()) -> list[str]:
    def under(name: str, packages: tuple[str, ...]) -> bool:
        return any(name == package or name.startswith(package + ".") for package in packages)

    return [name for name in modules if (name in NOT_RUN or under(name, HEAVY)) and not under(name, allowed)]


@pytest.mark.parametrize("fmt", ["text", "json", "github", "sarif", "junit"])
def test_validating_a_clean_file_imports_nothing_heavy(fmt: str) -> None:
    code, modules = _run("validate", str(CLEAN), "--format", fmt)
    assert code == 0
    assert "nestor_catalog_core.models._views" in modules  # the file was validated, through views
    assert "pydantic_core._pydantic_core" in modules  # by pydantic-core's extension alone
    assert "nestor_catalog_core.loading._json" not in modules  # a YAML file needs no JSON loader
    if fmt in ("text", "github"):
        assert "json" not in modules  # only the json, sarif and junit reports write JSON
    assert _heavy(modules, allowed=VERSIONS if fmt == "sarif" else ()) == []
    if fmt != "sarif":
        assert _heavy(modules, allowed=()) == []


@pytest.mark.parametrize("fmt", ["text", "json", "github", "sarif", "junit"])
def test_the_console_script_validates_without_click(fmt: str) -> None:
    code, modules = _run("validate", str(CLEAN), "--format", fmt, entry="console")
    assert code == 0
    assert "nestor_catalog_core.models._views" in modules
    assert [name for name in modules if name == "click" or name.startswith("click.")] == []
    assert "nestor_catalog_core.cli._group" not in modules
    assert _heavy(modules, allowed=VERSIONS if fmt == "sarif" else ()) == []


def test_the_console_script_leaves_other_argument_lists_to_click() -> None:
    code, modules = _run("validate", str(CLEAN), "--no-strict", "--no-strict", entry="console")
    assert code == 0
    assert "click" in modules
    assert _heavy(modules) == []


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("structure-errors.yaml", ()),
        ("metadata-policies.yaml", VERSIONS),  # its replacement is name@constraint
        ("input-policies.yaml", ()),
        ("limits.yaml", ()),
    ],
)
def test_validating_a_broken_file_imports_nothing_heavy(name: str, allowed: tuple[str, ...]) -> None:
    code, modules = _run("validate", str(EXAMPLES / "invalid" / name), "--no-strict")
    assert code == 1
    assert _heavy(modules, allowed=allowed) == []


def test_lax_types_import_nothing_heavy(tmp_path: Path) -> None:
    drifted = CLEAN.read_text().replace('version: "1.0.0"', "version: 1.0.0", 1)
    (tmp_path / "drifted.yaml").write_text(drifted)
    code, modules = _run("validate", str(tmp_path), "--no-schema", "--no-policies")
    assert code in (0, 1)
    assert _heavy(modules) == []


def test_pathspec_is_imported_for_a_nestorignore_only(tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text(CLEAN.read_text())
    (tmp_path / "skipped.yaml").write_text("not: [a definition")
    (tmp_path / ".nestorignore").write_text("skipped.yaml\n")
    code, modules = _run("validate", str(tmp_path))
    assert code == 0
    assert "pathspec" in modules
    # pathspec imports typing_extensions itself (for ``deprecated``).
    assert _heavy([name for name in modules if not name.startswith("pathspec")], allowed=("typing_extensions",)) == []


def test_a_duplicate_version_builds_the_models_for_its_digest(tmp_path: Path) -> None:
    # The one cold path that needs pydantic: comparing the contents of two copies.
    (tmp_path / "a.yaml").write_text(CLEAN.read_text())
    (tmp_path / "b.yaml").write_text(CLEAN.read_text())
    code, modules = _run("validate", str(tmp_path), "--fail-on", "warning")
    assert code == 1
    assert "nestor_catalog_core.models.definition" in modules
    assert "nestor_catalog_server" not in modules


SAME_CLASSES = """
import json, sys
from nestor_catalog_core.models import _extension
from nestor_catalog_core.models._views import validate_view
try:
    validate_view({"kind": "ResourceDefinition"})
except _extension.ValidationError as exc:
    from_view = exc
alone = "pydantic_core._pydantic_core" in sys.modules and "pydantic_core" not in sys.modules
import pydantic_core
from nestor_catalog_core.models import ResourceDefinition
try:
    ResourceDefinition.model_validate({"kind": "ResourceDefinition"})
except _extension.ValidationError as exc:
    from_model = exc
print(json.dumps({
    "alone": alone,
    "same": [
        _extension.ValidationError is pydantic_core.ValidationError,
        _extension.SchemaValidator is pydantic_core.SchemaValidator,
        _extension.PydanticCustomError is pydantic_core.PydanticCustomError,
        isinstance(from_view, pydantic_core.ValidationError),
    ],
    "errors": [from_view.error_count(), from_model.error_count()],
}))
"""


def test_the_extension_loaded_alone_is_the_one_pydantic_core_exports() -> None:
    # Views first, models later (a duplicate version): pydantic-core's package then re-exports
    # the extension already loaded, so one ValidationError class catches both.
    done = subprocess.run(
        [sys.executable, "-c", SAME_CLASSES], capture_output=True, text=True, timeout=120, check=True, cwd=ROOT
    )
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["alone"] is True
    assert result["same"] == [True, True, True, True]
    assert result["errors"][0] == result["errors"][1] > 0
