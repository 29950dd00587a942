"""Running the app: granian (ASGI, HTTP/1.1 and HTTP/2, TLS and client certificates).

Why granian: ``benchmarks/bench_http.py`` serves the same bare Litestar endpoint under both, one
worker each, in every run; on the project's 2-core machine granian answered 17.2k req/s and
uvicorn 6.3k (uvicorn with the parsers installed here: h11 and the asyncio loop; the issue saw
granian about 23% ahead of a uvicorn with httptools and uvloop). Granian also verifies client
certificates itself (``ssl_ca`` + ``ssl_client_verify``), so mTLS needs nothing in front.

``serve(settings)`` runs in the foreground until SIGINT/SIGTERM: granian's main process binds
the socket and forks one worker process, which builds the app with ``worker_app(settings)``
(the garbage collector tuned as in ``process.tune_gc``, then ``build_app(settings)``):
``create_app``, or the read-only sidecar of ``sidecar.py`` when ``service.upstream`` is set
(the settings object travels to the worker; nothing is re-read from the environment). TLS comes
from ``service.tls``: ``certfile``/``keyfile``/``keyfile_password``; ``ca_certs`` names the CA
bundle client certificates are checked against, and ``client_cert_required`` refuses the
handshake of a client that sends none. TLS 1.2 is the minimum. ``service.request_timeout`` bounds
how long a client may take to send its request headers (slow clients hold no worker).

Other ASGI servers can run the app through ``app_from_environment`` (``CONFIG_ENV`` names the
config file), e.g. ``uvicorn --factory nestor_catalog_server.runner:app_from_environment``.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from nestor_catalog_core import ConfigError
from nestor_catalog_server.config import Settings, TLSConfig, load_settings
from nestor_catalog_server.observability.logging import configure_logging
from nestor_catalog_server.process import tune_gc

if TYPE_CHECKING:
    from litestar import Litestar

__all__ = [
    "CONFIG_ENV",
    "app_from_environment",
    "check_startable",
    "granian_options",
    "listening_on",
    "serve",
    "worker_app",
]

#: Environment variable ``app_from_environment`` reads the config file path from.
CONFIG_ENV: Final = "NESTOR_CATALOG_CONFIG"
_TARGET: Final = "nestor_catalog_server.app:create_app"
#: Granian's own loggers go through the root logger, so its lines share our format.
_GRANIAN_LOGGING: Final[dict[str, Any]] = {
    "loggers": {
        "_granian": {"handlers": [], "propagate": True},
        "granian.access": {"handlers": [], "propagate": False},
    }
}


def app_from_environment() -> Litestar:
    """An app for ASGI servers that import a factory: settings from the file named by
    ``NESTOR_CATALOG_CONFIG`` (defaults and the environment overrides when unset)."""
    from nestor_catalog_server.sidecar import build_app

    tune_gc()
    path = os.environ.get(CONFIG_ENV)
    return build_app(load_settings(Path(path) if path else None))


def _tls_options(tls: TLSConfig) -> dict[str, Any]:
    from granian.constants import SSLProtocols

    if not tls.enabled:
        return {}
    assert tls.certfile is not None
    return {
        "ssl_cert": Path(tls.certfile),
        "ssl_key": Path(tls.keyfile or tls.certfile),
        "ssl_key_password": tls.keyfile_password.get_secret_value() if tls.keyfile_password else None,
        "ssl_protocol_min": SSLProtocols.tls12,
        "ssl_ca": Path(tls.ca_certs) if tls.ca_certs else None,
        "ssl_client_verify": tls.client_cert_required,
    }


def granian_options(settings: Settings, host: str | None = None, port: int | None = None) -> dict[str, Any]:
    """Keyword arguments for granian's ``Server`` (without the target)."""
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    header_timeout_ms = max(1, round(settings.service.request_timeout.total_seconds() * 1000))
    return {
        "address": host or settings.service.host,
        "port": settings.service.port if port is None else port,
        "interface": Interfaces.ASGI,
        "workers": 1,
        "http": HTTPModes.auto,
        "http1_settings": HTTP1Settings(header_read_timeout=header_timeout_ms),
        "websockets": False,
        "log_enabled": True,
        "log_level": LogLevels(settings.logging.level),
        "log_dictconfig": _GRANIAN_LOGGING,
        "log_access": False,
        **_tls_options(settings.service.tls),
    }


def check_startable(settings: Settings) -> None:
    """Raise ``ConfigError`` now for what would otherwise fail inside the worker process: auth
    keys that cannot be used, a storage URI no adapter takes, a Redis cache without the
    ``redis`` package (nothing is opened)."""
    from nestor_catalog_core.storage import open_store

    if settings.auth.enabled:
        from nestor_catalog_server.auth import TokenVerifier

        TokenVerifier(settings.auth)
    open_store(settings.store_uri())
    if settings.cache.type == "redis" and importlib.util.find_spec("redis") is None:
        raise ConfigError(
            "cache.type is redis but the redis package is missing: install nestor-catalog[redis]",
            details={"key": "cache.type"},
        )


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Serve until SIGINT/SIGTERM; ``host``/``port`` override ``service.host``/``service.port``.

    Raises ``ConfigError`` before binding anything when the settings cannot start.
    """
    from granian.server import Server

    check_startable(settings)
    configure_logging(settings.logging, settings.service.name)
    options = granian_options(settings, host, port)
    logging.getLogger("nestor_catalog_server.runner").info(
        "starting %s on %s:%s",
        settings.service.name,
        options["address"],
        options["port"],
        extra={"operation": "serve", "tls": settings.service.tls.enabled, "environment": settings.service.environment},
    )
    server = Server(_TARGET, **options)
    app_settings = listening_on(settings, options["address"], options["port"])
    server.serve(target_loader=functools.partial(worker_app, app_settings), wrap_loader=False)


def worker_app(settings: Settings) -> Litestar:
    """The app, built inside granian's worker process (where the catalog lives): the garbage
    collector is tuned there first, as in ``nestor-catalog sync`` (see ``process.tune_gc``).
    The app's modules are imported here too, not in granian's parent, which only reads the
    configuration and forks (the parent's memory counts once more in the process group)."""
    from nestor_catalog_server.sidecar import build_app

    tune_gc()
    return build_app(settings)


def listening_on(settings: Settings, host: str, port: int) -> Settings:
    """``settings`` with the address the server really listens on (``--host``/``--port`` win over
    the file), so the app advertises a URL other replicas can reach."""
    service = settings.service.model_copy(update={"host": host, "port": port})
    return settings.model_copy(update={"service": service})
