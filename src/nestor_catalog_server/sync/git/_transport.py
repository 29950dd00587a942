"""Which dulwich client talks to a remote, and what its failures mean.

``open_client`` picks the transport from the URL (``https``/``http`` smart HTTP with the
token as Basic-auth password, ``ssh://`` and scp-like ``user@host:path`` through the system
``ssh`` in batch mode with strict host-key checking, ``git://``, ``file://`` and plain local
paths). ``to_sync_error`` turns whatever a transport raised into a ``SyncError`` whose
message says what went wrong (unreachable, authentication, not found, timeout) and whose
``details['reason']`` is a stable code a scheduler can act on. No message ever carries the
token or the userinfo of a URL.
"""

from __future__ import annotations

import errno
import re
import socket
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

import urllib3.exceptions
from dulwich.client import (
    GitClient,
    HttpGitClient,
    HTTPUnauthorized,
    LocalGitClient,
    SSHGitClient,
    SSHVendor,
    SubprocessWrapper,
    TCPGitClient,
    TraditionalGitClient,
    default_urllib3_manager,
)
from dulwich.errors import GitProtocolError, HangupException, NotGitRepository
from dulwich.protocol import DEFAULT_GIT_PROTOCOL_VERSION_FETCH, Protocol

from nestor_catalog_core import ConfigError, SyncError

if TYPE_CHECKING:
    from nestor_catalog_server.sync.git._types import GitAuth, RemoteSpec

__all__ = [
    "DEFAULT_TOKEN_USERNAME",
    "BatchSSHVendor",
    "OpenClient",
    "Remote",
    "open_client",
    "parse_remote",
    "redact_url",
    "to_sync_error",
]

#: The Basic-auth user sent with a token when none is configured. GitHub, Gitea and Bitbucket
#: accept any user with a token as password; GitLab wants ``oauth2`` (set ``username``).
DEFAULT_TOKEN_USERNAME = "x-access-token"  # noqa: S105 - a user name, not a secret

_SCP_LIKE = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>[^@/:]+):(?P<path>.+)$")
_SSH_SCHEMES = ("ssh", "git+ssh", "ssh+git")
_NETWORK_ERRNOS = frozenset(
    {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EHOSTDOWN, errno.EADDRNOTAVAIL}
)
_HTTP_STATUS = re.compile(r"unexpected http resp (\d{3})")
_SSH_STDERR_REASONS: Sequence[tuple[str, str, str]] = (
    ("permission denied", "auth_failed", "SSH authentication failed (check the key and its access)"),
    ("host key verification failed", "auth_failed", "the SSH host key is not in known_hosts (or changed)"),
    ("could not resolve hostname", "unreachable", "cannot resolve the host name"),
    ("connection refused", "unreachable", "the host refused the connection"),
    ("connection timed out", "timeout", "connecting to the host timed out"),
    ("operation timed out", "timeout", "connecting to the host timed out"),
    ("no route to host", "unreachable", "no route to the host"),
    ("not found", "not_found", "repository not found"),
    ("does not appear to be a git repository", "not_found", "repository not found"),
    ("does not exist", "not_found", "repository not found"),
)


@dataclass(frozen=True, slots=True)
class Remote:
    """A parsed remote: its transport, where it is, and the credentials found in the URL."""

    kind: str  # "http" | "ssh" | "git" | "local"
    location: str  # base URL (http), host (ssh/git) or filesystem path (local)
    path: str  # repository path on the server ("" for local)
    port: int | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)


def redact_url(url: str) -> str:
    """``url`` safe to show: an http(s) userinfo (often a token) and any password become ``***``;
    an ssh user name (``ssh://git@host/x``) is kept."""
    if "://" not in url:
        return url
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    userinfo, host = parts.netloc.rsplit("@", 1)
    user, has_password, _ = userinfo.partition(":")
    if parts.scheme.lower() in _SSH_SCHEMES:
        if not has_password:
            return url
        shown = f"{user}:***"
    else:
        shown = "***"
    return urlunsplit((parts.scheme, f"{shown}@{host}", parts.path, parts.query, parts.fragment))


def parse_remote(url: str) -> Remote:
    """Classify ``url`` as git itself does: a scheme, else scp-like ``[user@]host:path``, else a path."""
    text = url.strip()
    if not text:
        raise ConfigError("empty git repository URL")
    if "://" in text:
        return _parse_url(text)
    if not text.startswith(("/", ".", "~")) and (match := _SCP_LIKE.match(text)):
        return Remote("ssh", match["host"], match["path"], username=match["user"])
    return Remote("local", str(Path(text).expanduser()), "")


def _parse_url(url: str) -> Remote:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"invalid port in git URL {redact_url(url)!r}") from exc
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    host = parts.hostname or ""
    if scheme == "file":
        return Remote("local", unquote(parts.path), "")
    if not host:
        raise ConfigError(f"git URL {redact_url(url)!r} has no host")
    if scheme in ("http", "https"):
        netloc = host if port is None else f"{host}:{port}"
        if ":" in host:
            netloc = f"[{host}]" if port is None else f"[{host}]:{port}"
        base = urlunsplit((scheme, netloc, "/", "", ""))
        return Remote("http", base, unquote(parts.path) or "/", port, username, password)
    if scheme in _SSH_SCHEMES:
        return Remote("ssh", host, unquote(parts.path), port, username)
    if scheme == "git":
        return Remote("git", host, unquote(parts.path), port)
    raise ConfigError(
        f"unsupported git URL scheme {scheme!r} in {redact_url(url)!r}: use https, http, ssh, git, file or a path"
    )


class _ClosesConnections(TraditionalGitClient):
    """Closes every connection it opened on ``close()``: when a server hangs up before the
    protocol version is negotiated, dulwich raises without closing the connection (a leaked
    socket or ssh process, and a ``ResourceWarning``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._connections: list[Protocol] = []
        super().__init__(*args, **kwargs)

    def _connect(
        self, cmd: bytes, path: str | bytes, protocol_version: int | None = None
    ) -> tuple[Protocol, Callable[[], bool], IO[bytes] | None]:
        proto, can_read, stderr = super()._connect(cmd, path, protocol_version)
        self._connections.append(proto)
        return proto, can_read, stderr

    def close(self) -> None:
        while self._connections:
            self._connections.pop().close()
        super().close()


class _TCPClient(_ClosesConnections, TCPGitClient):
    pass


class _SSHClient(_ClosesConnections, SSHGitClient):
    pass


class _ClosesResponses(urllib3.PoolManager):
    """A pool that closes every response it handed out on ``close()``: dulwich raises on an HTTP
    error status without releasing the response, which would leak its socket until GC."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._responses: list[urllib3.BaseHTTPResponse] = []
        super().__init__(*args, **kwargs)

    def urlopen(  # type: ignore[override]  # PoolManager narrows RequestMethods.urlopen the same way
        self, method: str, url: str, redirect: bool = True, **kw: Any
    ) -> urllib3.BaseHTTPResponse:
        response = super().urlopen(method, url, redirect=redirect, **kw)
        self._responses.append(response)
        return response

    def close(self) -> None:
        while self._responses:
            self._responses.pop().close()
        self.clear()


class _ClosesProxyResponses(_ClosesResponses, urllib3.ProxyManager):
    pass


class BatchSSHVendor(SSHVendor):
    """Runs the system ``ssh`` non-interactively: a key file, strict host-key checking against
    the configured known_hosts, no prompts, bounded connect time, dead-peer detection.

    It remembers the processes it started so ``close()`` reaps them even when dulwich gave up
    on a connection without closing it.
    """

    def __init__(self, auth: GitAuth, connect_timeout: float) -> None:
        self._auth = auth
        self._connect_timeout = max(1, round(connect_timeout))
        self._processes: list[subprocess.Popen[bytes]] = []

    def command(
        self, host: str, username: str | None = None, port: int | None = None, protocol_version: int | None = None
    ) -> list[str]:
        """The ``ssh`` argv (without the remote command) used to reach ``host``."""
        if host.startswith("-") or (username or "").startswith("-"):
            raise ConfigError(f"refusing suspicious SSH host {host!r}")
        args = ["ssh", "-x", "-T", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes"]
        args += ["-o", f"ConnectTimeout={self._connect_timeout}", "-o", "ServerAliveInterval=15"]
        args += ["-o", "ServerAliveCountMax=3"]
        version = DEFAULT_GIT_PROTOCOL_VERSION_FETCH if protocol_version is None else protocol_version
        if version > 0:
            args += ["-o", f"SetEnv GIT_PROTOCOL=version={version}"]
        if self._auth.known_hosts_path is not None:
            args += ["-o", f"UserKnownHostsFile={self._auth.known_hosts_path}"]
        if self._auth.ssh_key_path is not None:
            args += ["-i", str(self._auth.ssh_key_path), "-o", "IdentitiesOnly=yes"]
        if port:
            args += ["-p", str(port)]
        args.append(f"{username}@{host}" if username else host)
        return args

    def run_command(
        self,
        host: str,
        command: bytes,
        username: str | None = None,
        port: int | None = None,
        password: str | None = None,
        key_filename: str | None = None,
        ssh_command: str | None = None,
        protocol_version: int | None = None,
    ) -> SubprocessWrapper:
        if password is not None:
            raise ConfigError("SSH password authentication is not supported: configure an SSH key")
        proc = subprocess.Popen(
            [*self.command(host, username, port, protocol_version), command],
            bufsize=0,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._processes.append(proc)
        return SubprocessWrapper(proc)

    def close(self) -> None:
        for proc in self._processes:
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._processes.clear()


@dataclass
class OpenClient:
    """A dulwich client for one fetch, the path to ask it for, and what to release afterwards."""

    client: GitClient
    path: str
    vendor: BatchSSHVendor | None = None
    pool: _ClosesResponses | None = None

    def close(self) -> None:
        self.client.close()
        if self.vendor is not None:
            self.vendor.close()
        if self.pool is not None:
            self.pool.close()


def _check_ssh_files(auth: GitAuth) -> None:
    for label, path in (("SSH key", auth.ssh_key_path), ("known_hosts", auth.known_hosts_path)):
        if path is not None and not Path(path).is_file():
            raise ConfigError(f"the {label} file {str(path)!r} does not exist or is not a file")


def open_client(spec: RemoteSpec, timeout: float) -> OpenClient:
    """The dulwich client for ``spec.url`` with ``spec.auth`` applied; ``timeout`` bounds HTTP
    requests and SSH connects (``git://`` has no timeout in dulwich: the caller's thread bounds it)."""
    remote = parse_remote(spec.url)
    auth = spec.auth
    if remote.kind == "http":
        username, password = remote.username, remote.password
        if auth.token is not None:
            username, password = auth.username or DEFAULT_TOKEN_USERNAME, auth.token
        pool = default_urllib3_manager(
            None,
            pool_manager_cls=_ClosesResponses,
            proxy_manager_cls=_ClosesProxyResponses,
            base_url=remote.location,
            timeout=timeout,
        )
        assert isinstance(pool, _ClosesResponses)
        http = HttpGitClient(remote.location, pool_manager=pool, username=username, password=password, timeout=timeout)
        return OpenClient(http, remote.path, pool=pool)
    if remote.kind == "ssh":
        _check_ssh_files(auth)
        vendor = BatchSSHVendor(auth, timeout)
        user = remote.username or auth.username
        ssh = _SSHClient(remote.location, port=remote.port, username=user, vendor=vendor)
        return OpenClient(ssh, remote.path, vendor)
    if remote.kind == "git":
        return OpenClient(_TCPClient(remote.location, port=remote.port), remote.path)
    return OpenClient(LocalGitClient(), remote.location)


def _scrub(text: str, secrets: Sequence[str | None]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _http_cause(exc: BaseException) -> tuple[str, str] | None:
    cause = exc.__cause__
    if not isinstance(cause, urllib3.exceptions.HTTPError):
        return None
    reason: Any = getattr(cause, "reason", None) or cause
    if isinstance(reason, urllib3.exceptions.NameResolutionError):
        return "unreachable", "cannot resolve the host name"
    if isinstance(reason, urllib3.exceptions.NewConnectionError):  # before timeouts: it subclasses them
        return "unreachable", "cannot connect to the server (connection refused or no route)"
    if isinstance(reason, urllib3.exceptions.ConnectTimeoutError | urllib3.exceptions.ReadTimeoutError):
        return "timeout", "the server did not answer in time"
    if isinstance(reason, urllib3.exceptions.SSLError):
        return "unreachable", f"TLS failed: {reason}"
    return "unreachable", "cannot connect to the server"


def _http_status(exc: GitProtocolError, spec: RemoteSpec) -> tuple[str, str] | None:
    match = _HTTP_STATUS.search(str(exc))
    if match is None:
        return None
    status = int(match[1])
    if status == 403:
        return "auth_failed", "access denied (HTTP 403): the credentials cannot read this repository"
    if status == 404:
        return "not_found", "repository not found (HTTP 404)"
    if status == 401:
        return _unauthorized(spec)
    return "server_error", f"the server answered HTTP {status}"


def _unauthorized(spec: RemoteSpec) -> tuple[str, str]:
    if spec.auth.token is not None or "@" in spec.url:
        return "auth_failed", "authentication failed (HTTP 401): the server rejected the credentials"
    return "auth_failed", "authentication required (HTTP 401): configure a token for this repository"


def _hangup(exc: HangupException, remote: Remote) -> tuple[str, str]:
    stderr = str(exc) if exc.stderr_lines else ""
    lowered = stderr.lower()
    for needle, reason, explanation in _SSH_STDERR_REASONS:
        if needle in lowered:
            return reason, f"{explanation}: {stderr.strip()}"
    if remote.kind == "git":
        return "not_found", "the server closed the connection (repository missing or not exported?)"
    return "protocol", f"the server closed the connection{': ' + stderr.strip() if stderr else ''}"


def _protocol(exc: GitProtocolError) -> tuple[str, str]:
    text = str(exc)
    lowered = text.lower()
    if any(marker in lowered for marker in ("no such repository", "not exported", "not found", "does not exist")):
        return "not_found", f"repository not found ({text})"
    return "protocol", f"git protocol error: {text}"


def _os_error(exc: OSError) -> tuple[str, str]:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timeout", "the server did not answer in time"
    if isinstance(exc, socket.gaierror):
        return "unreachable", "cannot resolve the host name"
    if isinstance(exc, ConnectionError) or exc.errno in _NETWORK_ERRNOS:
        return "unreachable", f"cannot connect ({exc.strerror or exc})"
    return "failed", f"I/O error: {exc}"


def _classify(exc: BaseException, spec: RemoteSpec, remote: Remote) -> tuple[str, str]:
    if isinstance(exc, SyncError | ConfigError):
        return str(exc.details.get("reason", "config")), exc.message
    if isinstance(exc, HTTPUnauthorized):
        return _unauthorized(spec)
    if isinstance(exc, NotGitRepository):
        return "not_found", "repository not found"
    if isinstance(exc, HangupException):
        return _hangup(exc, remote)
    if isinstance(exc, GitProtocolError):
        return _http_cause(exc) or _http_status(exc, spec) or _protocol(exc)
    if isinstance(exc, OSError):
        return _os_error(exc)
    return "failed", f"{type(exc).__name__}: {exc}"


def to_sync_error(exc: BaseException, spec: RemoteSpec) -> SyncError:
    """A ``SyncError`` saying why fetching ``spec`` failed; ``details``: repository, url, branch, reason."""
    try:
        remote = parse_remote(spec.url)
    except ConfigError:
        remote = Remote("unknown", "", "")
    reason, explanation = _classify(exc, spec, remote)
    url = redact_url(spec.url)
    message = f"cannot fetch branch {spec.branch!r} of repository {spec.name!r} from {url}: {explanation}"
    message = _scrub(message, [spec.auth.token, remote.password])
    return SyncError(message, details={"repository": spec.name, "url": url, "branch": spec.branch, "reason": reason})
