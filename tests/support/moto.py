"""moto_server for tests: DynamoDB over real HTTP on a free loopback port.

``MotoServer.start()`` runs moto's own server application (the one the ``moto_server``
executable of ``moto[server]`` runs) in a child process of this interpreter, waits until it
accepts connections and hands out its endpoint URL; ``stop()`` terminates it. ``moto_or_skip``
is what fixtures call: when moto cannot start it fails the test run in CI (``CI=true``) and
skips with the reason elsewhere, never silently.

Why not the bare ``moto_server`` executable: its threaded werkzeug server runs requests in
parallel while moto's DynamoDB backend has no locking, and a cancelled ``TransactWriteItems``
restores a snapshot of the whole table taken when it started, undoing transactions that
committed meanwhile. Under two concurrent writers that loses committed writes and hands out
duplicate counter values (measured: 160 transactions reported committed, 147 present). The
child here serves the same application through the same request handler, keeping threads
and HTTP keep-alive, but lets one request at a time into moto, which gives each transaction
the isolation real DynamoDB guarantees. Run ``python -m tests.support.moto --port N`` from the
repository root to start one by hand.

``AWS_ENV`` holds the dummy credentials and region to use against it (fixtures set them with
``monkeypatch`` for their own scope only); every test should use its own table name
(``unique_table_name``) so tests stay independent on a shared server.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Final

import pytest

__all__ = [
    "AWS_ENV",
    "IN_CI",
    "REGION",
    "MotoServer",
    "MotoUnavailable",
    "moto_or_skip",
    "unique_table_name",
]

ROOT: Final = Path(__file__).resolve().parents[2]
REGION: Final = "us-east-1"
AWS_ENV: Final[dict[str, str]] = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
}
#: In CI a missing service is a failure, never a skip (the same rule as ``tests/conftest.py``).
IN_CI: Final = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
_STARTUP_TIMEOUT: Final = 30.0
_PORT_ATTEMPTS: Final = 5


class MotoUnavailable(RuntimeError):
    """moto_server is not installed or did not start; the message says why."""


def unique_table_name(prefix: str = "nestor-test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class MotoServer:
    """One moto_server child process on ``127.0.0.1``; ``endpoint`` is its base URL."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.process = process
        self.port = port
        self.endpoint = f"http://127.0.0.1:{port}"
        self._log = log

    @classmethod
    def start(cls) -> MotoServer:
        """Start a server on a free port (retrying when the port is taken meanwhile).

        Raises ``MotoUnavailable`` when moto[server] is not installed or never answers.
        """
        _require_moto_server()
        descriptor, name = tempfile.mkstemp(prefix="moto-server-", suffix=".log")
        os.close(descriptor)
        log = Path(name)
        for _attempt in range(_PORT_ATTEMPTS):
            port = _free_port()
            process = _spawn(port, log)
            if _wait_until_accepting(process, port):
                return cls(process, port, log)
            _terminate(process)
        reason = log.read_text(errors="replace").strip()[-2000:]
        log.unlink(missing_ok=True)
        raise MotoUnavailable(f"moto_server did not start after {_PORT_ATTEMPTS} attempts: {reason or 'no output'}")

    def stop(self) -> None:
        _terminate(self.process)
        self._log.unlink(missing_ok=True)

    def __enter__(self) -> MotoServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextlib.contextmanager
def moto_or_skip() -> Iterator[MotoServer]:
    """A running ``MotoServer`` for a fixture; fails in CI and skips elsewhere when moto
    cannot start. The dummy AWS environment is set for the duration only."""
    try:
        server = MotoServer.start()
    except MotoUnavailable as exc:
        if IN_CI:
            pytest.fail(f"moto_server is required in CI (CI=true) but is unavailable: {exc}", pytrace=False)
        pytest.skip(f"moto_server is unavailable, DynamoDB tests skipped: {exc}")
    with server, pytest.MonkeyPatch.context() as patch:
        for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
            patch.delenv(key, raising=False)
        for key, value in AWS_ENV.items():
            patch.setenv(key, value)
        yield server


# -- the parent side -----------------------------------------------------------------------


def _require_moto_server() -> None:
    """moto[server] puts ``moto_server`` next to the interpreter; without it (or without
    werkzeug and flask) the server application cannot run."""
    executable = Path(sys.executable).parent / "moto_server"
    if not executable.exists() and shutil.which("moto_server") is None:
        raise MotoUnavailable(f"moto_server is not installed (no {executable}); install 'moto[server]'")
    try:
        import flask  # noqa: F401
        import moto.server  # noqa: F401
    except ImportError as exc:
        raise MotoUnavailable(f"moto[server] is incomplete: {exc}") from exc


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _spawn(port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **AWS_ENV,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    with log.open("ab") as log_file:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.support.moto",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--parent",
                str(os.getpid()),
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
        )


def _wait_until_accepting(process: subprocess.Popen[bytes], port: int) -> bool:
    deadline = time.monotonic() + _STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


# -- the child side ------------------------------------------------------------------------

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _OneAtATime:
    """A WSGI wrapper letting one request at a time into the application, body included."""

    def __init__(self, app: WSGIApp) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self._lock:
            result = self._app(environ, start_response)
            try:
                return list(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()


def _exit_with_parent(parent: int) -> None:
    """A test run killed outright (SIGKILL, a CI timeout) leaves no server behind."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _serve(host: str, port: int, parent: int | None) -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    app = _OneAtATime(DomainDispatcherApplication(create_backend_app))
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    if parent is not None:
        threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="moto_server with one request at a time inside moto")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--parent", type=int, help="exit when this process (the test run) is gone")
    args = parser.parse_args(argv)
    _serve(args.host, args.port, args.parent)


if __name__ == "__main__":
    main()
