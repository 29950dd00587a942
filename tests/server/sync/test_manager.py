"""``SyncManager`` scheduling against real git: polling, webhooks, coalescing, backoff, status,
readiness and shutdown."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import nestor_catalog_server.sync as sync_package
from nestor_catalog_core import (
    AuthenticationError,
    Catalog,
    EventType,
    InvalidRequest,
    SourceNotFound,
    SyncError,
)
from nestor_catalog_server.observability import Metrics
from nestor_catalog_server.sync import SyncManager, sign_payload
from tests.server.sync.definitions import YAML_SYNTAX_ERROR, definition
from tests.server.sync.harness import (
    ManagerFactory,
    all_events,
    catalog,
    directory,
    git_config,
    make_manager,
    repository,
    sync_count,
    wait_until,
)
from tests.support.git import ServedRepo, init_bare

__all__ = ["catalog", "make_manager"]

SECRET = "webhook-secret-for-platform"


def github_push(branch: str, after: str) -> tuple[dict[str, str], bytes]:
    body = json.dumps({"ref": f"refs/heads/{branch}", "after": after, "repository": {"name": "platform"}}).encode()
    headers = {
        "X-GitHub-Event": "push",
        "X-GitHub-Delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958",
        "X-Hub-Signature-256": sign_payload(SECRET, body),
        "Content-Type": "application/json",
    }
    return headers, body


def github_ping() -> tuple[dict[str, str], bytes]:
    body = b'{"zen": "Keep it logically awesome.", "hook_id": 1}'
    return {"X-GitHub-Event": "ping", "X-Hub-Signature-256": sign_payload(SECRET, body)}, body


@contextmanager
def mirror_fetch_blocked(data_dir: Path, name: str) -> Iterator[None]:
    """Hold the cross-process fetch lock of the mirror of ``name`` (``<data_dir>/mirrors/<name>.git``),
    as another process fetching it would: its fetches wait (a slow sync) until the block ends."""
    lock_path = data_dir / "mirrors" / f"{name}.git.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def test_public_names() -> None:
    assert sorted(sync_package.__all__) == sorted(
        [
            "ZERO_SHA",
            "CommitInfo",
            "FetchResult",
            "GitAuth",
            "GitMirror",
            "GitSource",
            "LocalSource",
            "RemoteSpec",
            "SkippedEntry",
            "SourceState",
            "SourceStatus",
            "SyncCounts",
            "SyncManager",
            "SyncOutcome",
            "SyncReport",
            "SyncSource",
            "TreeDiff",
            "WebhookDelivery",
            "WebhookGate",
            "WebhookProvider",
            "remote_spec",
            "sign_payload",
            "verify_and_parse",
            "verify_signature",
        ]
    )
    for name in sync_package.__all__:
        assert hasattr(sync_package, name)


# -- scheduling -------------------------------------------------------------------------------


async def test_webhook_push_gets_the_commit_into_the_catalog(
    served_repo: ServedRepo, git_daemon_url: str, catalog: Catalog, make_manager: ManagerFactory
) -> None:
    served_repo.work.write("resources/bucket.yaml", definition("bucket"))
    served_repo.work.write("resources/broken.yaml", YAML_SYNTAX_ERROR)
    served_repo.publish("seed")
    metrics = Metrics(process_metrics=False)
    config = git_config(repository("platform", served_repo.url(git_daemon_url), webhook_secret=SECRET))
    manager = make_manager(config, metrics=metrics)
    await manager.start()
    assert await manager.wait_ready(timeout=15)
    assert catalog.has("bucket", "1.0.0")

    served_repo.work.write("resources/queue.yaml", definition("queue"))
    head = served_repo.publish("new queue")
    headers, body = github_push("main", head)
    delivery = await manager.handle_webhook("github", "platform", headers, body)

    assert delivery.triggers_sync
    assert delivery.after == head
    await wait_until(lambda: catalog.has("queue", "1.0.0"), what="the pushed commit reaching the catalog")
    assert catalog.get("queue", "1.0.0").status.source.commit == head
    await wait_until(lambda: sync_count(metrics, "platform") == 2, what="the sync to finish")
    assert metrics.sample("catalog_webhooks_total", provider="github", outcome="push") == 1
    assert metrics.sample("catalog_validation_errors_total", rule="YAML_SYNTAX") == 1


async def test_polling_picks_up_a_commit_within_an_interval(
    served_repo: ServedRepo, smart_http_url: str, catalog: Catalog, make_manager: ManagerFactory
) -> None:
    served_repo.work.write("resources/bucket.yaml", definition("bucket"))
    served_repo.publish("seed")
    manager = make_manager(git_config(repository("platform", served_repo.url(smart_http_url), poll_interval=0.3)))
    await manager.start()
    await manager.wait_ready(timeout=15)

    served_repo.work.write("resources/queue.yaml", definition("queue"))
    head = served_repo.publish("new queue")

    await wait_until(lambda: catalog.has("queue", "1.0.0"), what="a poll picking up the commit")
    await wait_until(lambda: manager.source_status("platform").last_commit == head, what="the sync to finish")
    status = manager.source_status("platform")
    assert status.next_sync_at is not None
    assert status.last_success is not None
    assert status.next_sync_at > status.last_success


async def test_triggers_during_a_sync_coalesce_into_one_follow_up(
    served_repo: ServedRepo, git_daemon_url: str, tmp_path: Path, catalog: Catalog, make_manager: ManagerFactory
) -> None:
    served_repo.work.write("resources/bucket.yaml", definition("bucket"))
    served_repo.publish("seed")
    metrics = Metrics(process_metrics=False)
    manager = make_manager(git_config(repository("platform", served_repo.url(git_daemon_url))), metrics=metrics)
    await manager.start()
    await manager.wait_ready(timeout=15)
    assert sync_count(metrics, "platform") == 1

    with mirror_fetch_blocked(tmp_path / "data", "platform"):
        manager.trigger("platform")
        await wait_until(lambda: manager.source_status("platform").state == "syncing", what="the triggered sync")
        for _ in range(20):
            manager.trigger("platform", reason="webhook")
        served_repo.work.write("resources/queue.yaml", definition("queue"))
        served_repo.publish("pushed while the sync was blocked")
        assert sync_count(metrics, "platform") == 1

    await wait_until(lambda: sync_count(metrics, "platform") == 3, what="the follow-up sync")
    await wait_until(lambda: manager.source_status("platform").state == "idle", what="the source settling")
    assert catalog.has("queue", "1.0.0")
    await asyncio.sleep(0.3)
    assert sync_count(metrics, "platform") == 3, "twenty triggers during one sync make exactly one follow-up"


async def test_failures_back_off_then_recover(
    served_repo: ServedRepo, served_root: Path, git_daemon_url: str, catalog: Catalog, make_manager: ManagerFactory
) -> None:
    served_repo.work.write("resources/bucket.yaml", definition("bucket"))
    served_repo.work.commit("seed")
    name = "not-yet-" + served_repo.name
    config = git_config(repository("platform", git_daemon_url + name), backoff=(0.05, 0.2))
    manager = make_manager(config)
    assert [manager.backoff_delay(n) for n in range(1, 6)] == [0.05, 0.1, 0.2, 0.2, 0.2]
    await manager.start()
    await manager.wait_ready(timeout=15)

    await wait_until(lambda: manager.source_status("platform").consecutive_failures >= 4, what="repeated retries")

    async def four_recorded() -> bool:
        return len(await all_events(catalog, EventType.SYNC_FAILED)) >= 4

    await wait_until(four_recorded, what="a sync.failed event per failure")
    status = manager.source_status("platform")
    assert status.state == "failed"
    assert status.last_error is not None
    assert status.last_error["reason"] == "not_found"
    assert status.last_success is None
    failures = await all_events(catalog, EventType.SYNC_FAILED)
    assert len(failures) >= 4
    assert failures[0].data["consecutive_failures"] == 1
    assert {event.data["reason"] for event in failures} == {"not_found"}

    init_bare(served_root / name)
    served_repo.work.push(served_root / name)
    await wait_until(lambda: catalog.has("bucket", "1.0.0"), what="recovery once the repository exists")
    await wait_until(lambda: manager.source_status("platform").state == "idle", what="the source settling")
    status = manager.source_status("platform")
    assert status.consecutive_failures == 0
    assert status.last_error is None
    assert status.last_success is not None
    assert status.next_sync_at is None, "poll_interval 0 syncs on triggers only once healthy"


async def test_stop_cancels_syncs_in_flight(
    served_repo: ServedRepo, git_daemon_url: str, tmp_path: Path, make_manager: ManagerFactory
) -> None:
    served_repo.work.write("resources/bucket.yaml", definition("bucket"))
    served_repo.publish("seed")
    manager = make_manager(git_config(repository("platform", served_repo.url(git_daemon_url), poll_interval=3600)))
    with mirror_fetch_blocked(tmp_path / "data", "platform"):
        await manager.start()
        await wait_until(lambda: manager.source_status("platform").state == "syncing", what="the first sync")
        await manager.stop()
        assert not manager.ready
        status = manager.source_status("platform")
        assert status.state == "failed", "a sync cut short is reported, never left looking idle"
        assert status.last_error is not None
        assert (status.last_error["reason"], status.last_error["stage"]) == ("interrupted", "interrupted")
        assert status.waiting_for is not None
        assert "first sync of platform" in status.waiting_for
        [event] = manager.unsent
        assert event.type is EventType.SYNC_FAILED
        assert event.data["reason"] == "interrupted"


async def test_sync_once_waits_for_the_sync_in_flight(
    served_repo: ServedRepo, git_daemon_url: str, tmp_path: Path, catalog: Catalog, make_manager: ManagerFactory
) -> None:
    served_repo.work.write("resources/bucket.yaml", definition("bucket"))
    served_repo.publish("seed")
    manager = make_manager(git_config(repository("platform", served_repo.url(git_daemon_url))))
    with mirror_fetch_blocked(tmp_path / "data", "platform"):
        await manager.start()
        await wait_until(lambda: manager.source_status("platform").state == "syncing", what="the first sync")
        manual = asyncio.create_task(manager.sync_once("platform"))
        await asyncio.sleep(0.05)
        assert not manual.done()
    [report] = await manual
    assert report.outcome == "unchanged"
    assert report.reason == "manual"
    assert catalog.has("bucket", "1.0.0")


# -- webhooks ---------------------------------------------------------------------------------


async def test_webhook_deliveries_that_do_not_sync(
    served_repo: ServedRepo, git_daemon_url: str, tmp_path: Path, make_manager: ManagerFactory
) -> None:
    url = served_repo.url(git_daemon_url)
    metrics = Metrics(process_metrics=False)
    (tmp_path / "local").mkdir()
    config = git_config(
        repository("platform", url, webhook_secret=SECRET),
        repository("pinned", url, webhook_secret=SECRET, webhook_provider="gitlab"),
        repository("closed", url),
        directories=(directory("local", tmp_path / "local"),),
    )
    manager = make_manager(config, metrics=metrics)

    delivery = await manager.handle_webhook("github", "platform", *github_ping())
    assert delivery.kind == "ping"
    assert not delivery.triggers_sync
    delivery = await manager.handle_webhook("github", "platform", *github_push("feature", "a" * 40))
    assert delivery.kind == "ignored"
    assert not delivery.triggers_sync

    headers, body = github_push("main", "a" * 40)
    with pytest.raises(AuthenticationError, match="does not match the payload"):
        await manager.handle_webhook("github", "platform", {**headers, "X-Hub-Signature-256": "sha256=00"}, body)
    # Another provider, no secret, a directory, no such repository: all exactly a bad signature.
    for name in ("pinned", "closed", "local", "nope"):
        with pytest.raises(AuthenticationError, match=r"^X-Hub-Signature-256 does not match the payload$"):
            await manager.handle_webhook("github", name, headers, body)
    with pytest.raises(InvalidRequest, match="unknown webhook provider"):
        await manager.handle_webhook("svn", "platform", headers, body)

    assert metrics.sample("catalog_webhooks_total", provider="github", outcome="ping") == 1
    assert metrics.sample("catalog_webhooks_total", provider="github", outcome="ignored") == 1
    assert metrics.sample("catalog_webhooks_total", provider="github", outcome="unauthorized") == 5
    assert metrics.sample("catalog_webhooks_total", provider="unknown", outcome="invalid") == 1
    assert all(status.last_attempt is None for status in manager.status())


# -- status, readiness, names -----------------------------------------------------------------


async def test_status_lists_every_source(
    served_repo: ServedRepo, smart_http_url: str, tmp_path: Path, catalog: Catalog, make_manager: ManagerFactory
) -> None:
    served_repo.work.write("resources/bucket.yaml", definition("bucket"))
    served_repo.work.write("resources/broken.yaml", YAML_SYNTAX_ERROR)
    head = served_repo.publish("seed")
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "disk.yaml").write_text(definition("disk"))
    config = git_config(
        repository("platform", served_repo.url(smart_http_url)),
        directories=(directory("local", tmp_path / "local"),),
    )
    manager = make_manager(config)
    assert manager.sources() == ["platform", "local"]
    assert not manager.ready

    reports = await manager.sync_once()

    assert [report.source for report in reports] == ["platform", "local"]
    assert manager.ready
    platform, local = (status.to_dict() for status in manager.status())
    assert set(platform) == {
        "name", "kind", "url", "path", "branch", "state", "last_commit", "last_success", "last_attempt",
        "last_error", "consecutive_failures", "next_sync_at", "files", "counts", "findings", "last_duration_ms",
        "held", "reachable", "last_fetch", "last_fetch_age_seconds", "ready", "waiting_for", "stale",
    }  # fmt: skip
    assert platform["kind"] == "git"
    assert platform["state"] == "idle"
    assert platform["path"] == "resources"
    assert (platform["ready"], platform["waiting_for"], platform["stale"]) == (True, None, False)
    assert platform["reachable"] is True
    assert platform["last_fetch"].endswith("Z")
    assert platform["last_fetch_age_seconds"] >= 0
    assert platform["last_commit"] == head
    assert platform["files"] == 2
    assert platform["counts"]["rejected"] == 1
    assert platform["counts"]["published"] == 1
    assert platform["findings"]["resources/broken.yaml"][0]["rule"] == "YAML_SYNTAX"
    assert platform["last_success"].endswith("Z")
    assert platform["last_duration_ms"] > 0
    assert local["kind"] == "local"
    assert local["path"] == str(tmp_path / "local")
    assert local["url"] is None
    assert local["counts"]["published"] == 1
    assert local["last_commit"] is None
    report = reports[0].to_dict()
    assert report["ok"]
    assert report["outcome"] == "synced"
    assert report["counts"]["added"] == 2
    assert json.loads(json.dumps(report)) == report

    with pytest.raises(SourceNotFound, match="no sync source named 'nope'"):
        manager.source_status("nope")
    with pytest.raises(SourceNotFound, match="no sync source named 'nope'"):
        manager.trigger("nope")
    with pytest.raises(SourceNotFound, match="no sync source named 'nope'"):
        await manager.sync_once("nope")


async def test_ready_after_a_failed_first_attempt(catalog: Catalog, make_manager: ManagerFactory) -> None:
    manager = make_manager(git_config(repository("platform", "git://127.0.0.1:9/nowhere.git"), backoff=(60, 60)))
    assert not await manager.wait_ready(timeout=0.01)
    await manager.start()
    assert await manager.wait_ready(timeout=15)
    assert manager.source_status("platform").state == "failed"


async def test_no_sources_is_ready_at_once(catalog: Catalog, make_manager: ManagerFactory) -> None:
    manager = make_manager(git_config())
    assert manager.ready
    assert await manager.wait_ready(timeout=0)
    assert await manager.sync_once() == []


async def test_source_names_must_be_unique(catalog: Catalog, tmp_path: Path) -> None:
    from nestor_catalog_server.config import GitConfig

    config = GitConfig.model_construct(
        repositories=(repository("same", "git://127.0.0.1/x.git"), repository("same", "git://127.0.0.1/y.git"))
    )
    with pytest.raises(SyncError, match="two sync sources are named 'same'"):
        SyncManager(catalog, config, data_dir=tmp_path)
