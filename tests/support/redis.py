"""A private ``redis-server`` for tests that stop, kill or restart Redis.

The shared Redis at ``127.0.0.1:6379`` (``REDIS_URL``) must never be stopped, so tests of
outages run their own: ``RedisServer.start()`` launches ``redis-server`` on a free loopback
port, without persistence (``--save "" --appendonly no``: a restart comes back empty, like a
lost cache), in its own process group, logging to a file beside its working directory.
``stop()`` ends it (SIGTERM, then SIGKILL), ``kill()`` is a crash, ``start_again()`` starts a
new one on the same port, so clients configured with ``url`` reconnect by themselves.

``redis_or_skip()`` is what fixtures use: when ``redis-server`` is missing it fails the run in
CI (``CI=true``) and skips elsewhere, never silently.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

__all__ = ["RedisServer", "RedisUnavailable", "redis_or_skip"]

IN_CI: Final = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
_STARTUP_TIMEOUT: Final = 10.0
_STOP_TIMEOUT: Final = 5.0
_PORT_ATTEMPTS: Final = 5


class RedisUnavailable(RuntimeError):
    """``redis-server`` is not installed or did not start; the message says why."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One private ``redis-server`` on ``127.0.0.1:<port>``."""

    def __init__(self, executable: str, port: int, workdir: Path) -> None:
        self.executable = executable
        self.port = port
        self.workdir = workdir
        self.log_path = workdir / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @classmethod
    def start(cls) -> RedisServer:
        """A new server on a free port. Raises ``RedisUnavailable``."""
        executable = shutil.which("redis-server")
        if executable is None:
            raise RedisUnavailable("redis-server is not installed (make tools installs it)")
        workdir = Path(tempfile.mkdtemp(prefix="nestor-redis-"))
        for _attempt in range(_PORT_ATTEMPTS):
            server = cls(executable, _free_port(), workdir)
            if server._launch():
                atexit.register(server.stop)
                return server
        raise RedisUnavailable(f"redis-server did not start: {server.logs()[-2000:] or 'no output'}")

    def start_again(self) -> None:
        """Start a new (empty) server on the same port after ``stop()`` or ``kill()``."""
        if self.running:
            return
        deadline = time.monotonic() + _STARTUP_TIMEOUT
        while not self._launch():
            if time.monotonic() > deadline:
                raise RedisUnavailable(f"redis-server did not restart on {self.port}: {self.logs()[-2000:]}")
            time.sleep(0.1)

    def _launch(self) -> bool:
        args = [
            self.executable,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(self.workdir),
            "--logfile",
            str(self.log_path),
        ]
        self.process = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + _STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            if _answers_ping(self.port):
                return True
            time.sleep(0.02)
        self.kill()
        return False

    def stop(self) -> None:
        """SIGTERM (nothing is saved), then SIGKILL after a few seconds."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL, like a crash."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=_STOP_TIMEOUT)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@contextlib.contextmanager
def redis_or_skip() -> Iterator[RedisServer]:
    """A private running ``RedisServer`` for a fixture; fails in CI and skips elsewhere when
    ``redis-server`` cannot start."""
    try:
        server = RedisServer.start()
    except RedisUnavailable as exc:
        if IN_CI:
            pytest.fail(f"redis-server is required in CI (CI=true) but is unavailable: {exc}", pytrace=False)
        pytest.skip(f"redis-server is unavailable: {exc}")
    try:
        yield server
    finally:
        server.close()
