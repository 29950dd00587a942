"""Local directories as a source: scans against the stored state, and the watcher."""

from __future__ import annotations

import os
from pathlib import Path

from nestor_catalog_core import Catalog, EventType, SourceKind, SQLiteStore
from tests.server.sync.definitions import YAML_SYNTAX_ERROR, definition
from tests.server.sync.harness import (
    ManagerFactory,
    all_events,
    catalog,
    directory,
    git_config,
    make_manager,
    wait_until,
)

__all__ = ["catalog", "make_manager"]


def served(catalog: Catalog, name: str, version: str) -> bool:
    return catalog.has(name, version) and not catalog.entry(name, version).withdrawn


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


async def test_scan_publishes_what_the_directory_selects(
    tmp_path: Path, catalog: Catalog, make_manager: ManagerFactory
) -> None:
    root = tmp_path / "defs"
    write(root, "bucket.yaml", definition("bucket"))
    write(root, "aws/queue.yml", definition("queue"))
    write(root, "gcp/topic.json", '{"apiVersion": "catalog.nestor.io/v1"}')
    write(root, "drafts/idea.yaml", definition("idea"))
    write(root, "ignored/skip.yaml", definition("skip"))
    write(root, ".nestorignore", "ignored/\n")
    write(root, ".hidden/secret.yaml", definition("secret"))
    write(root, "notes.txt", "not a definition")
    write(tmp_path, "outside.yaml", definition("outside"))
    os.symlink(tmp_path / "outside.yaml", root / "escape.yaml")
    manager = make_manager(git_config(directories=(directory("defs", root, exclude=["drafts/**"]),)))

    [report] = await manager.sync_once()

    assert report.ok
    assert report.kind is SourceKind.LOCAL
    assert (report.counts.added, report.counts.published, report.counts.rejected) == (4, 2, 2)
    assert served(catalog, "bucket", "1.0.0")
    assert served(catalog, "queue", "1.0.0")
    assert not any(catalog.has(name) for name in ("idea", "skip", "secret", "outside"))
    assert sorted(report.findings) == ["escape.yaml", "gcp/topic.json"]
    assert report.findings["escape.yaml"][0]["rule"] == "SYMLINK_OUTSIDE_ROOT"
    source = catalog.get("queue", "1.0.0").status.source
    assert (source.kind, source.repository, source.path, source.commit) == (
        SourceKind.LOCAL,
        "defs",
        "aws/queue.yml",
        None,
    )


async def test_rescans_parse_only_changed_files(tmp_path: Path, make_manager: ManagerFactory) -> None:
    root = tmp_path / "defs"
    for index in range(5):
        write(root, f"res-{index}.yaml", definition(f"res-{index}"))
    config = git_config(directories=(directory("defs", root),))
    database = tmp_path / "catalog.db"
    async with Catalog(SQLiteStore(database)) as first:
        [report] = await make_manager(config, catalog=first).sync_once()
        assert report.counts.loaded == 5

    write(root, "res-1.yaml", definition("res-1", "1.1.0", optional=["tier"]))
    (root / "res-3.yaml").rename(root / "moved.yaml")
    (root / "res-4.yaml").unlink()
    async with Catalog(SQLiteStore(database)) as second:
        manager = make_manager(config, catalog=second)
        [report] = await manager.sync_once()

        counts = report.counts
        assert (counts.modified, counts.renamed, counts.deleted, counts.loaded) == (1, 1, 1, 1)
        assert (counts.published, counts.withdrawn) == (1, 1)
        assert served(second, "res-1", "1.1.0")
        assert served(second, "res-1", "1.0.0")
        assert served(second, "res-3", "1.0.0")
        assert second.entry("res-4", "1.0.0").withdrawn
        [again] = await manager.sync_once()
        assert again.outcome == "unchanged"
        assert again.counts.loaded == 0


async def test_watcher_publishes_edits_and_withdraws_deletions(
    tmp_path: Path, catalog: Catalog, make_manager: ManagerFactory
) -> None:
    root = tmp_path / "defs"
    write(root, "bucket.yaml", definition("bucket"))
    write(root, "queue.yaml", definition("queue"))
    manager = make_manager(git_config(directories=(directory("defs", root),)))
    await manager.start()
    await manager.wait_ready(timeout=15)
    assert served(catalog, "bucket", "1.0.0")

    write(root, "bucket.yaml", definition("bucket", "1.1.0", optional=["tier"]))
    await wait_until(lambda: catalog.has("bucket", "1.1.0"), what="the edit being published")
    (root / "queue.yaml").unlink()
    await wait_until(
        lambda: catalog.has("queue", "1.0.0") and catalog.entry("queue", "1.0.0").withdrawn,
        what="the deletion withdrawing the version",
    )
    write(root, "broken.yaml", YAML_SYNTAX_ERROR)
    await wait_until(lambda: "broken.yaml" in manager.source_status("defs").findings, what="the bad file reported")

    assert served(catalog, "bucket", "1.0.0")
    assert served(catalog, "bucket", "1.1.0")
    reasons = [event.data["reason"] for event in await all_events(catalog, EventType.SYNC_COMPLETED)]
    assert reasons[0] == "start"
    assert set(reasons[1:]) == {"watch"}
    assert manager.source_status("defs").next_sync_at is None


async def test_a_vanished_directory_fails_the_sync_without_withdrawing(
    tmp_path: Path, catalog: Catalog, make_manager: ManagerFactory
) -> None:
    root = tmp_path / "defs"
    write(root, "bucket.yaml", definition("bucket"))
    manager = make_manager(git_config(directories=(directory("defs", root),)))
    await manager.sync_once()
    (root / "bucket.yaml").unlink()
    root.rmdir()

    [report] = await manager.sync_once()

    assert report.error is not None
    assert report.error["reason"] == "not_found"
    assert served(catalog, "bucket", "1.0.0")


async def test_the_watched_directory_follows_nestorignore_edits(
    tmp_path: Path, catalog: Catalog, make_manager: ManagerFactory
) -> None:
    root = tmp_path / "defs"
    write(root, "fixtures/broken.yaml", YAML_SYNTAX_ERROR)
    write(root, "fixtures/sub/keep.yaml", definition("keep"))
    write(root, "drafts/x.yaml", definition("draft"))
    write(root, "drafts/promoted.yaml", definition("promoted"))
    write(root, ".nestorignore", "fixtures/*.yaml\ndrafts/*\n!drafts/promoted.yaml\n")
    manager = make_manager(git_config(directories=(directory("defs", root),)))
    await manager.start()
    await manager.wait_ready(timeout=15)
    # .gitignore semantics: one level under fixtures/, and ! takes promoted.yaml back
    assert served(catalog, "keep", "1.0.0")
    assert served(catalog, "promoted", "1.0.0")
    assert not catalog.has("draft")
    assert manager.source_status("defs").findings == {}

    write(root, ".nestorignore", "fixtures/*.yaml\n")  # the drafts are no longer ignored
    await wait_until(lambda: catalog.has("draft", "1.0.0"), what="the un-ignored draft being published")
    write(root, ".nestorignore", "fixtures/*.yaml\ndrafts/\n")  # now every draft is
    await wait_until(
        lambda: catalog.entry("promoted", "1.0.0").withdrawn and catalog.entry("draft", "1.0.0").withdrawn,
        what="the newly ignored files withdrawing their versions",
    )
    assert served(catalog, "keep", "1.0.0")
