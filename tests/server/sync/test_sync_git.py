"""Git sources synced into a real Catalog: repositories made with the ``git`` CLI, served by
``git daemon``, smart HTTP and local paths; one sync at a time through ``sync_once``."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from nestor_catalog_core import Catalog, EventType, SourceKind, SQLiteStore
from nestor_catalog_server.sync import SyncReport
from tests.server.sync.conftest import HTTP_TOKEN
from tests.server.sync.definitions import YAML_SYNTAX_ERROR, definition, documents
from tests.server.sync.harness import ManagerFactory, all_events, catalog, git_config, make_manager, repository
from tests.support.git import ServedRepo

__all__ = ["catalog", "make_manager"]


async def sync(factory: ManagerFactory, url: str, **fields: object) -> SyncReport:
    manager = factory(git_config(repository("platform", url, **fields)))  # type: ignore[arg-type]
    [report] = await manager.sync_once()
    return report


def served(catalog: Catalog, name: str, version: str) -> bool:
    return catalog.has(name, version) and not catalog.entry(name, version).withdrawn


# -- first sync -------------------------------------------------------------------------------


async def test_first_sync_publishes_good_files_and_reports_bad_ones(
    served_repo: ServedRepo, git_daemon_url: str, catalog: Catalog, make_manager: ManagerFactory
) -> None:
    work = served_repo.work
    work.write("resources/aws/bucket.yaml", definition("bucket"))
    work.write("resources/aws/queue.yml", definition("queue", "2.1.0"))
    work.write("resources/broken.yaml", YAML_SYNTAX_ERROR)
    work.write("resources/bad-policy.yaml", definition("bad-policy").replace("bucket_name", "bucketName"))
    work.write("resources/README.md", "# not a definition\n")
    work.write("elsewhere/outside.yaml", definition("outside"))
    when = datetime(2024, 1, 15, 10, 30, 45, tzinfo=UTC)
    head = served_repo.publish("seed", author_email="alice@example.com", when=when)

    manager = make_manager(git_config(repository("platform", served_repo.url(git_daemon_url))))
    [report] = await manager.sync_once()

    assert report.ok
    assert report.outcome == "synced"
    assert (report.commit, report.previous_commit) == (head, None)
    counts = report.counts
    assert (counts.added, counts.loaded, counts.published, counts.rejected) == (4, 4, 2, 2)
    assert served(catalog, "bucket", "1.0.0")
    assert served(catalog, "queue", "2.1.0")
    assert not catalog.has("outside")
    assert not catalog.has("bad-policy")
    source = catalog.get("bucket", "1.0.0").status.source
    assert (source.kind, source.repository, source.path) == (SourceKind.GIT, "platform", "resources/aws/bucket.yaml")
    assert (source.commit, source.author_email, source.committed_at) == (head, "alice@example.com", when)

    assert sorted(report.findings) == ["resources/bad-policy.yaml", "resources/broken.yaml"]
    [syntax] = report.findings["resources/broken.yaml"]
    assert (syntax["rule"], syntax["file"], syntax["line"], syntax["column"]) == (
        "YAML_SYNTAX",
        "resources/broken.yaml",
        6,
        1,
    )
    [policy] = report.findings["resources/bad-policy.yaml"]
    assert (policy["rule"], policy["field"], policy["line"]) == (
        "INPUT_NAME_SNAKE_CASE",
        "spec.required_inputs[0].name",
        15,
    )

    rejections = {event.data["file"]: event for event in await all_events(catalog, EventType.VALIDATION_FAILED)}
    assert sorted(rejections) == ["resources/bad-policy.yaml", "resources/broken.yaml"]
    broken = rejections["resources/broken.yaml"]
    assert broken.data["findings"][0]["line"] == 6
    assert broken.data["findings"][0]["column"] == 1
    assert broken.data["source"]["commit"] == head
    assert rejections["resources/bad-policy.yaml"].data["findings"][0]["rule"] == "INPUT_NAME_SNAKE_CASE"

    [completed] = await all_events(catalog, EventType.SYNC_COMPLETED)
    assert completed.data["repository"] == "platform"
    assert (completed.data["commit"], completed.data["previous_commit"]) == (head, None)
    assert completed.data["counts"]["published"] == 2
    assert completed.data["counts"]["rejected"] == 2
    assert completed.data["rejected_files"] == ["resources/bad-policy.yaml", "resources/broken.yaml"]

    status = manager.source_status("platform")
    assert (status.state, status.last_commit, status.files, status.consecutive_failures) == ("idle", head, 4, 0)
    assert sorted(status.findings) == ["resources/bad-policy.yaml", "resources/broken.yaml"]
    assert status.url == served_repo.url(git_daemon_url)
    assert status.branch == "main"

    audit = await catalog.audit(resource="bucket")
    assert audit.records[0].source is not None
    assert audit.records[0].source.commit == head
    assert audit.records[0].git_commit == head
    assert audit.records[0].user == "alice@example.com"


async def test_unchanged_branch_publishes_and_emits_nothing(
    served_repo: ServedRepo, smart_http_url: str, catalog: Catalog, make_manager: ManagerFactory
) -> None:
    served_repo.work.write("resources/bucket.yaml", definition("bucket"))
    head = served_repo.publish("seed")
    manager = make_manager(git_config(repository("platform", served_repo.url(smart_http_url))))
    await manager.sync_once()
    before = await catalog.store.last_sequence()

    [report] = await manager.sync_once()

    assert report.outcome == "unchanged"
    assert report.commit == head
    assert report.counts.loaded == 0
    assert report.counts.changed_files == 0
    assert await catalog.store.last_sequence() == before
    assert manager.source_status("platform").counts.published == 1, "a no-op poll keeps the last sync's counts"


async def test_commit_outside_the_source_folder_moves_the_state_silently(
    served_repo: ServedRepo, git_daemon_url: str, catalog: Catalog, make_manager: ManagerFactory
) -> None:
    served_repo.work.write("resources/bucket.yaml", definition("bucket"))
    served_repo.publish("seed")
    manager = make_manager(git_config(repository("platform", served_repo.url(git_daemon_url))))
    await manager.sync_once()
    before = await catalog.store.last_sequence()
    served_repo.work.write("docs/index.md", "# docs\n")
    head = served_repo.publish("docs only")

    [report] = await manager.sync_once()

    assert report.outcome == "unchanged"
    assert report.commit == head
    assert await catalog.store.last_sequence() == before
    state = await catalog.store.get_sync_state("platform")
    assert state is not None
    assert state.last_commit == head


# -- incremental syncs ------------------------------------------------------------------------


async def test_incremental_add_modify_delete_and_rename(
    served_repo: ServedRepo, smart_http_url: str, catalog: Catalog, make_manager: ManagerFactory
) -> None:
    work = served_repo.work
    work.write("resources/bucket.yaml", definition("bucket"))
    work.write("resources/queue.yaml", definition("queue"))
    work.write("resources/topic.yaml", definition("topic"))
    served_repo.publish("seed")
    manager = make_manager(git_config(repository("platform", served_repo.url(smart_http_url))))
    await manager.sync_once()

    work.write("resources/cache.yaml", definition("cache"))
    work.write("resources/bucket.yaml", definition("bucket", "1.1.0", optional=["versioning"]))
    work.remove("resources/queue.yaml")
    work.rename("resources/topic.yaml", "resources/messaging/topic.yaml")
    head = served_repo.publish("add, bump, delete, move")
    seen = await catalog.store.last_sequence()

    [report] = await manager.sync_once()

    counts = report.counts
    assert (counts.added, counts.modified, counts.deleted, counts.renamed) == (1, 1, 1, 1)
    assert (counts.loaded, counts.published, counts.withdrawn, counts.rejected) == (2, 2, 1, 0)
    assert served(catalog, "cache", "1.0.0")
    assert served(catalog, "bucket", "1.1.0")
    assert served(catalog, "bucket", "1.0.0"), "an in-place version bump keeps the superseded version"
    assert catalog.latest("bucket").definition.metadata.version == "1.1.0"
    assert catalog.entry("queue", "1.0.0").withdrawn
    assert served(catalog, "topic", "1.0.0")
    assert catalog.get("topic", "1.0.0").status.source.path == "resources/topic.yaml", "a rename does not republish"
    changes = [(e.type, e.name, e.version) for e in (await all_events(catalog)) if e.sequence > seen]
    assert changes == [
        (EventType.RESOURCE_UPDATED, "bucket", "1.1.0"),
        (EventType.RESOURCE_CREATED, "cache", "1.0.0"),
        (EventType.RESOURCE_DELETED, "queue", "1.0.0"),
        (EventType.SYNC_COMPLETED, None, None),
    ]
    state = await catalog.store.get_sync_state("platform")
    assert state is not None
    assert state.last_commit == head
    assert state.files["resources/bucket.yaml"][1:] == ["bucket@1.0.0", "bucket@1.1.0"]
    assert state.files["resources/messaging/topic.yaml"][1:] == ["topic@1.0.0"]
    assert "resources/queue.yaml" not in state.files

    work.remove("resources/bucket.yaml")
    served_repo.publish("drop the bucket")
    [report] = await manager.sync_once()
    assert report.counts.withdrawn == 2
    assert catalog.entry("bucket", "1.0.0").withdrawn
    assert catalog.entry("bucket", "1.1.0").withdrawn


async def test_each_file_is_attributed_to_the_commit_that_changed_it(
    served_repo: ServedRepo, git_daemon_url: str, catalog: Catalog, make_manager: ManagerFactory
) -> None:
    served_repo.work.write("resources/bucket.yaml", definition("bucket"))
    served_repo.work.write("resources/queue.yaml", definition("queue"))
    served_repo.publish("seed")
    manager = make_manager(git_config(repository("platform", served_repo.url(git_daemon_url))))
    await manager.sync_once()

    served_repo.work.write("resources/cache.yaml", definition("cache"))
    first = served_repo.work.commit("cache by bob", author_email="bob@example.com")
    served_repo.work.write("resources/topic.yaml", definition("topic"))
    served_repo.work.remove("resources/queue.yaml")
    second = served_repo.work.commit("topic by carol", author_email="carol@example.com")
    served_repo.work.write("README.md", "# unrelated\n")
    head = served_repo.publish("readme by dave", author_email="dave@example.com")

    [report] = await manager.sync_once()

    assert report.commit == head
    assert report.counts.published == 2
    cache = catalog.get("cache", "1.0.0").status.source
    topic = catalog.get("topic", "1.0.0").status.source
    assert (cache.commit, cache.author_email) == (first, "bob@example.com")
    assert (topic.commit, topic.author_email) == (second, "carol@example.com")
    withdrawal = (await catalog.audit(resource="queue", action="resource.withdrawn")).records[0]
    assert withdrawal.source is not None
    assert withdrawal.source.author_email == "carol@example.com"
    assert withdrawal.git_commit == second


async def test_versions_leaving_a_multi_document_file_are_withdrawn(
    served_repo: ServedRepo, smart_http_url: str, catalog: Catalog, make_manager: ManagerFactory
) -> None:
    served_repo.work.write("resources/pair.yaml", documents(definition("left"), definition("right")))
    served_repo.publish("seed")
    manager = make_manager(git_config(repository("platform", served_repo.url(smart_http_url))))
    [report] = await manager.sync_once()
    assert report.counts.published == 2

    served_repo.work.write("resources/pair.yaml", documents(definition("left", "1.1.0", optional=["tier"])))
    served_repo.publish("drop right, bump left")
    [report] = await manager.sync_once()

    assert (report.counts.published, report.counts.withdrawn) == (1, 1)
    assert catalog.entry("right", "1.0.0").withdrawn
    assert served(catalog, "left", "1.0.0")
    assert served(catalog, "left", "1.1.0")


async def test_a_version_moved_to_another_file_with_edits_stays_published(
    served_repo: ServedRepo, git_daemon_url: str, catalog: Catalog, make_manager: ManagerFactory
) -> None:
    served_repo.work.write("resources/bucket.yaml", definition("bucket"))
    served_repo.publish("seed")
    manager = make_manager(git_config(repository("platform", served_repo.url(git_daemon_url))))
    await manager.sync_once()

    served_repo.work.remove("resources/bucket.yaml")
    served_repo.work.write("resources/storage.yaml", documents(definition("bucket"), definition("disk")))
    served_repo.publish("merge bucket into storage.yaml")
    [report] = await manager.sync_once()

    assert (report.counts.added, report.counts.deleted, report.counts.renamed) == (1, 1, 0)
    assert (report.counts.published, report.counts.unchanged, report.counts.withdrawn) == (1, 1, 0)
    assert served(catalog, "bucket", "1.0.0")
    assert served(catalog, "disk", "1.0.0")


async def test_a_deleted_file_coming_back_restores_its_version(
    served_repo: ServedRepo, git_daemon_url: str, catalog: Catalog, make_manager: ManagerFactory
) -> None:
    served_repo.work.write("resources/bucket.yaml", definition("bucket"))
    served_repo.publish("seed")
    manager = make_manager(git_config(repository("platform", served_repo.url(git_daemon_url))))
    await manager.sync_once()
    served_repo.work.remove("resources/bucket.yaml")
    served_repo.publish("delete")
    await manager.sync_once()
    assert catalog.entry("bucket", "1.0.0").withdrawn

    served_repo.work.write("resources/bucket.yaml", definition("bucket"))
    served_repo.publish("restore")
    [report] = await manager.sync_once()

    assert report.counts.published == 1
    assert served(catalog, "bucket", "1.0.0")


# -- rejected changes keep the last good state --------------------------------------------------


async def test_immutability_violation_keeps_the_published_version(
    served_repo: ServedRepo, smart_http_url: str, catalog: Catalog, make_manager: ManagerFactory
) -> None:
    served_repo.work.write("resources/bucket.yaml", definition("bucket"))
    served_repo.publish("seed")
    manager = make_manager(git_config(repository("platform", served_repo.url(smart_http_url))))
    await manager.sync_once()
    digest = catalog.get("bucket", "1.0.0").status.digest

    served_repo.work.write("resources/bucket.yaml", definition("bucket", description="Edited in place"))
    served_repo.publish("edit without a bump")
    [report] = await manager.sync_once()

    assert report.ok
    assert report.counts.rejected == 1
    [finding] = report.findings["resources/bucket.yaml"]
    assert (finding["rule"], finding["field"], finding["line"], finding["column"]) == (
        "IMMUTABLE_VERSION",
        "metadata.version",
        5,
        12,
    )
    assert catalog.get("bucket", "1.0.0").status.digest == digest
    assert served(catalog, "bucket", "1.0.0")
    [rejection] = await all_events(catalog, EventType.VALIDATION_FAILED)
    assert rejection.data["code"] == "IMMUTABLE_VERSION"
    assert rejection.data["file"] == "resources/bucket.yaml"
    assert manager.source_status("platform").findings["resources/bucket.yaml"][0]["rule"] == "IMMUTABLE_VERSION"

    served_repo.work.write("resources/bucket.yaml", definition("bucket", "1.0.1", description="Edited in place"))
    served_repo.publish("bump it")
    [report] = await manager.sync_once()
    assert report.counts.rejected == 0
    assert report.counts.published == 1
    assert manager.source_status("platform").findings == {}
    assert served(catalog, "bucket", "1.0.0")
    assert served(catalog, "bucket", "1.0.1")


async def test_compatibility_violation_is_reported_with_positions(
    served_repo: ServedRepo, git_daemon_url: str, catalog: Catalog, make_manager: ManagerFactory
) -> None:
    served_repo.work.write("resources/bucket.yaml", definition("bucket"))
    served_repo.publish("seed")
    manager = make_manager(git_config(repository("platform", served_repo.url(git_daemon_url))))
    await manager.sync_once()

    served_repo.work.write("resources/bucket.yaml", definition("bucket", "1.1.0", bucket_type="integer"))
    served_repo.publish("retype an input in a minor release")
    [report] = await manager.sync_once()

    findings = report.findings["resources/bucket.yaml"]
    by_rule = {finding["rule"]: finding for finding in findings}
    assert "BUMP_TOO_SMALL" in by_rule
    retyped = [f for f in findings if f["field"] == "spec.required_inputs[0].type"]
    assert retyped
    assert retyped[0]["line"] == 16
    assert retyped[0]["file"] == "resources/bucket.yaml"
    assert not catalog.has("bucket", "1.1.0")
    assert served(catalog, "bucket", "1.0.0")
    [rejection] = await all_events(catalog, EventType.VALIDATION_FAILED)
    assert rejection.data["code"] == "INCOMPATIBLE_CHANGE"
    assert rejection.data["previous_version"] == "1.0.0"
    event_retyped = [f for f in rejection.data["findings"] if f["field"] == "spec.required_inputs[0].type"]
    assert [(f["file"], f["line"], f["column"]) for f in event_retyped] == [("resources/bucket.yaml", 16, 13)]


async def test_a_rejected_file_is_not_parsed_again_until_it_changes(
    served_repo: ServedRepo, smart_http_url: str, catalog: Catalog, make_manager: ManagerFactory
) -> None:
    served_repo.work.write("resources/bucket.yaml", definition("bucket"))
    served_repo.publish("seed")
    manager = make_manager(git_config(repository("platform", served_repo.url(smart_http_url))))
    await manager.sync_once()
    served_repo.work.write("resources/bucket.yaml", YAML_SYNTAX_ERROR)
    served_repo.publish("break it")
    [report] = await manager.sync_once()
    assert report.counts.rejected == 1
    assert served(catalog, "bucket", "1.0.0")

    served_repo.work.write("resources/queue.yaml", definition("queue"))
    served_repo.publish("unrelated change")
    [report] = await manager.sync_once()

    assert (report.counts.loaded, report.counts.rejected, report.counts.published) == (1, 0, 1)
    assert list(manager.source_status("platform").findings) == ["resources/bucket.yaml"]
    assert served(catalog, "bucket", "1.0.0")

    served_repo.work.remove("resources/bucket.yaml")
    served_repo.publish("delete the broken file")
    [report] = await manager.sync_once()
    assert report.counts.withdrawn == 1
    assert manager.source_status("platform").findings == {}


# -- history rewrites, restarts and configuration changes --------------------------------------


async def test_force_push_is_diffed_against_the_stored_state(
    served_repo: ServedRepo, catalog: Catalog, make_manager: ManagerFactory
) -> None:
    work = served_repo.work
    work.write("resources/bucket.yaml", definition("bucket"))
    served_repo.publish("seed")
    work.write("resources/doomed.yaml", definition("doomed"))
    served_repo.publish("a commit that will be rewritten")
    manager = make_manager(git_config(repository("platform", str(served_repo.bare))))
    await manager.sync_once()
    assert served(catalog, "doomed", "1.0.0")

    work.reset_hard("HEAD~1")
    work.write("resources/queue.yaml", definition("queue"))
    head = served_repo.publish("rewritten history", force=True)
    [report] = await manager.sync_once()

    assert report.commit == head
    assert (report.counts.added, report.counts.deleted, report.counts.loaded) == (1, 1, 1)
    assert catalog.entry("doomed", "1.0.0").withdrawn
    assert served(catalog, "queue", "1.0.0")
    assert served(catalog, "bucket", "1.0.0")


@pytest.mark.parametrize("keep_mirror", [True, False], ids=["same-mirror", "fresh-data-dir"])
async def test_restart_resumes_incrementally(
    served_repo: ServedRepo, git_daemon_url: str, tmp_path: Path, make_manager: ManagerFactory, keep_mirror: bool
) -> None:
    for index in range(6):
        served_repo.work.write(f"resources/res-{index}.yaml", definition(f"res-{index}"))
    served_repo.publish("seed")
    config = git_config(repository("platform", served_repo.url(git_daemon_url)))
    database = tmp_path / "catalog.db"
    async with Catalog(SQLiteStore(database)) as first:
        [report] = await make_manager(config, catalog=first).sync_once()
        assert report.counts.loaded == 6
    if not keep_mirror:
        shutil.rmtree(tmp_path / "data")

    served_repo.work.write("resources/res-2.yaml", definition("res-2", "1.0.1", description="Patched"))
    head = served_repo.publish("one file")
    async with Catalog(SQLiteStore(database)) as second:
        seen = await second.store.last_sequence()
        manager = make_manager(config, catalog=second)
        assert manager.source_status("platform").last_commit is None
        [report] = await manager.sync_once()

        assert report.commit == head
        assert (report.counts.modified, report.counts.loaded, report.counts.published) == (1, 1, 1)
        published = list(await all_events(second, EventType.RESOURCE_CREATED, EventType.RESOURCE_UPDATED))
        assert [(e.name, e.version) for e in published if e.sequence > seen] == [("res-2", "1.0.1")]
        assert manager.source_status("platform").files == 6


async def test_narrowing_the_globs_withdraws_what_they_leave_out(
    served_repo: ServedRepo, git_daemon_url: str, catalog: Catalog, make_manager: ManagerFactory
) -> None:
    served_repo.work.write("resources/bucket.yaml", definition("bucket"))
    served_repo.work.write("resources/drafts/idea.yaml", definition("idea"))
    served_repo.publish("seed")
    url = served_repo.url(git_daemon_url)
    await make_manager(git_config(repository("platform", url))).sync_once()
    assert served(catalog, "idea", "1.0.0")

    manager = make_manager(git_config(repository("platform", url, exclude=["drafts/**"])))
    [report] = await manager.sync_once()

    assert report.outcome == "synced"
    assert (report.counts.deleted, report.counts.withdrawn) == (1, 1)
    assert catalog.entry("idea", "1.0.0").withdrawn
    assert served(catalog, "bucket", "1.0.0")


# -- failures of the sync itself ----------------------------------------------------------------


async def test_a_deleted_branch_fails_the_sync_and_withdraws_nothing(
    served_repo: ServedRepo, git_daemon_url: str, catalog: Catalog, make_manager: ManagerFactory
) -> None:
    served_repo.work.write("resources/bucket.yaml", definition("bucket"))
    head = served_repo.publish("seed")
    manager = make_manager(git_config(repository("platform", served_repo.url(git_daemon_url))))
    await manager.sync_once()

    served_repo.work.delete_remote_branch(served_repo.bare)
    [report] = await manager.sync_once()

    assert not report.ok
    assert report.outcome == "failed"
    assert report.error is not None
    assert report.error["reason"] == "branch_missing"
    assert served(catalog, "bucket", "1.0.0")
    status = manager.source_status("platform")
    assert (status.state, status.consecutive_failures, status.last_commit) == ("failed", 1, head)
    [failed] = await all_events(catalog, EventType.SYNC_FAILED)
    assert failed.data["reason"] == "branch_missing"
    assert failed.data["repository"] == "platform"

    served_repo.work.write("resources/queue.yaml", definition("queue"))
    served_repo.publish("the branch is back")
    [report] = await manager.sync_once()
    assert report.ok
    assert served(catalog, "queue", "1.0.0")
    assert served(catalog, "bucket", "1.0.0")
    assert manager.source_status("platform").state == "idle"


async def test_an_unreachable_remote_fails_with_its_reason(catalog: Catalog, make_manager: ManagerFactory) -> None:
    from tests.support.git import free_port

    manager = make_manager(git_config(repository("platform", f"git://127.0.0.1:{free_port()}/nowhere.git")))
    [report] = await manager.sync_once()

    assert report.error is not None
    assert report.error["reason"] == "unreachable"
    assert report.error["code"] == "SYNC_FAILED"
    status = manager.source_status("platform")
    assert status.state == "failed"
    assert status.last_error == report.error
    assert status.last_success is None


async def test_a_configured_token_authenticates_over_smart_http(
    served_repo: ServedRepo, smart_http_token_url: str, catalog: Catalog, make_manager: ManagerFactory
) -> None:
    served_repo.work.write("resources/bucket.yaml", definition("bucket"))
    served_repo.publish("seed")
    url = served_repo.url(smart_http_token_url)
    config = git_config(
        repository("platform", url, auth={"token": HTTP_TOKEN}),
        repository("anonymous", url),
    )
    manager = make_manager(config)

    platform, anonymous = await manager.sync_once()

    assert platform.ok
    assert served(catalog, "bucket", "1.0.0")
    assert anonymous.error is not None
    assert anonymous.error["reason"] == "auth_failed"
    assert HTTP_TOKEN not in repr(manager.status())
