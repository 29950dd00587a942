"""Fixtures and helpers for the sync orchestration tests: catalogs on real stores, managers over
configured sources, event-log readers and a bounded wait. Test modules import the fixtures."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest

from nestor_catalog_core import Catalog, Event, EventType, MemoryStore
from nestor_catalog_server.config import BackoffConfig, DirectoryConfig, GitConfig, RepositoryConfig
from nestor_catalog_server.config.models import WithdrawGuardConfig
from nestor_catalog_server.observability import Metrics
from nestor_catalog_server.sync import SyncManager

#: Generous: these waits prove that something happens, never how fast.
DEADLINE = 15.0


def repository(
    name: str,
    url: str,
    *,
    path: str = "resources",
    poll_interval: float = 0,
    webhook_secret: str | None = None,
    **fields: Any,
) -> RepositoryConfig:
    return RepositoryConfig.model_validate(
        {
            "name": name,
            "url": url,
            "path": path,
            "poll_interval": timedelta(seconds=poll_interval),
            "webhook_secret": webhook_secret,
            **fields,
        }
    )


def directory(name: str, path: Path, **fields: Any) -> DirectoryConfig:
    return DirectoryConfig.model_validate(
        {"name": name, "path": path, "debounce": timedelta(milliseconds=50), **fields}
    )


def git_config(
    *repositories: RepositoryConfig,
    directories: tuple[DirectoryConfig, ...] = (),
    backoff: tuple[float, float] = (5.0, 300.0),
    jitter: float = 0.0,
    withdraw_guard: WithdrawGuardConfig | None = None,
) -> GitConfig:
    """A ``GitConfig`` for the sync tests. The withdraw guard is off unless given: these tests
    pin down what a sync applies (deleted files withdraw) on tiny sources, where one deletion
    is already a mass withdrawal; ``test_withdraw_guard`` tests the guard itself."""
    return GitConfig(
        repositories=repositories,
        directories=directories,
        backoff=BackoffConfig(initial=timedelta(seconds=backoff[0]), max=timedelta(seconds=backoff[1])),
        jitter=jitter,
        withdraw_guard=withdraw_guard or WithdrawGuardConfig(enabled=False),
    )


class ManagerFactory(Protocol):
    def __call__(
        self,
        git: GitConfig,
        *,
        catalog: Catalog | None = None,
        metrics: Metrics | None = None,
        data_dir: Path | None = None,
    ) -> SyncManager: ...


@pytest.fixture
async def catalog() -> AsyncIterator[Catalog]:
    async with Catalog(MemoryStore("sync-tests")) as opened:
        yield opened


@pytest.fixture
async def make_manager(catalog: Catalog, tmp_path: Path) -> AsyncIterator[ManagerFactory]:
    """``make_manager(git_config(...))`` -> a ``SyncManager`` over ``catalog`` with its data
    under ``tmp_path/data``; every manager made is stopped after the test."""
    managers: list[SyncManager] = []

    def make(
        git: GitConfig,
        *,
        catalog: Catalog = catalog,
        metrics: Metrics | None = None,
        data_dir: Path | None = None,
    ) -> SyncManager:
        manager = SyncManager(catalog, git, data_dir=data_dir or tmp_path / "data", metrics=metrics)
        managers.append(manager)
        return manager

    yield make
    for manager in managers:
        await manager.stop()


async def all_events(catalog: Catalog, *types: EventType) -> list[Event]:
    """Every event of the catalog's durable log (of ``types`` when given), oldest first."""
    found: list[Event] = []
    after = 0
    while batch := await catalog.store.read_events(after, 1000):
        found.extend(event for event in batch if not types or event.type in types)
        after = batch[-1].sequence
    return found


async def wait_until(
    condition: Callable[[], bool | Awaitable[bool]], *, within: float = DEADLINE, what: str = "the condition"
) -> None:
    """Poll ``condition`` until it holds; fail the test after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        outcome = condition()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {within:g}s")
        await asyncio.sleep(0.02)


def sync_count(metrics: Metrics, repository: str) -> int:
    """How many syncs of ``repository`` the metrics observed (all outcomes)."""
    total = 0.0
    for family in metrics.registry.collect():
        if family.name != "catalog_git_sync_duration":
            continue
        for sample in family.samples:
            if sample.name.endswith("_count") and sample.labels.get("repository") == repository:
                total += sample.value
    return int(total)
