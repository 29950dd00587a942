"""``make dist`` builds what the README's install lines install: an sdist and a wheel with the
three packages, their ``py.typed`` markers, the console script and the server's commands, and
the extras; the wheel's code runs as installed (``pip install --no-deps --target``, the
dependencies from this environment)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

MAKE = shutil.which("make") or "make"
VERSION = next(
    line.split('"')[1] for line in (ROOT / "pyproject.toml").read_text().splitlines() if line.startswith("version = ")
)


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist") / "dist"
    subprocess.run([MAKE, "--no-print-directory", "dist", f"DIST={out}"], cwd=ROOT, check=True, capture_output=True)
    return out


def test_dist_holds_an_sdist_and_a_wheel(dist: Path) -> None:
    assert sorted(path.name for path in dist.iterdir()) == [
        f"nestor_catalog-{VERSION}-py3-none-any.whl",
        f"nestor_catalog-{VERSION}.tar.gz",
    ]
    with tarfile.open(dist / f"nestor_catalog-{VERSION}.tar.gz") as sdist:
        names = set(sdist.getnames())
    assert f"nestor_catalog-{VERSION}/pyproject.toml" in names
    assert f"nestor_catalog-{VERSION}/README.md" in names


def test_the_wheel_has_the_packages_scripts_and_extras(dist: Path) -> None:
    with zipfile.ZipFile(dist / f"nestor_catalog-{VERSION}-py3-none-any.whl") as wheel:
        names = set(wheel.namelist())
        info = f"nestor_catalog-{VERSION}.dist-info"
        entry_points = wheel.read(f"{info}/entry_points.txt").decode()
        metadata = wheel.read(f"{info}/METADATA").decode()
    for package in ("nestor_catalog_core", "nestor_catalog_server", "nestor_catalog_client"):
        assert f"{package}/__init__.py" in names
        assert f"{package}/py.typed" in names
    assert not any(name.startswith(("tests/", "benchmarks/")) for name in names)
    assert "nestor-catalog = nestor_catalog_core.cli:console" in entry_points
    assert "serve = nestor_catalog_server.cli.serve:serve" in entry_points
    for extra in ("server", "client", "dynamodb", "redis", "otel"):
        assert f"Provides-Extra: {extra}" in metadata


def test_the_installed_wheel_validates_the_examples(dist: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    wheel = dist / f"nestor_catalog-{VERSION}-py3-none-any.whl"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    probe = (
        "import nestor_catalog_core, sys\n"
        f"assert nestor_catalog_core.__file__.startswith({str(target)!r}), nestor_catalog_core.__file__\n"
        "from nestor_catalog_core.cli import main\n"
        "main(['validate', sys.argv[1]])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(ROOT / "examples")], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 errors" in result.stdout
