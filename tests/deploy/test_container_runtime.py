"""The image's runtime contract without Docker: the server runs as an unprivileged user (uid
10001, as the image's ``USER``) on a read-only root filesystem, writing only to its data volume
and ``/tmp``, configured by environment variables alone.

The test makes that environment with the kernel's own tools: a private mount namespace
(``unshare --mount``) in which every mount is remounted read-only except two bind mounts (the
data directory and the temporary directory), and ``setpriv`` to drop to uid/gid 10001. Inside it
the real ``nestor-catalog serve`` syncs a git repository served by ``git daemon`` and takes a
write through the API; nothing outside the two writable folders can be written.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import IN_CI, ROOT
from tests.server.api.builders import as_yaml, definition
from tests.support.git import ServedRepo, git_daemon
from tests.support.server import free_port, server_command

pytestmark = [pytest.mark.e2e]

UID = GID = 10001
_SCRIPT = r"""
set -eu
mount --bind "$NC_DATA" "$NC_DATA"
mount --bind "$NC_TMP" "$NC_TMP"
if [ -n "$NC_HIDDEN_PARENT" ]; then
  # An ancestor of the interpreter others cannot enter (/root): a world-enterable tmpfs in its place
  # that holds only the one folder the interpreter lives in.
  mount -t tmpfs -o mode=0755 tmpfs "$NC_STAGE"
  mkdir -p "$NC_STAGE/$NC_HIDDEN_CHILD"
  mount --bind "$NC_HIDDEN_PARENT/$NC_HIDDEN_CHILD" "$NC_STAGE/$NC_HIDDEN_CHILD"
  mount --move "$NC_STAGE" "$NC_HIDDEN_PARENT"
fi
awk '{print $2}' /proc/self/mounts | sort -u | while read -r point; do
  case "$point" in
    /proc|/proc/*|/sys|/sys/*|/dev|/dev/*|"$NC_DATA"|"$NC_TMP") ;;
    *) mount -o remount,bind,ro "$point" 2>/dev/null || true ;;
  esac
done
for probe in "$NC_PROBE_ROOT" "$NC_PROBE_REPO"; do
  if touch "$probe" 2>/dev/null; then echo "still writable: $probe" >&2; exit 97; fi
done
exec setpriv --reuid="$NC_UID" --regid="$NC_GID" --clear-groups -- "$@"
"""


def _hidden_ancestor(path: Path) -> tuple[str, str]:
    """The first ancestor of ``path`` others may not enter, and the child of it on the way."""
    parts = path.resolve().parts
    for depth in range(1, len(parts) - 1):
        ancestor = Path(*parts[: depth + 1])
        if not ancestor.stat().st_mode & stat.S_IXOTH:
            return str(ancestor), parts[depth + 1]
    return "", ""


def _namespaces_or_skip() -> None:
    tools = [shutil.which(name) for name in ("unshare", "setpriv", "mount")]
    probe = (
        subprocess.run(["unshare", "--mount", "--propagation", "private", "true"], capture_output=True, check=False)
        if all(tools)
        else None
    )
    if probe is None or probe.returncode != 0:
        reason = "needs root with unshare/setpriv (util-linux) to build a read-only mount namespace"
        if IN_CI:
            pytest.fail(f"{reason}; CI runs as root", pytrace=False)
        pytest.skip(reason)


@contextlib.contextmanager
def _contained_server(env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    """The server in the box; yields its URL, process and log. The box is a folder of its own
    (pytest's are private to root) that uid 10001 can enter."""
    box = Path(tempfile.mkdtemp(prefix="nestor-readonly-"))
    try:
        box.chmod(0o755)
        with _started(box, env) as started:
            yield started
    finally:
        shutil.rmtree(box, ignore_errors=True)


@contextlib.contextmanager
def _started(box: Path, env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    data, tmp, stage = box / "data", box / "tmp", box / "stage"
    for folder in (data, tmp, stage):
        folder.mkdir()
    os.chown(data, UID, GID)
    os.chown(tmp, UID, GID)
    hidden_parent, hidden_child = _hidden_ancestor(Path(sys.base_prefix))
    port = free_port()
    log = box / "server.log"
    full_env = {
        "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
        "HOME": str(data),
        "DATA_DIR": str(data),
        "TMPDIR": str(tmp),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "NC_DATA": str(data),
        "NC_TMP": str(tmp),
        "NC_STAGE": str(stage),
        "NC_HIDDEN_PARENT": hidden_parent,
        "NC_HIDDEN_CHILD": hidden_child,
        "NC_PROBE_ROOT": f"/nestor-ro-probe-{os.getpid()}",
        "NC_PROBE_REPO": str(ROOT / f".nestor-ro-probe-{os.getpid()}"),
        "NC_UID": str(UID),
        "NC_GID": str(GID),
        **env,
    }
    command = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        _SCRIPT,
        "contained",
        *server_command(),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with log.open("ab") as sink:
        process = subprocess.Popen(
            command,
            env=full_env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        yield f"http://127.0.0.1:{port}", process, log
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise AssertionError(f"the contained server exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"not ready after {timeout}s:\n{log.read_text()[-4000:]}")
        time.sleep(0.1)


def test_serves_as_uid_10001_on_a_read_only_root_filesystem(tmp_path: Path) -> None:
    _namespaces_or_skip()
    served, work = tmp_path / "served", tmp_path / "work"
    repo = ServedRepo.create(served, work, "platform-resources.git")
    repo.work.write("resources/queue.yaml", as_yaml(definition("contained-queue")).decode())
    repo.publish("a queue")
    with git_daemon(served) as git_url:
        env = {
            "LOG_FORMAT": "json",
            "NESTOR_CATALOG__GIT__REPOSITORIES__0__URL": repo.url(git_url),
            "NESTOR_CATALOG__GIT__REPOSITORIES__0__PATH": "resources",
        }
        with _contained_server(env) as (url, process, log):
            _wait_ready(url, process, log)
            with httpx.Client(base_url=url, timeout=10) as client:
                assert client.get("/api/v1/resources/contained-queue").status_code == 200
                created = client.post(
                    "/api/v1/resources",
                    content=as_yaml(definition("contained-bucket")),
                    headers={"Content-Type": "text/yaml"},
                )
                assert created.status_code == 201, created.text
                assert client.get("/api/v1/resources/contained-bucket/1.0.0").status_code == 200
            data = log.parent / "data"
            written = list(data.rglob("*"))
            assert (data / "catalog.db").exists()
            assert (data / "mirrors" / "platform-resources.git").is_dir()
            assert {path.stat().st_uid for path in written} == {UID}, "everything is written by the unprivileged user"
            text = log.read_text()
            assert "Read-only file system" not in text
            assert "Permission denied" not in text
    assert not (ROOT / f".nestor-ro-probe-{os.getpid()}").exists()
