"""Real git repositories and git servers for tests, driven by the ``git`` CLI.

``GitRepo`` wraps a working repository made with ``git init -b main``; ``init_bare`` makes the
bare "remote" a test pushes to. ``git_daemon`` serves a folder of bare repositories over
``git://`` with the real ``git daemon``; ``smart_http`` serves the same folder over smart HTTP
by running the real ``git http-backend`` CGI behind a small threaded HTTP server on loopback,
optionally behind Basic auth so token authentication can be tested. Both are context managers
yielding a base URL ending in ``/``: the repository ``<base_dir>/team.git`` is
``<url>team.git``. Every git command runs with an isolated configuration (no system or global
config, no prompts) so tests behave the same on every machine.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

__all__ = [
    "GitCommandError",
    "GitRepo",
    "ServedRepo",
    "free_port",
    "git",
    "git_daemon",
    "git_env",
    "init_bare",
    "smart_http",
]

GIT = shutil.which("git") or "git"
_STARTUP_TIMEOUT = 10.0


class GitCommandError(RuntimeError):
    """A git command exited with an error; the message carries its stderr."""


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment every git command runs with: no user or system config, never a prompt."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env.update(
        {
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_NAME": "Platform Team",
            "GIT_AUTHOR_EMAIL": "platform@example.com",
            "GIT_COMMITTER_NAME": "Platform Team",
            "GIT_COMMITTER_EMAIL": "platform@example.com",
            "LC_ALL": "C",
        }
    )
    env.update(extra or {})
    return env


def git(*args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None, stdin: bytes | None = None) -> str:
    """Run ``git args...`` and return its stdout; raise ``GitCommandError`` with stderr on failure."""
    proc = subprocess.run(
        [GIT, "-c", "commit.gpgsign=false", "-c", "protocol.file.allow=always", *args],
        cwd=cwd,
        env=git_env(env),
        input=stdin,
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        raise GitCommandError(
            f"git {' '.join(args)} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}"
        )
    return proc.stdout.decode("utf-8", errors="replace")


def init_bare(path: Path, *, branch: str = "main") -> Path:
    """Create an empty bare repository at ``path`` (the remote tests push to) and return it.

    Like a hosting service, it lets a push delete its default branch.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    git("init", "-q", "--bare", "-b", branch, str(path))
    git("config", "receive.denyDeleteCurrent", "ignore", cwd=path)
    return path


@dataclass
class GitRepo:
    """A working repository driven by the real ``git`` CLI; paths are POSIX, relative to the root."""

    path: Path
    branch: str = "main"

    @classmethod
    def init(cls, path: Path, *, branch: str = "main") -> GitRepo:
        path.mkdir(parents=True, exist_ok=True)
        git("init", "-q", "-b", branch, str(path))
        return cls(path, branch)

    def run(self, *args: str, env: Mapping[str, str] | None = None, stdin: bytes | None = None) -> str:
        return git(*args, cwd=self.path, env=env, stdin=stdin)

    def write(self, rel: str, text: str) -> Path:
        return self.write_bytes(rel, text.encode("utf-8"))

    def write_bytes(self, rel: str, data: bytes) -> Path:
        target = self.path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_symlink():
            target.unlink()
        target.write_bytes(data)
        return target

    def remove(self, rel: str) -> None:
        self.run("rm", "-q", "-r", "--", rel)

    def rename(self, old: str, new: str) -> None:
        (self.path / new).parent.mkdir(parents=True, exist_ok=True)
        self.run("mv", "--", old, new)

    def symlink(self, rel: str, target: str) -> None:
        """Add a symlink ``rel -> target`` (git mode 120000)."""
        link = self.path / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target)

    def add_submodule_entry(self, rel: str, commit_sha: str) -> None:
        """Stage a gitlink (mode 160000), what ``git submodule add`` records, without cloning anything
        (its folder stays empty, as an uninitialized submodule's does)."""
        self.run("update-index", "--add", "--cacheinfo", f"160000,{commit_sha},{rel}")
        (self.path / rel).mkdir(parents=True, exist_ok=True)

    def commit(
        self,
        message: str,
        *,
        author_email: str = "platform@example.com",
        author_name: str = "Platform Team",
        when: datetime | None = None,
        allow_empty: bool = False,
    ) -> str:
        """Stage everything and commit; return the new commit sha."""
        self.run("add", "-A")
        env = {"GIT_AUTHOR_EMAIL": author_email, "GIT_AUTHOR_NAME": author_name}
        if when is not None:
            stamp = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
            env |= {"GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
        args = ["commit", "-q", "-m", message]
        if allow_empty:
            args.append("--allow-empty")
        self.run(*args, env=env)
        return self.head()

    def head(self) -> str:
        return self.run("rev-parse", "HEAD").strip()

    def reset_hard(self, ref: str) -> None:
        """Move the branch to ``ref`` (e.g. ``HEAD~1``): with a new commit and a forced push this
        rewrites the remote's history, as a force-push does."""
        self.run("reset", "-q", "--hard", ref)

    def push(self, remote: Path | str, *, force: bool = False, branch: str | None = None) -> None:
        """Push HEAD to ``refs/heads/<branch>`` of ``remote`` (a path or a URL)."""
        args = ["push", "-q"]
        if force:
            args.append("--force")
        self.run(*args, str(remote), f"HEAD:refs/heads/{branch or self.branch}")

    def delete_remote_branch(self, remote: Path | str, branch: str | None = None) -> None:
        self.run("push", "-q", str(remote), f":refs/heads/{branch or self.branch}")


@dataclass
class ServedRepo:
    """A working repository and the bare repository it pushes to, ``served_root/<name>``; serve
    ``served_root`` with ``git_daemon`` or ``smart_http`` and the repository is ``<url><name>``."""

    work: GitRepo
    bare: Path
    name: str

    @classmethod
    def create(cls, served_root: Path, work_root: Path, name: str, *, branch: str = "main") -> ServedRepo:
        bare = init_bare(served_root / name, branch=branch)
        return cls(GitRepo.init(work_root / name.removesuffix(".git"), branch=branch), bare, name)

    def url(self, base_url: str) -> str:
        return base_url + self.name

    def publish(
        self,
        message: str = "change",
        *,
        force: bool = False,
        author_email: str = "platform@example.com",
        when: datetime | None = None,
        allow_empty: bool = False,
    ) -> str:
        """Commit everything in the working repository and push it; return the commit sha."""
        sha = self.work.commit(message, author_email=author_email, when=when, allow_empty=allow_empty)
        self.work.push(self.bare, force=force)
        return sha


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the caller retries if it is taken before use)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _stop_process_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def _start_daemon(base_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes] | None:
    """Start ``git daemon`` on ``port``; None if it exited (the port was taken meanwhile)."""
    args = [
        GIT,
        "daemon",
        "--reuseaddr",
        f"--base-path={base_dir}",
        "--export-all",
        "--enable=receive-pack",
        "--informative-errors",
        f"--port={port}",
        "--listen=127.0.0.1",
    ]
    with log.open("ab") as log_file:
        proc = subprocess.Popen(
            args, env=git_env(), stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file, start_new_session=True
        )
    deadline = time.monotonic() + _STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return None
        if _accepts(port):
            return proc
        time.sleep(0.02)
    _stop_process_group(proc)
    raise RuntimeError(f"git daemon did not accept connections on port {port}: {log.read_text(errors='replace')}")


@contextlib.contextmanager
def git_daemon(base_dir: Path) -> Iterator[str]:
    """Serve the bare repositories under ``base_dir`` with ``git daemon``; yield ``git://127.0.0.1:<port>/``.

    Pushing is enabled (``receive-pack``) so a test can also push through it. The daemon and
    the children it forked for connections are killed on exit.
    """
    base_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="git-daemon-log-") as log_dir:
        log = Path(log_dir) / "daemon.log"
        for _attempt in range(5):
            port = free_port()
            proc = _start_daemon(base_dir, port, log)
            if proc is not None:
                break
        else:
            raise RuntimeError(f"git daemon failed to start: {log.read_text(errors='replace')}")
        try:
            yield f"git://127.0.0.1:{port}/"
        finally:
            _stop_process_group(proc)


class _GitHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, base_dir: Path, token: str | None, username: str | None, deny: Collection[str]) -> None:
        super().__init__(("127.0.0.1", 0), _GitHTTPHandler)
        self.base_dir = base_dir
        self.token = token
        self.username = username
        self.deny = frozenset(name.strip("/") for name in deny)


class _GitHTTPHandler(BaseHTTPRequestHandler):
    """Runs ``git http-backend`` for each request, as Apache or nginx would through CGI."""

    server: _GitHTTPServer

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _serve(self) -> None:
        if not self._authorized():
            self._reply(401, {"WWW-Authenticate": 'Basic realm="git"'}, b"authentication required\n")
            return
        path, _, query = self.path.partition("?")
        if path.strip("/").split("/", 1)[0] in self.server.deny:
            self._reply(403, {}, b"forbidden\n")
            return
        status, headers, body = self._run_backend(path, query, self._read_body())
        self._reply(status, headers, body)

    def _authorized(self) -> bool:
        if self.server.token is None:
            return True
        header = self.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode("utf-8").partition(":")
        except ValueError:
            return False
        user_ok = self.server.username is None or hmac.compare_digest(user, self.server.username)
        return user_ok and hmac.compare_digest(password, self.server.token)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _run_backend(self, path: str, query: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        env = {
            "GIT_PROJECT_ROOT": str(self.server.base_dir),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_USER": "git" if self.server.token else "",
            "SERVER_PROTOCOL": "HTTP/1.1",
        }
        if self.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        proc = subprocess.run([GIT, "http-backend"], input=body, env=git_env(env), capture_output=True, check=False)
        head, _, payload = proc.stdout.partition(b"\r\n\r\n")
        status = 200
        headers: dict[str, str] = {}
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers[name.strip()] = value.strip()
        return status, headers, payload

    def _reply(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            if name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextlib.contextmanager
def smart_http(
    base_dir: Path, *, token: str | None = None, username: str | None = None, deny: Collection[str] = ()
) -> Iterator[str]:
    """Serve the bare repositories under ``base_dir`` over smart HTTP; yield ``http://127.0.0.1:<port>/``.

    With ``token``, every request needs Basic auth whose password is the token (and whose user
    is ``username`` when given), else 401 with ``WWW-Authenticate``, as GitHub and GitLab answer.
    Repositories named in ``deny`` (``"team.git"``) answer 403, like a token without access.
    """
    base_dir.mkdir(parents=True, exist_ok=True)
    server = _GitHTTPServer(base_dir, token, username, deny)
    thread = threading.Thread(target=server.serve_forever, name="git-smart-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
