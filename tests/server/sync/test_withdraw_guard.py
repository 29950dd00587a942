"""The withdraw guard against real git repositories (git daemon): a sync that would withdraw more
than ``max_share`` of a source's live versions, or leave no valid definition, is held until it is
confirmed; smaller deletions and moves apply as before."""

from __future__ import annotations

import pytest

from nestor_catalog_core import Catalog, ConflictError, EventType
from nestor_catalog_server.config.models import WithdrawGuardConfig
from tests.server.sync.definitions import YAML_SYNTAX_ERROR, definition, documents
from tests.server.sync.harness import ManagerFactory, all_events, catalog, git_config, make_manager, repository
from tests.support.git import ServedRepo

__all__ = ["catalog", "make_manager"]

GUARD = WithdrawGuardConfig(enabled=True, max_share=0.5)


def live(catalog: Catalog, *names: str) -> list[bool]:
    return [not catalog.entry(name, "1.0.0").withdrawn for name in names]


async def test_a_mass_deletion_is_held_until_confirmed(
    served_repo: ServedRepo, git_daemon_url: str, catalog: Catalog, make_manager: ManagerFactory
) -> None:
    names = ["a-queue", "b-queue", "c-queue", "d-queue"]
    for name in names:
        served_repo.work.write(f"resources/{name}.yaml", definition(name))
    served_repo.publish("four")
    manager = make_manager(git_config(repository("platform", served_repo.url(git_daemon_url)), withdraw_guard=GUARD))
    await manager.sync_once()

    served_repo.work.remove("resources/a-queue.yaml")
    served_repo.publish("one of four: 25%")
    [report] = await manager.sync_once()
    assert (report.outcome, report.counts.withdrawn) == ("synced", 1)

    served_repo.work.remove("resources/b-queue.yaml")
    served_repo.work.remove("resources/c-queue.yaml")
    head = served_repo.publish("two of the three left: 67%")
    [report] = await manager.sync_once()
    assert report.outcome == "held"
    assert report.held is not None
    assert (report.held["withdrawals"], report.held["live"], report.held["reason"]) == (2, 3, "share")
    assert live(catalog, "b-queue", "c-queue", "d-queue") == [True, True, True]
    status = manager.source_status("platform")
    assert (status.state, status.ready, status.last_commit != head) == ("held", True, True)
    [event] = await all_events(catalog, EventType.SYNC_HELD)
    assert (event.data["commit"], event.data["share"]) == (head, 0.6667)
    await manager.sync_once()
    assert len(await all_events(catalog, EventType.SYNC_HELD)) == 1, "one event per held commit"

    assert manager.confirm_withdrawals("platform")["commit"] == head
    [report] = await manager.sync_once()
    assert (report.outcome, report.counts.withdrawn) == ("synced", 2)
    assert live(catalog, "b-queue", "c-queue", "d-queue") == [False, False, True]
    assert manager.source_status("platform").held is None
    with pytest.raises(ConflictError, match="no sync of 'platform' is held"):
        manager.confirm_withdrawals("platform")


async def test_no_valid_definition_left_is_held_and_a_move_is_not(
    served_repo: ServedRepo, git_daemon_url: str, catalog: Catalog, make_manager: ManagerFactory
) -> None:
    served_repo.work.write("resources/bucket.yaml", definition("bucket"))
    served_repo.publish("seed")
    guard = WithdrawGuardConfig(enabled=True, max_share=1.0)
    manager = make_manager(git_config(repository("platform", served_repo.url(git_daemon_url)), withdraw_guard=guard))
    await manager.sync_once()

    served_repo.work.remove("resources/bucket.yaml")
    served_repo.work.write("resources/storage.yaml", documents(definition("bucket"), definition("disk")))
    served_repo.publish("moved with an edit")
    [report] = await manager.sync_once()
    assert (report.outcome, report.counts.withdrawn) == ("synced", 0), "a move withdraws nothing"

    served_repo.work.remove("resources/storage.yaml")
    served_repo.work.write("resources/broken.yaml", YAML_SYNTAX_ERROR)
    served_repo.publish("only a broken file")
    [report] = await manager.sync_once()
    assert report.outcome == "held"
    assert report.held is not None
    assert report.held["reason"] == "no_definitions", "max_share 1.0 allows 100%, but nothing valid is left"
    assert live(catalog, "bucket", "disk") == [True, True]
