"""``nestor-catalog sync`` as users run it: a real process over a real configuration file, a
repository served by ``git daemon`` and a SQLite store."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nestor_catalog_core import Catalog, SQLiteStore
from tests.server.sync.definitions import YAML_SYNTAX_ERROR, definition
from tests.support.git import ServedRepo, free_port, git_daemon
from tests.support.terminal import run_on_a_terminal

NESTOR_CATALOG = str(Path(sys.executable).with_name("nestor-catalog"))


@pytest.fixture(scope="module")
def served_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli-served")


@pytest.fixture(scope="module")
def daemon_url(served_root: Path) -> Iterator[str]:
    with git_daemon(served_root) as url:
        yield url


@pytest.fixture(scope="module")
def platform_url(served_root: Path, daemon_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    repo = ServedRepo.create(served_root, tmp_path_factory.mktemp("cli-work"), "platform.git")
    repo.work.write("resources/bucket.yaml", definition("bucket"))
    repo.work.write("resources/queue.yaml", definition("queue", "2.0.0"))
    repo.work.write("resources/broken.yaml", YAML_SYNTAX_ERROR)
    repo.publish("seed")
    return repo.url(daemon_url)


def write_config(tmp_path: Path, *repositories: tuple[str, str]) -> Path:
    lines = [
        "service:",
        f"  data_dir: {tmp_path / 'data'}",
        "logging:",
        "  format: json",
        "storage:",
        "  type: sqlite",
        "git:",
        "  repositories:",
    ]
    for name, url in repositories:
        lines += [f"    - name: {name}", f"      url: {url}", "      path: resources"]
    path = tmp_path / "catalog.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_sync(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([NESTOR_CATALOG, "sync", *args], capture_output=True, text=True, timeout=120, check=False)


async def stored_names(tmp_path: Path) -> list[str]:
    async with Catalog(SQLiteStore(tmp_path / "data" / "catalog.db")) as catalog:
        return catalog.names()


async def test_once_syncs_every_repository_and_prints_a_summary(tmp_path: Path, platform_url: str) -> None:
    config = write_config(tmp_path, ("platform", platform_url))

    result = run_sync("--config", str(config), "--once")

    assert result.returncode == 0, result.stderr
    headline, rejected, finding = result.stdout.splitlines()
    assert headline.startswith("platform (git): synced at ")
    assert "files +3" in headline
    assert "2 published" in headline
    assert "1 file(s) rejected" in headline
    assert rejected == "  rejected resources/broken.yaml:"
    assert finding.startswith("    resources/broken.yaml:6:1: error [YAML_SYNTAX]")
    assert await stored_names(tmp_path) == ["bucket", "queue"]
    logged = [json.loads(line) for line in result.stderr.splitlines()]
    assert any(entry.get("operation") == "sync_repository" for entry in logged)

    again = run_sync("--config", str(config), "--once")
    assert again.returncode == 0
    assert again.stdout.startswith("platform (git): unchanged at ")


async def test_a_failed_repository_exits_1_and_json_says_why(tmp_path: Path, platform_url: str) -> None:
    broken = f"git://127.0.0.1:{free_port()}/missing.git"
    config = write_config(tmp_path, ("platform", platform_url), ("broken", broken))

    result = run_sync("--config", str(config), "--once", "--format", "json")

    assert result.returncode == 1, result.stderr
    payload = json.loads(result.stdout)
    assert payload["ok"] is False
    platform, failed = payload["sources"]
    assert (platform["source"], platform["ok"], platform["counts"]["published"]) == ("platform", True, 2)
    assert platform["findings"]["resources/broken.yaml"][0]["rule"] == "YAML_SYNTAX"
    assert (failed["source"], failed["ok"], failed["outcome"]) == ("broken", False, "failed")
    assert failed["error"]["reason"] == "unreachable"
    assert failed["error"]["code"] == "SYNC_FAILED"
    assert await stored_names(tmp_path) == ["bucket", "queue"]


def test_once_shows_progress_on_a_terminal_but_not_in_ci(tmp_path: Path, platform_url: str) -> None:
    config = write_config(tmp_path, ("platform", platform_url))
    code, terminal = run_on_a_terminal([NESTOR_CATALOG, "sync", "--config", str(config), "--once"])
    assert code == 0
    assert "syncing" in terminal
    assert "1/1" in terminal
    code, terminal = run_on_a_terminal([NESTOR_CATALOG, "sync", "--config", str(config), "--once"], ci="true")
    assert code == 0
    assert "syncing" not in terminal
    piped = run_sync("--config", str(config), "--once")
    assert "syncing" not in piped.stderr


def test_repository_option_selects_sources(tmp_path: Path, platform_url: str) -> None:
    broken = f"git://127.0.0.1:{free_port()}/missing.git"
    config = write_config(tmp_path, ("platform", platform_url), ("broken", broken))

    result = run_sync("--config", str(config), "--once", "-r", "platform", "--format", "json")

    assert result.returncode == 0, result.stderr
    assert [source["source"] for source in json.loads(result.stdout)["sources"]] == ["platform"]

    unknown = run_sync("--config", str(config), "--once", "--repository", "nope")
    assert unknown.returncode == 2
    assert "no source named 'nope'" in unknown.stderr
    assert "configured: platform, broken" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def test_configuration_errors_exit_2_without_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "catalog.yaml"
    config.write_text("git:\n  repositories:\n    - name: Not_A_Name\n      url: git://127.0.0.1/x.git\n")

    result = run_sync("--config", str(config), "--once")

    assert result.returncode == 2
    assert "git.repositories[0].name" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


async def test_without_once_it_syncs_until_sigterm(tmp_path: Path, platform_url: str) -> None:
    config = write_config(tmp_path, ("platform", platform_url))
    process = await asyncio.create_subprocess_exec(
        NESTOR_CATALOG, "sync", "--config", str(config), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while not await synced_commit(tmp_path):
            assert process.returncode is None, "the worker exited before syncing"
            assert time.monotonic() < deadline, "the worker never synced"
            await asyncio.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        _stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()
    assert process.returncode == 0, stderr.decode()
    assert await stored_names(tmp_path) == ["bucket", "queue"]


async def synced_commit(tmp_path: Path) -> str | None:
    if not (tmp_path / "data" / "catalog.db").exists():
        return None
    async with SQLiteStore(tmp_path / "data" / "catalog.db") as store:
        state = await store.get_sync_state("platform")
    return state.last_commit if state is not None else None
