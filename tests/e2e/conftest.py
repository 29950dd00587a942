"""End-to-end fixtures: the real ``nestor-catalog serve`` process (granian) on a free port,
SQLite storage, syncing a copy of the examples as a local directory source."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.server import ServerHandle, run_server

pytestmark = pytest.mark.e2e


def copy_examples(examples_dir: Path, target: Path) -> Path:
    """The valid examples (``invalid/`` left out) copied to ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(examples_dir.iterdir()):
        if path.is_file() and path.suffix in {".yaml", ".yml", ".json"}:
            shutil.copy(path, target / path.name)
    return target


def example_names(examples_dir: Path) -> set[str]:
    """The resource names the valid examples define."""
    names = set()
    for path in examples_dir.iterdir():
        if path.is_file() and path.suffix in {".yaml", ".yml", ".json"}:
            names.update(document["metadata"]["name"] for document in yaml.safe_load_all(path.read_text()) if document)
    return names


def examples_config(folder: Path, workdir: Path, **sections: Any) -> dict[str, Any]:
    """SQLite under ``workdir``, JSON logs, the examples in ``folder`` as a local directory source."""
    config: dict[str, Any] = {
        "service": {"data_dir": str(workdir / "data")},
        "logging": {"format": "json", "level": "info"},
        "storage": {"type": "sqlite", "sqlite": {"synchronous": "normal"}},
        "git": {"directories": [{"name": "examples", "path": str(folder), "debounce": "50ms"}]},
    }
    for key, value in sections.items():
        config[key] = {**config.get(key, {}), **value}
    return config


@pytest.fixture(scope="module")
def examples_server(examples_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    """One server per module, serving the examples; tests that only read share it."""
    workdir = tmp_path_factory.mktemp("examples-server")
    folder = copy_examples(examples_dir, workdir / "examples")
    with run_server(examples_config(folder, workdir), workdir=workdir) as server:
        server.wait_ready()
        yield server
