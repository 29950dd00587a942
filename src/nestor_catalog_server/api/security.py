"""Who may call what: JWT bearer tokens for the API, per ``auth:`` in the configuration.

With ``auth.enabled`` the app puts ``authorize`` on every route; routes marked
``opt={"public": True}`` skip it (health, readiness, metrics, the docs, the definition JSON
Schema and webhooks, which authenticate by their repository's secret), so a new route is protected unless it says
otherwise. Every
authenticated caller reads, and a route marked ``opt={"write": True}`` also needs the write
claim (``auth.write_claim`` holding one of ``auth.write_values``). Without auth no guard is
installed at all, so reads pay nothing, and the caller is ``ANONYMOUS`` (who may write: a
development setup).
"""

from __future__ import annotations

from typing import Any, Final

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from nestor_catalog_core import AuthenticationError, PermissionDenied
from nestor_catalog_server.auth import ANONYMOUS, Principal
from nestor_catalog_server.state import app_state_of

__all__ = ["WRITE", "authorize", "principal_of"]

#: ``opt`` of write handlers: ``@post(..., opt=WRITE)``.
WRITE: Final = {"write": True}
_PRINCIPAL: Final = "principal"


async def authorize(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Litestar guard: authenticate the bearer token; for write routes, check the write claim.

    Raises ``AuthenticationError`` (401) or ``PermissionDenied`` (403); failures are counted in
    ``catalog_auth_failures_total`` by reason.
    """
    if handler.opt.get("public"):
        return
    state = app_state_of(connection)
    verifier = state.verifier
    if verifier is None or not verifier.enabled:
        return
    try:
        principal = await verifier.authenticate_async(connection.headers.get("authorization"))
    except AuthenticationError as exc:
        state.metrics.auth_failed(str(exc.details.get("reason", "unknown")))
        raise
    connection.scope["state"][_PRINCIPAL] = principal
    if handler.opt.get("write"):
        try:
            verifier.authorize_write(principal)
        except PermissionDenied:
            state.metrics.auth_failed("write_not_allowed")
            raise


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The caller ``authorize`` verified, or ``ANONYMOUS`` when auth is off.

    Fails closed: with auth on and no verified principal (a route the guard did not cover),
    the request is refused rather than treated as anonymous.
    """
    principal = connection.scope["state"].get(_PRINCIPAL)
    if isinstance(principal, Principal):
        return principal
    verifier = app_state_of(connection).verifier
    if verifier is not None and verifier.enabled:
        raise AuthenticationError("authentication required", details={"reason": "token_missing"})
    return ANONYMOUS
