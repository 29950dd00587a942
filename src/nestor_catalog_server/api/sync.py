"""Git sync over HTTP: status per repository, a manual trigger, and the webhook receiver.

Webhooks carry no bearer token: a delivery is authenticated by its repository's
``webhook_secret`` only and is only ever a hint: the sync fetches the branch and trusts the
fetched commit. The headers are checked before the body is read (the repository, the
signature or token header; see ``sync.webhooks.open_gate``), the body is hashed as it streams
in under ``git.webhook_max_body_size``, and nothing is parsed before the signature matched.
A push answers 202 at once; the sync runs in the background, coalesced with any sync already
in flight. A delivery id seen within ``git.webhook_replay_window`` answers 200 ``duplicate``.

``POST /api/v1/sync/{repo}`` starts a sync; with the JSON body ``{"confirm_withdrawals": true}``
(or the query ``?confirm_withdrawals=true``) it also lets through the sync the withdraw guard
holds for that repository (409 ``CONFLICT`` when none is held), for its held commit only.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath

from nestor_catalog_core import InvalidRequest, PayloadTooLarge, ReadOnly, SourceNotFound
from nestor_catalog_server.api import schemas
from nestor_catalog_server.api._request import json_object, read_body
from nestor_catalog_server.api.resources import JSON
from nestor_catalog_server.api.security import WRITE
from nestor_catalog_server.state import AppState, AppStateParam
from nestor_catalog_server.sync.webhooks import open_gate

if TYPE_CHECKING:
    from nestor_catalog_server.state import SyncControl
    from nestor_catalog_server.sync import WebhookGate

__all__ = ["CONFIRM_FIELD", "WEBHOOK_MAX_BODY_SIZE", "SyncController", "WebhookController", "webhook_answer"]

#: The one field ``POST /api/v1/sync/{repo}`` takes (body or query).
CONFIRM_FIELD: Final = "confirm_withdrawals"
_BOOLEANS: Final = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}

#: The default of ``git.webhook_max_body_size``: webhook bodies may be larger than
#: ``service.max_body_size``, as git hosts send up to this much for a large push (GitHub caps
#: payloads at 25 MB).
WEBHOOK_MAX_BODY_SIZE: Final = 25 * 1024 * 1024


def _json(body: dict[str, Any], status: int = 200) -> Response[bytes]:
    return Response(
        content=json.dumps(body, ensure_ascii=False, default=str).encode(), media_type=JSON, status_code=status
    )


def _manager(app_state: AppState, repo: str) -> SyncControl:
    if app_state.sync is None:
        if app_state.catalog.read_only:
            raise ReadOnly("this catalog is a read-only mirror: it does not sync repositories itself")
        raise SourceNotFound(f"no repository named {repo!r} is configured", details={"repository": repo})
    return app_state.sync


async def confirmation(request: Request[Any, Any, Any]) -> bool:
    """Whether a manual sync confirms held withdrawals: ``{"confirm_withdrawals": true}`` as the
    body (an empty body is ``false``), or ``?confirm_withdrawals=true``; 400 for anything else."""
    confirm = False
    raw = request.query_params.getall(CONFIRM_FIELD, [])
    if raw:
        value = _BOOLEANS.get(str(raw[-1]).strip().lower())
        if value is None or len(raw) > 1:
            raise InvalidRequest(
                f"query parameter {CONFIRM_FIELD} must be given once, as true or false",
                details={"parameter": CONFIRM_FIELD, "value": raw},
            )
        confirm = value
    body = await read_body(request)
    if body.strip():
        fields = json_object(body, what="the sync request body")
        unknown = sorted(set(fields) - {CONFIRM_FIELD})
        if unknown:
            raise InvalidRequest(
                f"unknown field(s) {', '.join(unknown)} in the sync request body; the only field is {CONFIRM_FIELD}",
                details={"fields": unknown, "accepted": [CONFIRM_FIELD]},
            )
        value = fields.get(CONFIRM_FIELD, False)
        if not isinstance(value, bool):
            raise InvalidRequest(
                f"{CONFIRM_FIELD} must be true or false, got {json.dumps(value)}",
                details={"field": CONFIRM_FIELD},
            )
        confirm = confirm or value
    return confirm


def webhook_answer(
    repo: str, kind: str, event: str, delivery_id: str | None, reason: str
) -> tuple[int, dict[str, Any]]:
    """api.md's webhook answers: 202 for a push that syncs, 200 for a ping or an ignored event."""
    if kind == "push":
        return 202, {"status": "accepted", "repository": repo, "event": event, "delivery": delivery_id}
    if kind == "ping":
        return 200, {"status": "ok", "event": "ping", "repository": repo}
    if kind == "duplicate":
        return 200, {
            "status": "duplicate",
            "reason": reason,
            "event": event,
            "repository": repo,
            "delivery": delivery_id,
        }
    return 200, {"status": "ignored", "reason": reason, "event": event, "repository": repo}


async def _signed_body(request: Request[Any, Any, Any], gate: WebhookGate, limit: int) -> bytes:
    """The body, hashed chunk by chunk as it arrives; 413 past ``limit`` and 401 as soon as the
    whole body is in and its HMAC is not the signature (before anything parses it)."""
    hasher = gate.hasher()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(
                f"webhook body larger than {limit} bytes (git.webhook_max_body_size)",
                details={"limit": limit},
            )
        if hasher is not None:
            hasher.update(chunk)
        chunks.append(chunk)
    gate.check(hasher)
    return b"".join(chunks)


class SyncController(Controller):
    """``/api/v1/sync``."""

    path = "/api/v1/sync"
    tags = ["sync"]

    @get(
        "/",
        sync_to_thread=False,
        summary="Sync status of every configured repository and directory",
        description=(
            "`{repositories}`: for each git repository and local directory the catalog syncs, its state, last "
            "commit, last success and attempt, last error, the files currently rejected with their findings, "
            "and a withdrawal the guard holds (`held`). An empty list when the server syncs nothing."
        ),
        responses=schemas.responses(schemas.SyncListBody, 401, 403),
    )
    def list_sources(self, app_state: AppStateParam) -> Response[bytes]:
        statuses = app_state.sync.status() if app_state.sync is not None else []
        return _json({"repositories": [status.to_dict() for status in statuses]})

    @get(
        "/{repo:str}",
        sync_to_thread=False,
        summary="Sync status of one repository",
        description=(
            "One entry of `GET /api/v1/sync`'s `repositories`, by its configured name; 404 `SOURCE_NOT_FOUND` "
            "when no source has that name."
        ),
        responses=schemas.responses(dict[str, Any], 400, 401, 403, 404),
    )
    def get_source(self, app_state: AppStateParam, repo: FromPath[str]) -> Response[bytes]:
        if app_state.sync is None:
            raise SourceNotFound(f"no repository named {repo!r} is configured", details={"repository": repo})
        return _json(app_state.sync.source_status(repo).to_dict())

    @post(
        "/{repo:str}",
        opt=WRITE,
        status_code=202,
        summary="Sync a repository now (coalesced with a sync in flight); confirm held withdrawals",
        description=(
            "Schedules a sync of the source and answers 202 at once; the sync runs in the background, merged "
            "with one already in flight (follow it in `GET /api/v1/sync/{repo}` or the `sync.*` events). The "
            'optional body `{"confirm_withdrawals": true}` (or `?confirm_withdrawals=true`) also lets '
            "through the sync the withdraw guard holds, for its held commit only: 409 when none is held. Needs "
            "the write claim when auth is enabled; 404 `SOURCE_NOT_FOUND`, 405 on a read-only mirror."
        ),
        responses=schemas.responses(
            schemas.SyncAccepted, 400, 401, 403, 404, 405, 409, status=202, description="Scheduled"
        ),
    )
    async def trigger(
        self, request: Request[Any, Any, Any], app_state: AppStateParam, repo: FromPath[str]
    ) -> Response[bytes]:
        """Body (optional): ``{"confirm_withdrawals": true}`` lets the sync the withdraw guard
        holds through (or ``?confirm_withdrawals=true``); 409 when nothing is held."""
        confirm = await confirmation(request)
        manager = _manager(app_state, repo)
        if not confirm:
            manager.trigger(repo, reason="api")
            return _json({"repository": repo, "status": "scheduled"}, 202)
        held = manager.confirm_withdrawals(repo)
        answer: dict[str, Any] = {"repository": repo, "status": "scheduled", "confirmed": held}
        if held is None:
            answer["forwarded"] = True
        return _json(answer, 202)


class WebhookController(Controller):
    """``/api/v1/webhooks/{provider}/{repo}``: authenticated by the repository's secret only
    (``public``: no bearer token). ``SyncManager.handle_webhook`` counts deliveries by outcome."""

    path = "/api/v1/webhooks"
    tags = ["sync"]
    opt = {"public": True}

    @post(
        "/{provider:str}/{repo:str}",
        request_max_body_size=None,  # git.webhook_max_body_size, counted by _signed_body
        summary="Receive a push/ping from GitHub, Gitea, GitLab, Bitbucket or a generic HMAC sender",
        description=(
            "For git hosts, not bearer tokens: a delivery is authenticated by the repository's `webhook_secret` "
            "only (the provider's HMAC-SHA256 signature header of the raw body, or `X-Gitlab-Token`), and a "
            "missing or bad signature, an unknown repository and one without a secret all answer 401 alike. "
            "A push to the synced branch answers 202 and syncs in the background; a ping, other events and "
            "replayed delivery ids answer 200 (`ok`, `ignored`, `duplicate`); 413 past "
            "`git.webhook_max_body_size`."
        ),
        responses={
            **schemas.responses(schemas.WebhookAnswer, 400, 401, 403, 404, 413, status=202, description="Sync"),
            200: schemas.responses(schemas.WebhookAnswer, description="Ping answered or event ignored")[200],
        },
    )
    async def receive(
        self, request: Request[Any, Any, Any], app_state: AppStateParam, provider: FromPath[str], repo: FromPath[str]
    ) -> Response[bytes]:
        headers = dict(request.headers.items())
        if app_state.sync is None and not app_state.catalog.read_only:
            open_gate(provider, headers, None)  # no repositories at all: answered as a bad signature
        manager = _manager(app_state, repo)
        gate = manager.webhook_gate(provider, repo, headers)
        body = await _signed_body(request, gate, app_state.settings.git.webhook_max_body_size)
        delivery = await manager.handle_webhook(provider, repo, headers, body, verified=True)
        status, answer = webhook_answer(repo, delivery.kind, delivery.event, delivery.delivery_id, delivery.reason)
        return _json(answer, status)
