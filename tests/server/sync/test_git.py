"""The git layer against real git: repositories made with the ``git`` CLI, served by ``git
daemon``, by ``git http-backend`` over smart HTTP and by local path."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nestor_catalog_core import ConfigError, PayloadTooLarge, SyncError
from nestor_catalog_core.loading import discover
from nestor_catalog_server.sync.git import GitAuth, GitMirror, RemoteSpec, SkippedEntry, TreeDiff
from nestor_catalog_server.sync.git._globs import PathFilter
from nestor_catalog_server.sync.git._transport import BatchSSHVendor, parse_remote, redact_url
from tests.server.sync.conftest import FORBIDDEN_REPO, HTTP_TOKEN, MirrorFactory
from tests.support.git import GitRepo, ServedRepo, free_port, git, init_bare


def definition(name: str, version: str = "1.0.0", description: str = "") -> str:
    return (
        "apiVersion: nestor.io/v1\nkind: ResourceDefinition\n"
        f"metadata:\n  name: {name}\n  version: {version}\n  description: {description or name}\n"
    )


def seed(repo: ServedRepo) -> str:
    """A small platform repository: definitions under resources/, other files around them."""
    repo.work.write("resources/aws/s3-bucket.yaml", definition("s3-bucket"))
    repo.work.write("resources/aws/rds/postgres.yml", definition("postgres"))
    repo.work.write("resources/gcp/gcs.json", '{"metadata": {"name": "gcs"}}\n')
    repo.work.write("resources/README.md", "# resources\n")
    repo.work.write("other/ignored.yaml", definition("ignored"))
    repo.work.write("top.yaml", definition("top"))
    return repo.publish("seed")


SEEDED = ["resources/aws/rds/postgres.yml", "resources/aws/s3-bucket.yaml", "resources/gcp/gcs.json"]


def pack_count(mirror: GitMirror) -> int:
    return sum(1 for entry in (mirror.mirror_dir / "objects" / "pack").iterdir() if entry.suffix == ".pack")


# -- transports -------------------------------------------------------------------------------


def test_fetch_over_git_daemon(served_repo: ServedRepo, git_daemon_url: str, make_mirror: MirrorFactory) -> None:
    head = seed(served_repo)
    mirror = make_mirror(served_repo.url(git_daemon_url), path="resources/")
    result = mirror.fetch()
    assert (result.head, result.changed, result.previous) == (head, True, None)
    assert sorted(mirror.snapshot(head)) == SEEDED
    assert mirror.head() == head


def test_fetch_over_smart_http(served_repo: ServedRepo, smart_http_url: str, make_mirror: MirrorFactory) -> None:
    head = seed(served_repo)
    mirror = make_mirror(served_repo.url(smart_http_url), path="resources")
    assert mirror.fetch().head == head
    assert sorted(mirror.snapshot(head)) == SEEDED


def test_fetch_over_smart_http_with_token(
    served_repo: ServedRepo, smart_http_token_url: str, make_mirror: MirrorFactory
) -> None:
    head = seed(served_repo)
    mirror = make_mirror(served_repo.url(smart_http_token_url), path="resources", auth=GitAuth(token=HTTP_TOKEN))
    assert mirror.fetch().head == head
    assert mirror.read_file(head, "resources/aws/s3-bucket.yaml") == definition("s3-bucket").encode()


def test_http_without_token_says_to_configure_one(
    served_repo: ServedRepo, smart_http_token_url: str, make_mirror: MirrorFactory
) -> None:
    seed(served_repo)
    mirror = make_mirror(served_repo.url(smart_http_token_url))
    with pytest.raises(SyncError, match=r"authentication required \(HTTP 401\): configure a token") as caught:
        mirror.fetch()
    assert caught.value.details["reason"] == "auth_failed"


def test_http_wrong_token_is_a_clear_error_that_never_shows_the_token(
    served_repo: ServedRepo, smart_http_token_url: str, make_mirror: MirrorFactory
) -> None:
    seed(served_repo)
    secret = "wrong-secret-token-42"
    mirror = make_mirror(served_repo.url(smart_http_token_url), auth=GitAuth(token=secret))
    with pytest.raises(SyncError, match=r"authentication failed \(HTTP 401\): the server rejected") as caught:
        mirror.fetch()
    error = caught.value
    assert error.details == {
        "repository": "platform-resources",
        "url": served_repo.url(smart_http_token_url),
        "branch": "main",
        "reason": "auth_failed",
    }
    for text in (str(error), repr(error), repr(error.details), repr(mirror.spec), repr(error.__cause__)):
        assert secret not in text


def test_http_token_in_url_is_used_and_redacted(
    served_repo: ServedRepo, smart_http_token_url: str, make_mirror: MirrorFactory
) -> None:
    head = seed(served_repo)
    good = served_repo.url(smart_http_token_url.replace("http://", f"http://bot:{HTTP_TOKEN}@"))
    assert make_mirror(good).fetch().head == head
    bad = served_repo.url(smart_http_token_url.replace("http://", "http://bot:nope-secret@"))
    with pytest.raises(SyncError, match=r"from http://\*\*\*@127\.0\.0\.1") as caught:
        make_mirror(bad).fetch()
    assert "nope-secret" not in str(caught.value)
    assert "nope-secret" not in caught.value.details["url"]


def test_http_forbidden_repository_is_auth_failed(smart_http_token_url: str, make_mirror: MirrorFactory) -> None:
    mirror = make_mirror(smart_http_token_url + FORBIDDEN_REPO, auth=GitAuth(token=HTTP_TOKEN))
    with pytest.raises(SyncError, match=r"access denied \(HTTP 403\)") as caught:
        mirror.fetch()
    assert caught.value.details["reason"] == "auth_failed"


@pytest.mark.parametrize("as_url", [False, True], ids=["path", "file-url"])
def test_fetch_from_local_path_and_file_url(served_repo: ServedRepo, make_mirror: MirrorFactory, as_url: bool) -> None:
    head = seed(served_repo)
    url = served_repo.bare.as_uri() if as_url else str(served_repo.bare)
    mirror = make_mirror(url, path="resources")
    assert mirror.fetch().head == head
    assert sorted(mirror.snapshot(head)) == SEEDED


def test_fetch_from_a_working_repository_path(served_repo: ServedRepo, make_mirror: MirrorFactory) -> None:
    served_repo.work.write("a.yaml", definition("a"))
    head = served_repo.work.commit("in the working copy only")
    mirror = make_mirror(str(served_repo.work.path))
    assert mirror.fetch().head == head
    assert mirror.snapshot(head) == {"a.yaml": served_repo.work.run("rev-parse", "HEAD:a.yaml").strip()}


@pytest.mark.parametrize("with_git_cli", [True, False], ids=["git-cli", "dulwich"])
def test_local_fetch_by_git_cli_or_dulwich_leaves_the_same_clean_mirror(
    served_repo: ServedRepo,
    make_mirror: MirrorFactory,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    with_git_cli: bool,
) -> None:
    """A local path is fetched by the ``git`` CLI when it is installed (dulwich re-packs every
    object in Python, several times slower), else by dulwich: either way the same head, the
    same snapshot, one branch, no scratch ref left, and a mirror ``git fsck`` finds clean."""
    caplog.set_level("DEBUG", logger="nestor_catalog_server.sync.git")
    head = seed(served_repo)
    if not with_git_cli:
        monkeypatch.setattr("nestor_catalog_server.sync.git._mirror.shutil.which", lambda _name: None)
    mirror = make_mirror(str(served_repo.bare), path="resources")
    first = mirror.fetch()
    assert (first.head, first.changed, first.previous) == (head, True, None)
    assert sorted(mirror.snapshot(head)) == SEEDED
    served_repo.work.write("resources/aws/s3-bucket.yaml", definition("s3-bucket", "1.1.0"))
    second = served_repo.publish("bump s3-bucket")
    result = mirror.fetch()
    assert (result.head, result.changed, result.previous) == (second, True, head)
    assert mirror.diff_commits(head, second).modified == ["resources/aws/s3-bucket.yaml"]
    again = mirror.fetch()
    assert (again.head, again.changed) == (second, False)
    refs = git("for-each-ref", "--format=%(refname) %(objectname)", cwd=mirror.mirror_dir).split("\n")
    assert [line for line in refs if line] == [f"refs/heads/main {second}"]
    assert git("fsck", "--strict", cwd=mirror.mirror_dir) == ""
    assert not [r for r in caplog.records if "fetching with dulwich" in r.getMessage()]  # the CLI did it


def test_a_failing_git_cli_fetch_falls_back_to_dulwich_errors(
    served_repo: ServedRepo, make_mirror: MirrorFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """The CLI is only a faster way to succeed: a branch the local repository lacks is reported
    by the dulwich path exactly as for any other transport."""
    caplog.set_level("DEBUG", logger="nestor_catalog_server.sync.git")
    seed(served_repo)
    mirror = make_mirror(str(served_repo.bare), branch="no-such-branch")
    with pytest.raises(SyncError) as caught:
        mirror.fetch(allow_missing_branch=False)
    assert caught.value.details["reason"] == "branch_missing"
    assert mirror.fetch().head is None
    assert [r for r in caplog.records if "fetching with dulwich" in r.getMessage()]
    refs = git("for-each-ref", "--format=%(refname)", cwd=mirror.mirror_dir).split("\n")
    assert [line for line in refs if line] == []


# -- fetch semantics --------------------------------------------------------------------------


def test_fetch_without_change_reports_unchanged_and_transfers_nothing(
    served_repo: ServedRepo, git_daemon_url: str, make_mirror: MirrorFactory
) -> None:
    head = seed(served_repo)
    mirror = make_mirror(served_repo.url(git_daemon_url))
    mirror.fetch()
    packs = pack_count(mirror)
    again = mirror.fetch()
    assert (again.head, again.changed, again.previous) == (head, False, head)
    assert pack_count(mirror) == packs


def test_fetch_follows_new_commits(served_repo: ServedRepo, smart_http_url: str, make_mirror: MirrorFactory) -> None:
    first = seed(served_repo)
    mirror = make_mirror(served_repo.url(smart_http_url), path="resources")
    mirror.fetch()
    served_repo.work.write("resources/aws/s3-bucket.yaml", definition("s3-bucket", "1.1.0"))
    second = served_repo.publish("bump s3-bucket")
    result = mirror.fetch()
    assert (result.head, result.changed, result.previous) == (second, True, first)
    assert mirror.diff_commits(first, second).modified == ["resources/aws/s3-bucket.yaml"]


def test_mirror_is_a_clean_single_branch_bare_repository(
    served_repo: ServedRepo, git_daemon_url: str, make_mirror: MirrorFactory
) -> None:
    head = seed(served_repo)
    served_repo.work.run("checkout", "-q", "-b", "feature")
    served_repo.work.write("resources/feature.yaml", definition("feature"))
    feature = served_repo.work.commit("feature work")
    served_repo.work.push(served_repo.bare, branch="feature")
    served_repo.work.run("checkout", "-q", "main")

    mirror = make_mirror(served_repo.url(git_daemon_url))
    mirror.fetch()
    refs = git("for-each-ref", "--format=%(refname) %(objectname)", cwd=mirror.mirror_dir).split("\n")
    assert [line for line in refs if line] == [f"refs/heads/main {head}"]
    assert git("rev-parse", "--is-bare-repository", cwd=mirror.mirror_dir).strip() == "true"
    assert git("symbolic-ref", "HEAD", cwd=mirror.mirror_dir).strip() == "refs/heads/main"
    assert git("fsck", "--strict", cwd=mirror.mirror_dir) == ""
    assert not mirror.has_commit(feature)


def test_restart_resumes_from_the_existing_mirror(
    served_repo: ServedRepo, git_daemon_url: str, make_mirror: MirrorFactory, tmp_path: Path
) -> None:
    head = seed(served_repo)
    folder = tmp_path / "data" / "mirrors" / "platform.git"
    make_mirror(served_repo.url(git_daemon_url), mirror_dir=folder).fetch()
    restarted = make_mirror(served_repo.url(git_daemon_url), mirror_dir=folder)
    assert restarted.head() == head
    assert restarted.fetch().changed is False


def test_force_push_is_followed_and_diffs_against_the_stored_snapshot(
    served_repo: ServedRepo, git_daemon_url: str, make_mirror: MirrorFactory
) -> None:
    base = seed(served_repo)
    served_repo.work.write("resources/aws/sqs.yaml", definition("sqs"))
    served_repo.work.remove("resources/gcp/gcs.json")
    old_head = served_repo.publish("sqs, drop gcs")
    mirror = make_mirror(served_repo.url(git_daemon_url), path="resources")
    mirror.fetch()
    stored = mirror.snapshot(old_head)

    served_repo.work.reset_hard(base)
    served_repo.work.write("resources/aws/sns.yaml", definition("sns"))
    served_repo.work.write("resources/aws/s3-bucket.yaml", definition("s3-bucket", "2.0.0"))
    new_head = served_repo.publish("rewritten history", force=True)
    result = mirror.fetch()
    assert (result.head, result.changed, result.previous) == (new_head, True, old_head)

    diff = mirror.diff(stored, new_head)
    assert diff.added == ["resources/aws/sns.yaml", "resources/gcp/gcs.json"]
    assert diff.modified == ["resources/aws/s3-bucket.yaml"]
    assert diff.deleted == ["resources/aws/sqs.yaml"]
    assert diff.renamed == []
    assert diff.apply(stored) == mirror.snapshot(new_head)
    assert mirror.has_commit(old_head)
    assert mirror.diff_commits(old_head, new_head) == diff


def test_fresh_mirror_diffs_against_a_snapshot_from_elsewhere(
    served_repo: ServedRepo, git_daemon_url: str, make_mirror: MirrorFactory
) -> None:
    """A lost data dir: the stored snapshot survives in the catalog, the mirror starts empty."""
    first = seed(served_repo)
    stored = {path: served_repo.work.run("rev-parse", f"{first}:{path}").strip() for path in SEEDED}
    served_repo.work.remove("resources/gcp/gcs.json")
    head = served_repo.publish("drop gcs")
    fresh = make_mirror(served_repo.url(git_daemon_url), path="resources")
    fresh.fetch()
    assert fresh.diff(stored, head) == TreeDiff(deleted=["resources/gcp/gcs.json"])


def test_branch_deleted_on_the_remote(served_repo: ServedRepo, git_daemon_url: str, make_mirror: MirrorFactory) -> None:
    head = seed(served_repo)
    mirror = make_mirror(served_repo.url(git_daemon_url), path="resources")
    mirror.fetch()
    served_repo.work.delete_remote_branch(served_repo.bare)

    with pytest.raises(SyncError, match="branch 'main' does not exist on the remote") as caught:
        mirror.fetch(allow_missing_branch=False)
    assert caught.value.details["reason"] == "branch_missing"
    assert mirror.head() == head

    result = mirror.fetch()
    assert (result.head, result.changed, result.previous) == (None, True, head)
    assert mirror.head() is None
    assert sorted(mirror.snapshot(head)) == SEEDED
    assert mirror.fetch() == type(result)(None, False, None)


def test_branch_that_never_existed(served_repo: ServedRepo, smart_http_url: str, make_mirror: MirrorFactory) -> None:
    seed(served_repo)
    mirror = make_mirror(served_repo.url(smart_http_url), branch="release")
    assert mirror.fetch() == type(mirror.fetch())(None, False, None)
    with pytest.raises(SyncError, match="branch 'release' does not exist"):
        mirror.fetch(allow_missing_branch=False)


def test_empty_remote_has_no_head(served_repo: ServedRepo, git_daemon_url: str, make_mirror: MirrorFactory) -> None:
    assert make_mirror(served_repo.url(git_daemon_url)).fetch().head is None


def test_fetches_of_one_mirror_never_overlap(
    served_repo: ServedRepo, smart_http_url: str, make_mirror: MirrorFactory, tmp_path: Path
) -> None:
    head = seed(served_repo)
    folder = tmp_path / "shared.git"
    mirrors = [make_mirror(served_repo.url(smart_http_url), mirror_dir=folder) for _ in range(4)]
    results: list[object] = []

    def run(mirror: GitMirror) -> None:
        try:
            results.append(mirror.fetch())
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=run, args=(mirror,)) for mirror in mirrors for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(getattr(result, "head", None) == head for result in results), results
    assert sum(getattr(result, "changed", False) for result in results) == 1
    assert git("fsck", cwd=folder) == ""


def test_a_fetch_waits_for_the_lock_then_gives_up_as_busy(
    served_repo: ServedRepo, git_daemon_url: str, make_mirror: MirrorFactory
) -> None:
    seed(served_repo)
    mirror = make_mirror(served_repo.url(git_daemon_url), lock_timeout=0.2)
    lock_path = mirror.mirror_dir.with_name(mirror.mirror_dir.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with pytest.raises(SyncError, match="another fetch of this mirror is still running") as caught:
            mirror.fetch()
        assert caught.value.details["reason"] == "busy"
    finally:
        os.close(fd)
    assert mirror.fetch().changed is True


def test_many_fetches_are_repacked_and_keep_old_commits(
    served_repo: ServedRepo, git_daemon_url: str, make_mirror: MirrorFactory
) -> None:
    commits = [seed(served_repo)]
    mirror = make_mirror(served_repo.url(git_daemon_url), path="resources", max_packs=3)
    mirror.fetch()
    for index in range(6):
        served_repo.work.write(f"resources/gen/r{index}.yaml", definition(f"r{index}"))
        commits.append(served_repo.publish(f"r{index}"))
        mirror.fetch()
        mirror.snapshot(commits[-1])
        assert pack_count(mirror) <= 3
    assert all(mirror.has_commit(sha) for sha in commits)
    assert len(mirror.diff_commits(commits[0], commits[-1]).added) == 6
    assert git("fsck", cwd=mirror.mirror_dir) == ""


# -- failures ---------------------------------------------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "url",
    ["git://127.0.0.1:{port}/x.git", "http://127.0.0.1:{port}/x.git", "ssh://git@127.0.0.1:{port}/x.git"],
    ids=["git", "http", "ssh"],
)
def test_unreachable_host_is_a_sync_error(make_mirror: MirrorFactory, url: str) -> None:
    mirror = make_mirror(url.format(port=free_port()), timeout=5)
    with pytest.raises(
        SyncError, match=r"cannot fetch branch 'main' of repository 'platform-resources' from"
    ) as caught:
        mirror.fetch()
    assert caught.value.details["reason"] == "unreachable"
    assert "refused" in caught.value.message or "cannot connect" in caught.value.message


@pytest.mark.parametrize("transport", ["git", "http", "path"])
def test_missing_repository_is_not_found(
    transport: str, git_daemon_url: str, smart_http_url: str, served_root: Path, make_mirror: MirrorFactory
) -> None:
    url = {
        "git": git_daemon_url + "no-such-repo.git",
        "http": smart_http_url + "no-such-repo.git",
        "path": str(served_root / "no-such-repo.git"),
    }[transport]
    with pytest.raises(SyncError, match="repository not found") as caught:
        make_mirror(url).fetch()
    assert caught.value.details["reason"] == "not_found"


def test_mirror_directory_that_is_not_a_repository(tmp_path: Path, served_repo: ServedRepo) -> None:
    seed(served_repo)
    folder = tmp_path / "occupied"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a repository")
    with (
        GitMirror(RemoteSpec("team", str(served_repo.bare)), folder) as mirror,
        pytest.raises(SyncError, match="is not a git repository"),
    ):
        mirror.fetch()


def test_reading_before_the_first_fetch(make_mirror: MirrorFactory) -> None:
    mirror = make_mirror("/nowhere")
    assert mirror.head() is None
    assert not mirror.has_commit("0" * 40)
    with pytest.raises(SyncError, match="has not been fetched yet"):
        mirror.snapshot("0" * 40)


# -- snapshots and globs ----------------------------------------------------------------------


def test_snapshot_respects_path_and_default_globs(served_repo: ServedRepo, make_mirror: MirrorFactory) -> None:
    head = seed(served_repo)
    everything = make_mirror(str(served_repo.bare))
    everything.fetch()
    assert sorted(everything.snapshot(head)) == ["other/ignored.yaml", *SEEDED, "top.yaml"]
    aws = make_mirror(str(served_repo.bare), path="/resources/aws/")
    aws.fetch()
    snapshot = aws.snapshot(head)
    assert sorted(snapshot) == ["resources/aws/rds/postgres.yml", "resources/aws/s3-bucket.yaml"]
    assert snapshot["resources/aws/s3-bucket.yaml"] == served_repo.work.run("rev-parse", f"{head}:{SEEDED[1]}").strip()
    missing = make_mirror(str(served_repo.bare), path="does/not/exist")
    missing.fetch()
    assert missing.snapshot(head) == {}
    file_as_path = make_mirror(str(served_repo.bare), path="top.yaml")
    file_as_path.fetch()
    assert file_as_path.snapshot(head) == {}


def test_snapshot_respects_include_and_exclude(served_repo: ServedRepo, make_mirror: MirrorFactory) -> None:
    head = seed(served_repo)
    served_repo.work.write("resources/aws/drafts/wip.yaml", definition("wip"))
    served_repo.work.write("resources/aws/_template.yaml", definition("template"))
    head = served_repo.publish("drafts")
    mirror = make_mirror(
        str(served_repo.bare),
        path="resources",
        include=("aws/**/*.yaml", "gcp/*.json"),
        exclude=("**/drafts/**", "**/_*"),
    )
    mirror.fetch()
    assert sorted(mirror.snapshot(head)) == ["resources/aws/s3-bucket.yaml", "resources/gcp/gcs.json"]


@pytest.mark.parametrize(
    ("pattern", "matches", "misses"),
    [
        ("**/*.yaml", ["a.yaml", "x/a.yaml", "x/y/z/a.yaml", ".hidden.yaml"], ["a.yml", "a.yaml.bak", "x/a.yamlx"]),
        # .gitignore's dialect: no slash means any depth, a leading or middle slash anchors
        ("*.yaml", ["a.yaml", "x/a.yaml"], ["a.yml"]),
        ("/*.yaml", ["a.yaml"], ["x/a.yaml"]),
        ("aws/*.yaml", ["aws/a.yaml"], ["aws/s3/a.yaml", "x/aws/a.yaml"]),
        ("drafts/**", ["drafts/a.yaml", "drafts/x/y.json"], ["drafts", "x/drafts/a.yaml"]),
        ("drafts/", ["drafts/a.yaml", "drafts/x/y.json", "x/drafts/a.yaml"], ["drafts", "drafts.yaml"]),
        (
            "aws/**/v1/*.yaml",
            ["aws/v1/a.yaml", "aws/s3/v1/a.yaml", "aws/s3/x/v1/a.yaml"],
            ["aws/v2/a.yaml", "v1/a.yaml"],
        ),
        ("**", ["a", "a/b/c"], []),
        ("a?c.yaml", ["abc.yaml"], ["a/c.yaml", "ac.yaml"]),
        ("[ab]*.yaml", ["a1.yaml", "b.yaml"], ["c.yaml"]),
        ("[!ab]*.yaml", ["c.yaml"], ["a.yaml"]),
        ("v[0-9].json", ["v1.json"], ["vx.json"]),
        ("a+b(1).yaml", ["a+b(1).yaml"], ["aab1.yaml"]),
        ("\\#literal.yaml", ["#literal.yaml"], ["literal.yaml"]),
    ],
)
def test_glob_semantics(pattern: str, matches: list[str], misses: list[str]) -> None:
    selected = PathFilter(include=(pattern,))
    assert [path for path in matches if not selected.selects(path)] == []
    assert [path for path in misses if selected.selects(path)] == []


def test_negation_takes_back_within_a_list() -> None:
    selected = PathFilter(include=("aws/**", "!aws/legacy/**", "aws/legacy/keep.yaml"), exclude=("*.draft.yaml",))
    assert selected.selects("aws/s3.yaml")
    assert not selected.selects("aws/legacy/old.yaml")
    assert selected.selects("aws/legacy/keep.yaml")
    assert not selected.selects("aws/s3.draft.yaml")


def test_exclude_wins_and_default_include() -> None:
    selected = PathFilter(exclude=("legacy/**",))
    assert selected.selects("aws/a.yaml")
    assert selected.selects("b.json")
    assert not selected.selects("legacy/a.yaml")
    assert not selected.selects("notes.md")
    assert selected.excluded("legacy/module")


@pytest.mark.parametrize("pattern", ["", "  ", "a//b.yaml", "# a comment", "!"])
def test_invalid_glob_is_a_config_error(pattern: str) -> None:
    with pytest.raises(ConfigError, match="invalid glob pattern"):
        PathFilter(include=(pattern,))
    with pytest.raises(ConfigError, match="invalid glob pattern"):
        RemoteSpec("r", "/tmp/r", include=(pattern,))


# -- diffs ------------------------------------------------------------------------------------


def test_add_modify_delete_rename(served_repo: ServedRepo, make_mirror: MirrorFactory) -> None:
    first = seed(served_repo)
    served_repo.work.write("resources/aws/sqs.yaml", definition("sqs"))
    served_repo.work.write("resources/aws/s3-bucket.yaml", definition("s3-bucket", "1.1.0"))
    served_repo.work.remove("resources/gcp/gcs.json")
    served_repo.work.rename("resources/aws/rds/postgres.yml", "resources/databases/postgres.yaml")
    served_repo.work.write("resources/README.md", "# changed, but not selected\n")
    second = served_repo.publish("all kinds of change")
    mirror = make_mirror(str(served_repo.bare), path="resources")
    mirror.fetch()

    expected = TreeDiff(
        added=["resources/aws/sqs.yaml"],
        modified=["resources/aws/s3-bucket.yaml"],
        deleted=["resources/gcp/gcs.json"],
        renamed=[("resources/aws/rds/postgres.yml", "resources/databases/postgres.yaml")],
        blobs=mirror.diff(mirror.snapshot(first), second).blobs,
    )
    assert mirror.diff(mirror.snapshot(first), second) == expected
    assert mirror.diff_commits(first, second) == expected
    new_files = mirror.snapshot(second)
    assert expected.blobs == {
        path: new_files[path]
        for path in ["resources/aws/sqs.yaml", "resources/aws/s3-bucket.yaml", "resources/databases/postgres.yaml"]
    }
    assert expected.apply(mirror.snapshot(first)) == new_files
    assert mirror.diff_commits(second, second) == TreeDiff()
    assert mirror.diff(new_files, second).is_empty


def test_rename_with_an_edit_is_a_delete_and_an_add(served_repo: ServedRepo, make_mirror: MirrorFactory) -> None:
    first = seed(served_repo)
    served_repo.work.rename("resources/aws/s3-bucket.yaml", "resources/aws/bucket.yaml")
    served_repo.work.write("resources/aws/bucket.yaml", definition("s3-bucket", "1.0.1"))
    second = served_repo.publish("rename and edit")
    mirror = make_mirror(str(served_repo.bare), path="resources")
    mirror.fetch()
    for diff in (mirror.diff(mirror.snapshot(first), second), mirror.diff_commits(first, second)):
        assert (diff.added, diff.deleted, diff.renamed) == (
            ["resources/aws/bucket.yaml"],
            ["resources/aws/s3-bucket.yaml"],
            [],
        )


def test_renames_out_of_the_globs_and_identical_copies(served_repo: ServedRepo, make_mirror: MirrorFactory) -> None:
    first = seed(served_repo)
    served_repo.work.rename("resources/aws/s3-bucket.yaml", "resources/aws/s3-bucket.yaml.disabled")
    served_repo.work.write("resources/gcp/copy-a.json", '{"metadata": {"name": "gcs"}}\n')
    served_repo.work.write("resources/gcp/copy-b.json", '{"metadata": {"name": "gcs"}}\n')
    served_repo.work.remove("resources/gcp/gcs.json")
    second = served_repo.publish("disable one, copy another")
    mirror = make_mirror(str(served_repo.bare), path="resources")
    mirror.fetch()
    for diff in (mirror.diff(mirror.snapshot(first), second), mirror.diff_commits(first, second)):
        assert diff.deleted == ["resources/aws/s3-bucket.yaml"]
        assert diff.renamed == [("resources/gcp/gcs.json", "resources/gcp/copy-a.json")]
        assert diff.added == ["resources/gcp/copy-b.json"]


def test_mode_only_change_is_not_a_modification(served_repo: ServedRepo, make_mirror: MirrorFactory) -> None:
    first = seed(served_repo)
    (served_repo.work.path / "resources/aws/s3-bucket.yaml").chmod(0o755)
    second = served_repo.publish("make it executable")
    mirror = make_mirror(str(served_repo.bare), path="resources")
    mirror.fetch()
    assert mirror.diff_commits(first, second).is_empty
    assert mirror.diff(mirror.snapshot(first), second).is_empty


def test_diff_against_files_outside_the_scope_deletes_them(served_repo: ServedRepo, make_mirror: MirrorFactory) -> None:
    """After a config change (a new ``path``), stored files outside the new scope are withdrawn."""
    head = seed(served_repo)
    mirror = make_mirror(str(served_repo.bare), path="resources/gcp")
    mirror.fetch()
    stored = dict.fromkeys(SEEDED, "0" * 40)
    diff = mirror.diff(stored, head)
    assert diff.deleted == ["resources/aws/rds/postgres.yml", "resources/aws/s3-bucket.yaml"]
    assert diff.modified == ["resources/gcp/gcs.json"]


def test_symlinks_and_submodules_are_skipped(served_repo: ServedRepo, make_mirror: MirrorFactory) -> None:
    first = seed(served_repo)
    served_repo.work.symlink("resources/aws/link.yaml", "s3-bucket.yaml")
    served_repo.work.symlink("resources/escape.yaml", "../../../etc/passwd")
    served_repo.work.symlink("resources/notes.md", "README.md")
    served_repo.work.add_submodule_entry("resources/vendor/modules", first)
    second = served_repo.publish("links and a submodule")
    mirror = make_mirror(str(served_repo.bare), path="resources")
    mirror.fetch()

    assert sorted(mirror.snapshot(second)) == SEEDED
    expected = [
        SkippedEntry("resources/aws/link.yaml", "symlink", "symlinks are never followed"),
        SkippedEntry("resources/escape.yaml", "symlink", "symlinks are never followed"),
        SkippedEntry("resources/vendor/modules", "submodule", "submodules are not fetched"),
    ]
    assert mirror.skipped(second) == expected
    full = mirror.diff(mirror.snapshot(first), second)
    assert full.is_empty
    assert full.skipped == expected
    assert mirror.diff_commits(first, second).skipped == expected
    assert mirror.diff_commits(second, second).skipped == []
    with pytest.raises(SyncError, match="is not a regular file"):
        mirror.read_file(second, "resources/aws/link.yaml")


def test_a_file_replaced_by_a_symlink_is_deleted_and_skipped(
    served_repo: ServedRepo, make_mirror: MirrorFactory
) -> None:
    first = seed(served_repo)
    (served_repo.work.path / "resources/aws/s3-bucket.yaml").unlink()
    served_repo.work.symlink("resources/aws/s3-bucket.yaml", "/etc/hostname")
    second = served_repo.publish("file to symlink")
    mirror = make_mirror(str(served_repo.bare), path="resources")
    mirror.fetch()
    for diff in (mirror.diff(mirror.snapshot(first), second), mirror.diff_commits(first, second)):
        assert diff.deleted == ["resources/aws/s3-bucket.yaml"]
        assert [entry.path for entry in diff.skipped] == ["resources/aws/s3-bucket.yaml"]


def test_source_folder_that_is_a_symlink(served_repo: ServedRepo, make_mirror: MirrorFactory) -> None:
    seed(served_repo)
    served_repo.work.symlink("defs", "resources")
    head = served_repo.publish("alias the folder")
    mirror = make_mirror(str(served_repo.bare), path="defs")
    mirror.fetch()
    assert mirror.snapshot(head) == {}
    assert mirror.skipped(head)[0].path == "defs"
    assert mirror.skipped(head)[0].kind == "symlink"


@st.composite
def edit_sequences(draw: st.DrawFn) -> list[list[tuple[str, str, str]]]:
    """Commits of random edits over a small tree: (op, path, arg) with op in write/remove/rename."""
    names = st.sampled_from(["a.yaml", "b.yaml", "x/c.yaml", "x/y/d.yml", "z/e.json", "notes.md", "x/f.txt"])
    contents = st.sampled_from(["one", "two", "three"])
    commits = []
    for _ in range(draw(st.integers(min_value=2, max_value=4))):
        ops = draw(
            st.lists(
                st.one_of(
                    st.tuples(st.just("write"), names, contents),
                    st.tuples(st.just("remove"), names, st.just("")),
                    st.tuples(st.just("rename"), names, names),
                ),
                min_size=1,
                max_size=4,
            )
        )
        commits.append(ops)
    return commits


def _apply(repo: GitRepo, ops: list[tuple[str, str, str]]) -> None:
    for op, path, arg in ops:
        target = repo.path / path
        if op == "write":
            repo.write(path, arg + "\n")
        elif op == "remove" and target.exists():
            target.unlink()
        elif op == "rename" and target.exists() and not (repo.path / arg).exists() and path != arg:
            (repo.path / arg).parent.mkdir(parents=True, exist_ok=True)
            target.rename(repo.path / arg)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=edit_sequences(), path=st.sampled_from(["", "x"]))
def test_diff_commits_agrees_with_snapshot_diff(sequence: list[list[tuple[str, str, str]]], path: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repo = GitRepo.init(Path(tmp) / "work")
        commits = []
        for index, ops in enumerate(sequence):
            _apply(repo, ops)
            commits.append(repo.commit(f"edit {index}", allow_empty=True))
        with GitMirror(RemoteSpec("prop", str(repo.path), path=path), Path(tmp) / "mirror.git") as mirror:
            mirror.fetch()
            for old in commits:
                for new in commits:
                    by_snapshot = mirror.diff(mirror.snapshot(old), new)
                    by_tree = mirror.diff_commits(old, new)
                    assert (by_tree.added, by_tree.modified, by_tree.deleted, by_tree.renamed) == (
                        by_snapshot.added,
                        by_snapshot.modified,
                        by_snapshot.deleted,
                        by_snapshot.renamed,
                    )
                    assert by_tree.blobs == by_snapshot.blobs
                    assert by_tree.apply(mirror.snapshot(old)) == mirror.snapshot(new)


# -- reading ----------------------------------------------------------------------------------


def test_commit_info(served_repo: ServedRepo, make_mirror: MirrorFactory) -> None:
    first = seed(served_repo)
    served_repo.work.write("resources/aws/sqs.yaml", definition("sqs"))
    when = datetime(2024, 5, 17, 12, 30, 5, tzinfo=UTC)
    second = served_repo.publish("Add sqs\n\nWith a body.", author_email="alice@example.com", when=when)
    mirror = make_mirror(str(served_repo.bare))
    mirror.fetch()
    info = mirror.commit_info(second)
    assert (info.sha, info.author_name, info.author_email) == (second, "Platform Team", "alice@example.com")
    assert info.committed_at == when
    assert info.committed_at.tzinfo is UTC
    assert (info.message, info.summary) == ("Add sqs\n\nWith a body.", "Add sqs")
    assert info.parents == (first,)
    assert info.tree == served_repo.work.run("rev-parse", f"{second}^{{tree}}").strip()


def test_read_blob_and_file_with_size_guard(served_repo: ServedRepo, make_mirror: MirrorFactory) -> None:
    head = seed(served_repo)
    mirror = make_mirror(str(served_repo.bare), path="resources")
    mirror.fetch()
    blob = mirror.snapshot(head)["resources/aws/s3-bucket.yaml"]
    content = definition("s3-bucket").encode()
    assert mirror.read_blob(blob) == content
    assert mirror.read_blob(blob, max_size=len(content)) == content
    with pytest.raises(PayloadTooLarge, match=rf"is {len(content)} bytes, over the 10 limit") as caught:
        mirror.read_blob(blob, max_size=10)
    assert caught.value.details["size"] == len(content)
    assert mirror.read_file(head, "resources/aws/s3-bucket.yaml") == content
    with pytest.raises(PayloadTooLarge, match="over the 10 limit"):
        mirror.read_file(head, "resources/aws/s3-bucket.yaml", max_size=10)
    with pytest.raises(SyncError, match=r"no file 'resources/nope\.yaml'"):
        mirror.read_file(head, "resources/nope.yaml")
    with pytest.raises(SyncError, match=r"no file 'top\.yaml/x'"):
        mirror.read_file(head, "top.yaml/x")
    with pytest.raises(SyncError, match="is not a regular file"):
        mirror.read_file(head, "resources/aws")
    with pytest.raises(SyncError, match="is a commit, not a blob"):
        mirror.read_blob(head)
    with pytest.raises(SyncError, match="is a blob, not a commit"):
        mirror.commit_info(blob)
    with pytest.raises(SyncError, match=r"commit 0{40} is not in the mirror"):
        mirror.snapshot("0" * 40)
    with pytest.raises(SyncError, match="'HEAD' is not a commit sha"):
        mirror.commit_info("HEAD")
    assert mirror.commit_info(head.upper()).sha == head
    assert mirror.snapshot(head.upper()) == mirror.snapshot(head)


# -- configuration ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_path", "normalized"),
    [("resources/", "resources"), ("/resources", "resources"), ("./a/./b/", "a/b"), ("", ""), ("/", ""), (".", "")],
)
def test_source_path_is_normalized(given_path: str, normalized: str) -> None:
    assert RemoteSpec("r", "/tmp/r", path=given_path).path == normalized


def test_spec_validation() -> None:
    spec = RemoteSpec("r", "/tmp/r", branch="refs/heads/release/2024", include=[])  # type: ignore[arg-type]
    assert (spec.branch, spec.ref, spec.include) == ("release/2024", "refs/heads/release/2024", spec.include)
    assert spec.include == ("**/*.yaml", "**/*.yml", "**/*.json")
    with pytest.raises(ConfigError, match="must stay inside the repository"):
        RemoteSpec("r", "/tmp/r", path="../elsewhere")
    with pytest.raises(ConfigError, match=r"invalid git branch name 'bad\.\.name'"):
        RemoteSpec("r", "/tmp/r", branch="bad..name")
    with pytest.raises(ConfigError, match="needs a url"):
        RemoteSpec("r", " ")
    with pytest.raises(ConfigError, match="needs a name"):
        RemoteSpec("", "/tmp/r")


def test_auth_repr_masks_the_token() -> None:
    auth = GitAuth(token="super-secret", username="bot", ssh_key_path=Path("/keys/id"))
    assert "super-secret" not in repr(auth)
    assert "super-secret" not in str(auth)
    assert "super-secret" not in repr(RemoteSpec("r", "https://example.com/r.git", auth=auth))
    assert repr(auth).startswith("GitAuth(token='***', username='bot'")
    assert "token=None" in repr(GitAuth())


@pytest.mark.parametrize(
    ("url", "kind", "location", "path"),
    [
        (
            "https://github.com/company/platform-resources.git",
            "http",
            "https://github.com/",
            "/company/platform-resources.git",
        ),
        ("http://127.0.0.1:8080/r.git", "http", "http://127.0.0.1:8080/", "/r.git"),
        ("ssh://git@github.com:2222/company/r.git", "ssh", "github.com", "/company/r.git"),
        ("git@github.com:company/r.git", "ssh", "github.com", "company/r.git"),
        ("git://git.example.com/r.git", "git", "git.example.com", "/r.git"),
        ("file:///srv/git/r.git", "local", "/srv/git/r.git", ""),
        ("/srv/git/r.git", "local", "/srv/git/r.git", ""),
        ("./relative/r:x", "local", "relative/r:x", ""),
    ],
)
def test_remote_classification(url: str, kind: str, location: str, path: str) -> None:
    remote = parse_remote(url)
    assert (remote.kind, remote.location, remote.path) == (kind, location, path)


def test_unsupported_scheme_is_a_config_error(make_mirror: MirrorFactory) -> None:
    with pytest.raises(ConfigError, match="unsupported git URL scheme 'ftp'"):
        parse_remote("ftp://example.com/r.git")
    with pytest.raises(SyncError, match="unsupported git URL scheme") as caught:
        make_mirror("ftp://example.com/r.git").fetch()
    assert caught.value.details["reason"] == "config"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://token123@github.com/r.git", "https://***@github.com/r.git"),
        ("https://bot:token123@github.com/r.git", "https://***@github.com/r.git"),
        ("ssh://git@github.com/r.git", "ssh://git@github.com/r.git"),
        ("ssh://git:pw@github.com/r.git", "ssh://git:***@github.com/r.git"),
        ("https://github.com/r.git", "https://github.com/r.git"),
        ("git@github.com:r.git", "git@github.com:r.git"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_ssh_command_is_batch_mode_with_strict_host_keys(tmp_path: Path) -> None:
    auth = GitAuth(ssh_key_path=tmp_path / "id_ed25519", known_hosts_path=tmp_path / "known_hosts")
    argv = BatchSSHVendor(auth, connect_timeout=7).command("git.example.com", "git", 2222)
    joined = " ".join(argv)
    assert argv[0] == "ssh"
    assert argv[-1] == "git@git.example.com"
    for option in (
        "-o BatchMode=yes",
        "-o StrictHostKeyChecking=yes",
        f"-o UserKnownHostsFile={tmp_path / 'known_hosts'}",
        f"-i {tmp_path / 'id_ed25519'}",
        "-o IdentitiesOnly=yes",
        "-o ConnectTimeout=7",
        "-p 2222",
    ):
        assert option in joined
    with pytest.raises(ConfigError, match="suspicious SSH host"):
        BatchSSHVendor(GitAuth(), 5).command("-oProxyCommand=evil")


@pytest.mark.timeout(30)
def test_ssh_with_unknown_host_key_fails_without_prompting(tmp_path: Path, make_mirror: MirrorFactory) -> None:
    """A real sshd is not available here; a listener that is not ssh stands in for a host whose
    key cannot be verified: ssh must fail at once in batch mode rather than wait for a prompt."""
    if shutil.which("ssh") is None:
        pytest.fail("the ssh client is required")
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def answer() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.sendall(b"SSH-2.0-OpenSSH_9.0\r\n")
                conn.recv(1024)

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        known_hosts = tmp_path / "known_hosts"
        known_hosts.write_text("")
        key = tmp_path / "id_ed25519"
        key.write_text("not really a key\n")
        key.chmod(0o600)
        auth = GitAuth(ssh_key_path=key, known_hosts_path=known_hosts)
        with pytest.raises(SyncError, match="cannot fetch") as caught:
            make_mirror(f"ssh://git@127.0.0.1:{port}/r.git", auth=auth, timeout=5).fetch()
        thread.join(timeout=5)
    assert caught.value.details["reason"] in {"protocol", "auth_failed", "unreachable"}


def test_missing_ssh_key_file_is_reported_before_connecting(tmp_path: Path, make_mirror: MirrorFactory) -> None:
    auth = GitAuth(ssh_key_path=tmp_path / "absent", known_hosts_path=tmp_path / "known_hosts")
    with pytest.raises(SyncError, match=r"the SSH key file '.*absent' does not exist") as caught:
        make_mirror("git@git.example.com:company/r.git", auth=auth).fetch()
    assert caught.value.details["reason"] == "config"


def test_git_cli_can_push_through_the_daemon(
    served_repo: ServedRepo, git_daemon_url: str, make_mirror: MirrorFactory
) -> None:
    """The daemon fixture has receive-pack enabled: e2e tests can push over git:// too."""
    served_repo.work.write("resources/a.yaml", definition("a"))
    head = served_repo.work.commit("over the wire")
    served_repo.work.push(served_repo.url(git_daemon_url))
    assert make_mirror(served_repo.url(git_daemon_url)).fetch().head == head


def test_git_clone_through_smart_http(served_repo: ServedRepo, smart_http_token_url: str, tmp_path: Path) -> None:
    """The smart-HTTP fixture is a real git server: the git CLI clones through it with the token."""
    head = seed(served_repo)
    url = served_repo.url(smart_http_token_url.replace("http://", f"http://bot:{HTTP_TOKEN}@"))
    git("clone", "-q", "--bare", url, str(tmp_path / "clone.git"))
    assert git("rev-parse", "main", cwd=tmp_path / "clone.git").strip() == head
    denied = subprocess.run(
        ["git", "ls-remote", served_repo.url(smart_http_token_url)],
        capture_output=True,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "", "SSH_ASKPASS": ""},
        check=False,
    )
    assert denied.returncode != 0


def test_init_bare_helper_makes_a_bare_repository(tmp_path: Path) -> None:
    bare = init_bare(tmp_path / "x.git")
    assert git("rev-parse", "--is-bare-repository", cwd=bare).strip() == "true"


# -- .nestorignore and hidden entries, as the loader's walk reads a checkout -----------------


def test_snapshot_reads_the_tree_as_validate_reads_a_checkout(
    served_repo: ServedRepo, make_mirror: MirrorFactory, tmp_path: Path
) -> None:
    seed(served_repo)
    served_repo.work.write("resources/.nestorignore", "fixtures/*.yaml\n*.wip.yaml\n!keep.wip.yaml\n")
    served_repo.work.write("resources/fixtures/a.yaml", definition("fixture-a"))
    served_repo.work.write("resources/fixtures/sub/b.yaml", definition("fixture-b"))
    served_repo.work.write("resources/aws/draft.wip.yaml", definition("draft"))
    served_repo.work.write("resources/aws/keep.wip.yaml", definition("keep"))
    served_repo.work.write("resources/aws/.hidden.yaml", definition("hidden"))
    served_repo.work.write("resources/.github/workflows/ci.yml", "on: push\n")
    served_repo.work.write("resources/gcp/.nestorignore", "gcs.json\n")
    head = served_repo.publish("ignore files")
    mirror = make_mirror(str(served_repo.bare), path="resources")
    mirror.fetch()
    synced = sorted(mirror.snapshot(head))
    assert synced == [
        "resources/aws/keep.wip.yaml",
        "resources/aws/rds/postgres.yml",
        "resources/aws/s3-bucket.yaml",
        "resources/fixtures/sub/b.yaml",
    ]
    # the same files the loader's walk of a checkout reads
    checkout = tmp_path / "checkout"
    subprocess.run(["git", "clone", "-q", str(served_repo.bare), str(checkout)], check=True)
    walked = sorted(path.relative_to(checkout).as_posix() for path in discover([checkout / "resources"]))
    assert walked == synced


def test_diff_commits_follows_ignore_files(served_repo: ServedRepo, make_mirror: MirrorFactory) -> None:
    first = seed(served_repo)
    served_repo.work.write("resources/.nestorignore", "drafts/\n")
    served_repo.work.write("resources/drafts/wip.yaml", definition("wip"))
    second = served_repo.publish("drafts, ignored")
    served_repo.work.write("resources/drafts/wip.yaml", definition("wip", "1.1.0"))
    served_repo.work.write("resources/aws/sqs.yaml", definition("sqs"))
    third = served_repo.publish("an ignored edit and a real one")
    served_repo.work.write("resources/.nestorignore", "aws/rds/\n")
    fourth = served_repo.publish("the ignore file changed")
    mirror = make_mirror(str(served_repo.bare), path="resources")
    mirror.fetch()
    for old, new in ((first, second), (second, third), (third, fourth), (first, fourth)):
        assert mirror.diff_commits(old, new) == mirror.diff(mirror.snapshot(old), new), (old, new)
    assert mirror.diff_commits(first, second).is_empty
    assert mirror.diff_commits(second, third).added == ["resources/aws/sqs.yaml"]
    changed = mirror.diff_commits(third, fourth)
    assert changed.added == ["resources/drafts/wip.yaml"]
    assert changed.deleted == ["resources/aws/rds/postgres.yml"]
