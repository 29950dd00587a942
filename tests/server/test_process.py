from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import Litestar

from nestor_catalog_core import _collector as collector
from nestor_catalog_server.process import GEN0_THRESHOLD, tune_gc
from nestor_catalog_server.runner import worker_app
from tests.server.api.conftest import make_settings


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    saved, allowed = gc.get_threshold(), collector.pauses_allowed()
    yield saved
    gc.set_threshold(*saved)
    collector.allow_pauses(allowed)


def test_tune_gc_raises_only_the_young_threshold(thresholds: tuple[int, int, int]) -> None:
    gc.set_threshold(700, 10, 10)
    tune_gc()
    assert gc.get_threshold() == (GEN0_THRESHOLD, 10, 10)
    gc.set_threshold(GEN0_THRESHOLD * 2, 10, 10)
    tune_gc()
    assert gc.get_threshold() == (GEN0_THRESHOLD * 2, 10, 10)


def test_the_server_worker_tunes_the_collector(thresholds: tuple[int, int, int], tmp_path: Path) -> None:
    """``nestor-catalog serve`` builds the app in granian's worker through ``worker_app``: the
    worker holds the catalog, so it is the process whose collector must be tuned."""
    gc.set_threshold(700, 10, 10)
    app = worker_app(make_settings(tmp_path))
    assert isinstance(app, Litestar)
    assert gc.get_threshold() == (GEN0_THRESHOLD, 10, 10)


def test_tune_gc_lets_bulk_work_pause_the_collector(thresholds: tuple[int, int, int]) -> None:
    collector.allow_pauses(False)
    tune_gc()
    assert collector.pauses_allowed()


_PARENT_IMPORTS = """
import sys
from nestor_catalog_core.cli import main  # the nestor-catalog entry point
from nestor_catalog_server.cli.serve import serve
from nestor_catalog_server.config import load_settings
from nestor_catalog_server.runner import check_startable, granian_options
settings = load_settings(None)
check_startable(settings)
granian_options(settings)
heavy = ("litestar", "nestor_catalog_server.app", "nestor_catalog_core.catalog", "nestor_catalog_core.search")
print(",".join(name for name in heavy if name in sys.modules))
"""


def test_the_serve_parent_process_imports_no_app_and_no_catalog(tmp_path: Path) -> None:
    """granian's parent reads the configuration, checks it and forks: the app, Litestar and the
    catalog are imported by the worker only (the parent's memory counts again in the group)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("NESTOR_CATALOG")}
    env["DATA_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", _PARENT_IMPORTS], env=env, capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert done.stdout.strip() == ""
