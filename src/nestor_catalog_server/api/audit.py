"""The audit trail: who published, deprecated, withdrew or was refused what, newest first."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

from litestar import Controller, Response, get
from litestar.params import QueryParameter

from nestor_catalog_core import AuditQuery, Catalog, InvalidRequest, NotFoundError
from nestor_catalog_server.api import schemas
from nestor_catalog_server.api.resources import JSON
from nestor_catalog_server.state import AppStateParam

__all__ = ["AuditController"]

Text = Annotated[str | None, QueryParameter(description="Exact match.")]
Moment = Annotated[datetime | None, QueryParameter(description="RFC 3339 date-time.")]


def _utc(moment: datetime | None, parameter: str) -> datetime | None:
    """The moment in UTC (one without an offset is read as UTC); 400 naming ``parameter`` when
    it has no UTC equivalent (``0001-01-01T01:00:00+04:05`` is before year 1 in UTC)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise InvalidRequest(
            f"query parameter {parameter!r}: {moment.isoformat()} is outside the range of UTC date-times "
            "(years 1 to 9999)",
            details={"parameter": parameter, "value": moment.isoformat()},
        ) from None


class AuditController(Controller):
    """``/api/v1/audit``."""

    path = "/api/v1/audit"
    tags = ["audit"]

    @get(
        "/",
        summary="Audit records, newest first (since inclusive, until exclusive)",
        description=(
            "`{items, next_cursor}`: who published, deprecated, withdrew, restored or was refused what, "
            "newest first, narrowed by exact `resource`, `version`, `user` and `action` and the time window "
            "`since`/`until` (RFC 3339, UTC when no offset). Pass `next_cursor` as `cursor` for the next page; "
            "a mirror answers 404 (its upstream catalog keeps the log)."
        ),
        responses=schemas.responses(schemas.AuditPageBody, 400, 401, 403, 404),
    )
    async def list_audit(
        self,
        app_state: AppStateParam,
        resource: Text = None,
        version: Text = None,
        user: Text = None,
        action: Annotated[str | None, QueryParameter(description="resource.created, resource.withdrawn, ...")] = None,
        since: Moment = None,
        until: Moment = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
        cursor: Annotated[str | None, QueryParameter(description="The next_cursor of the previous page.")] = None,
    ) -> Response[bytes]:
        catalog = app_state.catalog
        if not isinstance(catalog, Catalog):
            raise NotFoundError(
                "this catalog is a mirror: the audit log is kept by the upstream catalog",
                details={"reason": "mirror"},
            )
        query = AuditQuery(
            resource=resource,
            version=version,
            user=user,
            action=action,
            since=_utc(since, "since"),
            until=_utc(until, "until"),
            limit=limit,
            cursor=cursor,
        )
        page = await (app_state.read_through.audit(query) if app_state.read_through else catalog.audit(query))
        body = {"items": [record.to_dict() for record in page.records], "next_cursor": page.next_cursor}
        return Response(content=json.dumps(body, ensure_ascii=False, default=str).encode(), media_type=JSON)
