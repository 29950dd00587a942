"""``POST /internal/v1/sync/{repo}``: a sync trigger forwarded by a follower while Redis cannot
carry it (see ``cluster_sync``).

Not in the OpenAPI document and not behind the bearer-token guard: the body is authenticated
by its HMAC (``X-Signature: sha256=<hex>``) under ``leadership.cluster_secret``, checked over
the raw body before it is parsed. Answers 202 when this replica leads and scheduled the sync,
409 ``LEASE_HELD`` when it does not lead (any more), 403 when no ``cluster_secret`` is
configured, 401 for a bad signature. Expose ``/internal/`` only on the network the replicas
share.
"""

from __future__ import annotations

import json
from typing import Any

from litestar import Controller, Request, Response, post
from litestar.params import FromPath

from nestor_catalog_core import InvalidRequest, LeaseHeld, PermissionDenied, SourceNotFound
from nestor_catalog_server.scaleout.cluster_sync import INTERNAL_SYNC_PATH, ClusterSync, Trigger
from nestor_catalog_server.state import AppStateParam
from nestor_catalog_server.sync import verify_signature

__all__ = ["InternalSyncController"]


class InternalSyncController(Controller):
    """Receives triggers forwarded by other replicas over HTTP."""

    path = INTERNAL_SYNC_PATH
    include_in_schema = False
    opt = {"public": True, "no_rate_limit": True}

    @post("/{repo:str}", status_code=202)
    async def forwarded_trigger(
        self, request: Request[Any, Any, Any], app_state: AppStateParam, repo: FromPath[str]
    ) -> Response[bytes]:
        secret = app_state.settings.leadership.cluster_secret
        if secret is None:
            raise PermissionDenied(
                "forwarded sync triggers are disabled on this replica: leadership.cluster_secret is not set",
                details={"reason": "cluster_secret_not_configured"},
            )
        body = await request.body()
        verify_signature("generic", dict(request.headers.items()), body, secret.get_secret_value())
        trigger = _parse(body, repo)
        sync = app_state.sync
        if not isinstance(sync, ClusterSync) or repo not in sync.sources():
            raise SourceNotFound(f"no repository named {repo!r} is configured", details={"repository": repo})
        if not sync.trigger_local(trigger):
            raise LeaseHeld(
                "this replica does not hold the sync lease", details={"repository": repo, "reason": "not_leader"}
            )
        content = json.dumps({"repository": repo, "status": "scheduled"}).encode()
        return Response(content=content, media_type="application/json", status_code=202)


def _parse(body: bytes, repo: str) -> Trigger:
    try:
        trigger = Trigger.from_json(body)
    except ValueError as exc:
        raise InvalidRequest(f"not a sync trigger: {exc}", details={"repository": repo}) from None
    if trigger.repository != repo:
        raise InvalidRequest(
            "the trigger names another repository than the path",
            details={"repository": repo, "trigger": trigger.repository},
        )
    return trigger
