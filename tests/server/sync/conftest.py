"""Real git servers for the sync tests: one ``git daemon`` and two smart-HTTP servers (open and
token-protected) per session, all serving the same folder of bare repositories; each test
makes its own uniquely named repository in it with ``served_repo``."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nestor_catalog_server.sync.git import GitMirror, RemoteSpec
from tests.support.git import ServedRepo, git_daemon, smart_http

HTTP_TOKEN = "ghp-test-token-0123456789"
FORBIDDEN_REPO = "forbidden.git"

_counter = itertools.count()


@pytest.fixture(scope="session")
def served_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("git-served")


@pytest.fixture(scope="session")
def git_daemon_url(served_root: Path) -> Iterator[str]:
    with git_daemon(served_root) as url:
        yield url


@pytest.fixture(scope="session")
def smart_http_url(served_root: Path) -> Iterator[str]:
    with smart_http(served_root) as url:
        yield url


@pytest.fixture(scope="session")
def smart_http_token_url(served_root: Path) -> Iterator[str]:
    """Smart HTTP that needs Basic auth with ``HTTP_TOKEN`` as password; ``FORBIDDEN_REPO`` answers 403."""
    with smart_http(served_root, token=HTTP_TOKEN, deny=[FORBIDDEN_REPO]) as url:
        yield url


@pytest.fixture
def served_repo(served_root: Path, tmp_path: Path) -> ServedRepo:
    """A fresh working repository and its bare remote under ``served_root`` (no commit yet)."""
    return ServedRepo.create(served_root, tmp_path / "work", f"repo-{next(_counter)}.git")


MirrorFactory = Callable[..., GitMirror]


@pytest.fixture
def make_mirror(tmp_path: Path) -> Iterator[MirrorFactory]:
    """``make_mirror(url, **spec_fields)`` -> a ``GitMirror`` under ``tmp_path``, closed after the test.

    ``mirror_dir=`` reuses a mirror folder (a restart); ``timeout``/``lock_timeout``/``max_packs``
    go to ``GitMirror``.
    """
    mirrors: list[GitMirror] = []
    mirror_options = ("timeout", "lock_timeout", "max_packs")

    def make(url: str, *, mirror_dir: Path | None = None, **fields: object) -> GitMirror:
        options = {key: fields.pop(key) for key in mirror_options if key in fields}
        spec = RemoteSpec(name=str(fields.pop("name", "platform-resources")), url=url, **fields)  # type: ignore[arg-type]
        mirror = GitMirror(spec, mirror_dir or tmp_path / "mirrors" / f"m{len(mirrors)}.git", **options)  # type: ignore[arg-type]
        mirrors.append(mirror)
        return mirror

    yield make
    for mirror in mirrors:
        mirror.close()
