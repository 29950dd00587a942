"""The sidecar: the same HTTP API, served from a ``Mirror`` of an upstream catalog.

``nestor-catalog serve --upstream URL`` (or ``service.upstream``) runs ``create_sidecar_app``: the
app of ``create_app`` with a ``Mirror`` as its catalog. Reads and SSE are served from the
mirror's memory (event ids are the upstream's, so clients can fail over between a sidecar and
the central server); writes answer 405 ``READ_ONLY``; there is no git sync. An https upstream
is verified against ``service.upstream_tls.ca_certs`` (default: the system's CAs) and, for mTLS,
gets the client certificate of ``service.upstream_tls.certfile``/``keyfile``. The mirror keeps a
SQLite snapshot at ``<service.data_dir>/mirror.db``, so a restarted sidecar serves at once,
even while its upstream is down.

``/ready`` is 200 once the mirror has a copy (snapshot or first sync) and stays 200 during an
upstream outage (reads keep working); ``/api/v1/status`` shows ``upstream``: url, connected,
``lag_events``, ``lag_seconds`` and the last error.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from litestar import Litestar
from pydantic import TypeAdapter, ValidationError

from nestor_catalog_client import Mirror
from nestor_catalog_core import ConfigError
from nestor_catalog_server.app import create_app
from nestor_catalog_server.config import Settings
from nestor_catalog_server.config.models import HttpUrl
from nestor_catalog_server.state import STATE_KEY, AppState

__all__ = ["COMPONENT", "SNAPSHOT_FILE", "STATUS_REFRESH", "build_app", "create_sidecar_app", "with_upstream"]

log = logging.getLogger("nestor_catalog_server.sidecar")

#: The ``AppState.components`` key (and ``/api/v1/status`` field) of the mirror's status.
COMPONENT: Final = "upstream"
#: The mirror's snapshot, inside ``service.data_dir``.
SNAPSHOT_FILE: Final = "mirror.db"
#: Seconds between two refreshes of the status shown by ``/ready`` and ``/api/v1/status``.
STATUS_REFRESH: Final = 0.5

_URL: Final = TypeAdapter(HttpUrl)


def with_upstream(settings: Settings, url: str) -> Settings:
    """``settings`` with ``service.upstream`` set to ``url`` (the ``--upstream`` option)."""
    try:
        checked = _URL.validate_python(url)
    except ValidationError as exc:
        message = "; ".join(str(error["msg"]).removeprefix("Value error, ") for error in exc.errors())
        raise ConfigError(f"--upstream: {message}", details={"upstream": url}) from None
    if settings.service.upstream_tls.enabled and not checked.startswith("https://"):
        raise ConfigError("--upstream: service.upstream_tls applies to an https:// upstream", details={"upstream": url})
    service = settings.service.model_copy(update={"upstream": checked})
    return settings.model_copy(update={"service": service})


def build_app(settings: Settings) -> Litestar:
    """The app ``settings`` describe: a sidecar when ``service.upstream`` is set, else the catalog."""
    return create_sidecar_app(settings) if settings.service.upstream else create_app(settings)


def create_sidecar_app(settings: Settings, *, mirror: Mirror | None = None) -> Litestar:
    """The read-only app serving a mirror of ``service.upstream`` (or of the ``mirror`` given,
    which the app then starts and closes with its lifespan)."""
    if mirror is None:
        mirror = _mirror_for(settings)
    app = create_app(settings, catalog=mirror)
    app.on_startup.append(_Startup(mirror))
    app.on_shutdown.append(mirror.close)
    return app


def _mirror_for(settings: Settings) -> Mirror:
    service = settings.service
    if service.upstream is None:
        raise ConfigError("service.upstream is not set: a sidecar needs the URL of its upstream catalog")
    token = service.upstream_token.get_secret_value() if service.upstream_token is not None else None
    verify = service.upstream_tls.context() if service.upstream_tls.enabled else True
    return Mirror(service.upstream, token=token, persist=service.data_dir / SNAPSHOT_FILE, verify=verify)


class _Startup:
    """Starts the mirror without waiting for the upstream (``/ready`` says when it has a copy)
    and keeps its status in ``AppState.components`` fresh."""

    def __init__(self, mirror: Mirror) -> None:
        self.mirror = mirror

    async def __call__(self, app: Litestar) -> None:
        state: AppState = app.state[STATE_KEY]
        await self.mirror.start(wait=False)
        _publish_status(state, self.mirror)
        state.tasks["upstream-status"] = asyncio.create_task(_refresh_status(state, self.mirror), name="mirror-status")
        log.info("sidecar mirroring %s", self.mirror.url, extra={"operation": "sidecar", "upstream": self.mirror.url})


def _publish_status(state: AppState, mirror: Mirror) -> None:
    state.components[COMPONENT] = {"ok": mirror.ready, **mirror.status().to_dict()}


async def _refresh_status(state: AppState, mirror: Mirror) -> None:
    while True:
        _publish_status(state, mirror)
        await asyncio.sleep(STATUS_REFRESH)
