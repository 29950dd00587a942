"""Operations: liveness, readiness, Prometheus metrics, the status page and the OpenAPI document.

``/health`` checks nothing but the process (a liveness probe must not restart a server because
its database blinked). ``/ready`` says whether this process should get traffic, meaning it
serves the catalog as of the last known good state: storage answers a ping; every sync
source is served as of its last good sync (storage held a synced state of it, or this
process synced it: a replica restarted in the middle of a first sync waits for it to finish);
no optional component (mirror upstream, Redis, ...) reports ``ok: false``; and the app is not
shutting down. Otherwise 503 with the checks as the envelope's details: the ``sync`` check
lists what it waits for (``waiting_for``) and each repository's ``ready``, ``state``,
``reachable``, ``last_fetch_age_seconds`` and ``stale`` (a stale repository makes the replica
unready only with ``git.readiness.unready_when_stale``). A component that also says
``required: false`` (Redis: reads and events go on through storage without it) only degrades:
``/ready`` stays 200 with ``status: degraded``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Final

from litestar import Controller, Request, Response, get

from nestor_catalog_core import Catalog, CatalogError, ServiceUnavailable, __version__
from nestor_catalog_server.api import schemas
from nestor_catalog_server.api._request import raw_header
from nestor_catalog_server.api._response import RawResponse, json_response
from nestor_catalog_server.api.resources import JSON
from nestor_catalog_server.state import AppStateParam

__all__ = ["HealthController", "OpenAPIDocumentController", "readiness_checks", "status_body"]

#: Seconds a storage ping may take before the store counts as unreachable.
PING_TIMEOUT: Final = 2.0
NO_STORE: Final = {"Cache-Control": "no-store"}
_HEALTH_BODY: Final = b'{"status":"ok"}'


async def _storage_check(app_state: AppStateParam) -> dict[str, Any]:
    catalog = app_state.catalog
    storage_type = app_state.settings.storage.type
    if not isinstance(catalog, Catalog):
        return {"ok": True, "type": "mirror"}
    try:
        await asyncio.wait_for(catalog.store.ping(), timeout=PING_TIMEOUT)
    except TimeoutError:
        return {"ok": False, "type": storage_type, "error": f"no answer within {PING_TIMEOUT:g}s"}
    except CatalogError as exc:
        return {"ok": False, "type": storage_type, "error": exc.message}
    return {"ok": True, "type": storage_type}


def _sync_check(app_state: AppStateParam) -> dict[str, Any]:
    sync = app_state.sync
    if sync is None:
        return {"ok": True, "enabled": False}
    statuses = sync.status()
    repositories = {}
    for status in statuses:
        age = status.fetch_age_seconds()
        repositories[status.name] = {
            "ready": status.ready,
            "state": status.state,
            "reachable": status.reachable,
            "last_fetch_age_seconds": round(age, 3) if age is not None else None,
            "stale": status.stale,
            "waiting_for": status.waiting_for,
        }
    waiting = [status.waiting_for for status in statuses if not status.ready and status.waiting_for]
    return {
        "ok": all(status.ready for status in statuses),
        "enabled": True,
        "sources": len(statuses),
        "waiting_for": waiting,
        "repositories": repositories,
    }


def _component_ok(value: Any) -> bool:
    return not (isinstance(value, dict) and value.get("ok") is False)


def _blocks_readiness(check: dict[str, Any]) -> bool:
    return not check["ok"] and check.get("required", True) is not False


async def readiness_checks(app_state: AppStateParam) -> dict[str, dict[str, Any]]:
    """Every readiness check by name; each has ``ok``."""
    checks: dict[str, dict[str, Any]] = {"storage": await _storage_check(app_state), "sync": _sync_check(app_state)}
    for name, value in app_state.components.items():
        checks[name] = {"ok": _component_ok(value), **(value if isinstance(value, dict) else {"value": value})}
    if app_state.shutdown.is_set():
        checks["lifecycle"] = {"ok": False, "reason": "shutting down"}
    return checks


async def status_body(app_state: AppStateParam) -> dict[str, Any]:
    """``/api/v1/status``: counts, sync per repository, SSE, storage, mirror upstream, uptime."""
    catalog = app_state.catalog
    stats = catalog.stats()
    settings = app_state.settings
    return {
        "service": settings.service.name,
        "version": __version__,
        "uptime_seconds": round(app_state.uptime_seconds, 3),
        "revision": catalog.revision,
        "counts": {key: stats[key] for key in ("resources", "versions", "withdrawn", "deprecated")},
        "repositories": [status.to_dict() for status in app_state.sync.status()] if app_state.sync else [],
        "sse": {"connections": app_state.sse_connections, "max_connections": settings.sse.max_connections},
        "storage": await _storage_check(app_state),
        "read_only": catalog.read_only,
        "upstream": app_state.components.get("upstream"),
        "components": dict(app_state.components),
    }


def _json(body: Any, headers: dict[str, str] | None = None) -> Response[bytes]:
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str).encode()
    return Response(content=content, media_type=JSON, headers=headers)


class HealthController(Controller):
    """``/health``, ``/ready``, ``/metrics`` (public) and ``/api/v1/status``."""

    path = "/"
    tags = ["operations"]
    opt = {"public": True}

    @get(
        "/health",
        sync_to_thread=False,
        summary="Liveness",
        description=(
            '`{"status": "ok"}` while the process runs: it checks nothing else (storage or git trouble '
            "shows in `/ready`), so a liveness probe never restarts a server for them. Public, not rate limited."
        ),
        responses=schemas.responses(dict[str, str]),
        opt={"public": True, "no_rate_limit": True},
    )
    def health(self) -> Response[bytes]:
        return Response(content=_HEALTH_BODY, media_type=JSON, headers=NO_STORE)

    @get(
        "/ready",
        summary="Readiness: storage reachable, first syncs done, components healthy",
        description=(
            "200 `{status: ready|degraded, checks}` when this process should get traffic: storage answers a "
            "ping, every sync source is served as of its last good sync, no required component fails and the "
            "server is not shutting down (a failing optional component such as Redis only makes it "
            "`degraded`). Otherwise 503 with the checks as the error's details. Public, not rate limited."
        ),
        responses=schemas.responses(schemas.ReadyBody, 503),
        opt={"public": True, "no_rate_limit": True},
    )
    async def ready(self, app_state: AppStateParam) -> Response[bytes]:
        checks = await readiness_checks(app_state)
        failing = sorted(name for name, check in checks.items() if _blocks_readiness(check))
        if failing:
            raise ServiceUnavailable(f"not ready: {', '.join(failing)}", details=checks)
        degraded = any(not check["ok"] for check in checks.values())
        return _json({"status": "degraded" if degraded else "ready", "checks": checks}, NO_STORE)

    @get(
        "/metrics",
        sync_to_thread=False,
        summary="Prometheus exposition (OpenMetrics when asked)",
        description=(
            "The server's metrics in the Prometheus text format, or OpenMetrics when `Accept` asks for "
            "`application/openmetrics-text`. Public, not rate limited."
        ),
        responses=schemas.responses(str, media_type="text/plain; version=0.0.4"),
        opt={"public": True, "no_rate_limit": True},
    )
    def metrics(self, request: Request[Any, Any, Any], app_state: AppStateParam) -> RawResponse:
        """The exposition's own Content-Type (it carries its charset) is sent as is: Litestar's
        ``Response`` would append a second ``charset=utf-8``."""
        stats = app_state.catalog.stats()
        metrics = app_state.metrics
        metrics.set_catalog_size(stats["resources"], stats["versions"] - stats["withdrawn"])
        metrics.set_last_sequence(app_state.catalog.revision)
        body, content_type = metrics.render(raw_header(request, b"accept"))
        return json_response(body, NO_STORE, media_type=content_type)

    @get(
        "/api/v1/status",
        summary="Catalog status: counts, per-repository sync, SSE connections, storage, uptime",
        description=(
            "A snapshot for operators: service name and version, uptime, catalog revision, counts of "
            "resources, versions, withdrawn and deprecated ones, the sync status of every source, SSE "
            "connections against their limit, the storage check, read-only mode and the optional components. "
            "Needs a token when auth is enabled."
        ),
        responses=schemas.responses(schemas.StatusBody, 401, 403),
        opt={"public": False},
    )
    async def status(self, app_state: AppStateParam) -> Response[bytes]:
        return _json(await status_body(app_state), NO_STORE)


class OpenAPIDocumentController(Controller):
    """``/api/v1/openapi.json`` (the docs UI lives at ``/docs``)."""

    path = "/api/v1/openapi.json"
    include_in_schema = False

    @get("/", sync_to_thread=False, opt={"public": True})
    def openapi_document(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        document = request.app.openapi_schema.to_schema()
        return _json(document, {"Cache-Control": "no-cache"})
