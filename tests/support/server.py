"""The real nestor-catalog server as a subprocess, for end-to-end tests of every package.

``run_server(config)`` writes the configuration (a mapping, or an existing YAML file) to a
temporary folder, starts ``nestor-catalog serve --config FILE --host 127.0.0.1 --port P`` on a
free port in its own process group, waits until ``/health`` answers 200 and yields a
``ServerHandle``. Everything the process prints goes to ``handle.log_path``; when the server
fails to start, the error carries the tail of that log. On exit the server gets SIGTERM (a
graceful shutdown through the ASGI lifespan), then SIGKILL for the whole process group if it
does not stop in time.

The environment is hermetic: the named overrides of ``config.ENV_OVERRIDES`` (``STORAGE_TYPE``,
``PORT``, ``DATA_DIR``...) and every ``NESTOR_CATALOG__*`` variable of the test runner are removed,
except ``REDIS_URL`` (the project's machines point it at their Redis); pass ``env=`` to set any.
A mapping without ``service.data_dir`` gets one inside the temporary folder, so a test never
writes into the working directory.

    with run_server({"storage": {"type": "memory"}}) as server:
        response = server.client().get("/api/v1/resources")
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from nestor_catalog_server.config import ENV_OVERRIDES, GENERIC_ENV_PREFIX

__all__ = ["ServerHandle", "ServerStartError", "free_port", "run_server", "server_command"]

#: Seconds a server gets to answer /health after it was started.
STARTUP_TIMEOUT = 30.0
#: Seconds a server gets to stop after SIGTERM before its process group is killed.
STOP_TIMEOUT = 15.0
_KEPT_VARIABLES = frozenset({"REDIS_URL"})
_PORT_ATTEMPTS = 4

Verify = ssl.SSLContext | str | bool
ClientCert = str | tuple[str, str] | None


class ServerStartError(RuntimeError):
    """The server process exited or never answered ``/health``; the message holds its log tail."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` right now (``run_server`` retries if it is taken before use)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def server_command() -> list[str]:
    """The ``nestor-catalog`` console script of this interpreter's environment (or an equivalent
    ``python -c`` when the package is not installed with its scripts)."""
    script = Path(sys.executable).with_name("nestor-catalog")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from nestor_catalog_core.cli import main; main(prog_name='nestor-catalog')"]


@dataclass
class ServerHandle:
    """A running server process. ``url`` has no trailing slash (``http://127.0.0.1:8123``)."""

    host: str
    port: int
    scheme: str
    config_path: Path | None
    log_path: Path
    env: dict[str, str]
    args: list[str]
    verify: Verify = True
    cert: ClientCert = None
    startup_timeout: float = STARTUP_TIMEOUT
    process: subprocess.Popen[bytes] = field(init=False)

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    # ----------------------------------------------------------------------------------------- clients

    def ssl_verify(self) -> ssl.SSLContext | bool:
        """What httpx's ``verify=`` takes for the handle's TLS settings: ``verify`` as an
        ``SSLContext`` (a CA bundle path becomes one), with ``cert`` loaded for mTLS."""
        if isinstance(self.verify, ssl.SSLContext):
            return self.verify
        if isinstance(self.verify, str):
            context = ssl.create_default_context(cafile=self.verify)
        elif self.cert is not None:
            context = ssl.create_default_context()
            if not self.verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
        else:
            return self.verify
        if self.cert is not None:
            certfile, keyfile = (self.cert, None) if isinstance(self.cert, str) else self.cert
            context.load_cert_chain(certfile, keyfile)
        return context

    def client(self, **kwargs: Any) -> httpx.Client:
        """An ``httpx.Client`` on ``url`` with the handle's TLS settings (override with kwargs)."""
        options: dict[str, Any] = {"base_url": self.url, "verify": self.ssl_verify(), "timeout": 10.0}
        options.update(kwargs)
        return httpx.Client(**options)

    def async_client(self, **kwargs: Any) -> httpx.AsyncClient:
        options: dict[str, Any] = {"base_url": self.url, "verify": self.ssl_verify(), "timeout": 10.0}
        options.update(kwargs)
        return httpx.AsyncClient(**options)

    # ----------------------------------------------------------------------------------------- logs

    def logs(self) -> str:
        """Everything the process wrote to stdout and stderr so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def json_logs(self) -> list[dict[str, Any]]:
        """The log lines that are JSON objects (``logging.format: json``), parsed."""
        records = []
        for line in self.logs().splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    record = json.loads(line)
                    if isinstance(record, dict):
                        records.append(record)
        return records

    def wait_for_log(self, predicate: Callable[[dict[str, Any]], bool], *, timeout: float = 10.0) -> dict[str, Any]:
        """The first JSON log record for which ``predicate(record)`` is true, waiting for it."""
        deadline = time.monotonic() + timeout
        while True:
            for record in self.json_logs():
                if predicate(record):
                    return record
            if time.monotonic() > deadline:
                raise AssertionError(f"no matching log record within {timeout}s; logs:\n{self._tail()}")
            time.sleep(0.05)

    def _tail(self, lines: int = 60) -> str:
        return "\n".join(self.logs().splitlines()[-lines:])

    # ----------------------------------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Start the process on ``port`` and wait for ``/health``."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*server_command(), "serve", *self.args, "--host", self.host, "--port", str(self.port)],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        with self.client(timeout=2.0) as probe:
            while True:
                code = self.process.poll()
                if code is not None:
                    raise ServerStartError(f"the server exited with status {code} before answering:\n{self._tail()}")
                with contextlib.suppress(httpx.TransportError):
                    if probe.get("/health").status_code == 200:
                        return
                if time.monotonic() > deadline:
                    self.kill()
                    waited = self.startup_timeout
                    raise ServerStartError(f"no answer on {self.url}/health after {waited}s:\n{self._tail()}")
                time.sleep(0.05)

    def wait_ready(self, timeout: float = 30.0) -> dict[str, Any]:
        """Poll ``/ready`` until it answers 200 (first syncs done); returns its body."""
        deadline = time.monotonic() + timeout
        with self.client() as client:
            while True:
                response = client.get("/ready")
                if response.status_code == 200:
                    body: dict[str, Any] = response.json()
                    return body
                if time.monotonic() > deadline:
                    raise AssertionError(f"/ready still {response.status_code} after {timeout}s: {response.text}")
                time.sleep(0.05)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, wait up to ``timeout``, then SIGKILL the process group; returns the exit status."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reap_group()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL the whole process group (the server and its workers), like a crash."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_TIMEOUT)

    def _reap_group(self) -> None:
        """Kill workers left behind by a parent that exited (the group outlives its leader)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def restart(self) -> None:
        """Stop gracefully and start again on the same port with the same configuration."""
        self.stop()
        self.start()


def _hermetic_env(extra: Mapping[str, str] | None, drop: Sequence[str] = ()) -> dict[str, str]:
    stripped = ({override.variable for override in ENV_OVERRIDES} | {"NESTOR_CATALOG_CONFIG"}) - _KEPT_VARIABLES
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in stripped and not key.startswith((GENERIC_ENV_PREFIX, *drop))
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def _write_config(config: Path | str | Mapping[str, Any] | None, folder: Path) -> tuple[Path | None, dict[str, Any]]:
    """The config file to pass and its parsed content (to see whether TLS is on)."""
    if config is None:
        return None, {}
    if isinstance(config, Path | str):
        path = Path(config)
        return path, yaml.safe_load(path.read_text()) or {}
    data = json.loads(json.dumps(config, default=str))
    service = data.setdefault("service", {}) or {}
    data["service"] = service
    service.setdefault("data_dir", str(folder / "data"))
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path, data


def _uses_tls(data: Mapping[str, Any]) -> bool:
    service = data.get("service") or {}
    tls = service.get("tls") or {} if isinstance(service, Mapping) else {}
    return isinstance(tls, Mapping) and bool(tls.get("certfile"))


@contextlib.contextmanager
def run_server(
    config: Path | str | Mapping[str, Any] | None,
    *,
    env: Mapping[str, str] | None = None,
    workdir: Path | None = None,
    host: str = "127.0.0.1",
    args: Sequence[str] = (),
    verify: Verify = True,
    cert: ClientCert = None,
    startup_timeout: float = STARTUP_TIMEOUT,
    drop_env: Sequence[str] = (),
) -> Iterator[ServerHandle]:
    """Run the server with ``config`` until the block ends; see the module docstring.

    ``config=None`` starts it without ``--config``, configured by ``env`` alone (as a container
    is); ``DATA_DIR`` then defaults to a folder inside the temporary folder.

    ``verify``/``cert`` are what the handle's clients (and the health probe) use for HTTPS:
    pass the CA bundle path or an ``ssl.SSLContext``, and a client certificate for mTLS.
    ``args`` are extra ``serve`` options. ``workdir`` keeps the config, data and log there
    instead of a temporary folder removed afterwards. ``drop_env`` lists prefixes of inherited
    variables to leave out (``("AWS_",)``: no credentials at all).
    """
    with contextlib.ExitStack() as stack:
        folder = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="nestor-server-")))
        folder.mkdir(parents=True, exist_ok=True)
        config_path, data = _write_config(config, folder)
        if config_path is None:
            env = {"DATA_DIR": str(folder / "data"), **(env or {})}
        config_args = ["--config", str(config_path)] if config_path is not None else []
        handle: ServerHandle | None = None
        for attempt in range(_PORT_ATTEMPTS):
            handle = ServerHandle(
                host=host,
                port=free_port(host),
                scheme="https" if _uses_tls(data) else "http",
                config_path=config_path,
                log_path=folder / "server.log",
                env=_hermetic_env(env, drop_env),
                args=[*config_args, *args],
                verify=verify,
                cert=cert,
                startup_timeout=startup_timeout,
            )
            try:
                handle.start()
                break
            except ServerStartError as exc:
                handle.stop()
                if "Address already in use" not in str(exc) or attempt == _PORT_ATTEMPTS - 1:
                    raise
        assert handle is not None
        try:
            yield handle
        finally:
            handle.stop()
