"""``GET /api/v1/export``: every version in one response, for mirrors and backups.

NDJSON: one resource body per line (withdrawn versions included), by name then version, all
of them the state at the revision given in ``X-Catalog-Revision``; replaying the event log
from that revision keeps a copy exact. The snapshot is taken in one step from the read
model and streamed in chunks, so a large catalog neither blocks the loop nor sits twice in
memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from litestar import Controller, Request, get
from litestar.response import Stream

from nestor_catalog_core import CatalogEntry
from nestor_catalog_server.api import schemas
from nestor_catalog_server.api.caching import NO_CACHE
from nestor_catalog_server.state import app_state_of

__all__ = ["EXPORT_MEDIA_TYPE", "REVISION_HEADER", "ExportController"]

EXPORT_MEDIA_TYPE = "application/x-ndjson"
REVISION_HEADER = "X-Catalog-Revision"
_CHUNK = 256  # bodies per write


def _lines(entries: list[CatalogEntry]) -> Iterator[bytes]:
    for start in range(0, len(entries), _CHUNK):
        yield b"".join(entry.body() + b"\n" for entry in entries[start : start + _CHUNK])


class ExportController(Controller):
    path = "/api/v1/export"
    tags = ["resources"]

    @get(
        "/",
        sync_to_thread=False,
        summary="Every version (withdrawn included) as NDJSON, at the revision in X-Catalog-Revision",
        description=(
            "Streams one resource body per line (`application/x-ndjson`), every version of every name "
            "(withdrawn ones included) by name then version, all taken at once at the revision in the "
            "`X-Catalog-Revision` header (`X-Resource-Count` gives the number of lines). To keep a copy "
            "exact, load the export, then follow `GET /api/v1/events?since=<revision>`."
        ),
        media_type=EXPORT_MEDIA_TYPE,
        responses=schemas.responses(
            str,
            401,
            403,
            description="One resource body per line; the revision is in the X-Catalog-Revision header.",
            media_type=EXPORT_MEDIA_TYPE,
        ),
    )
    def export(self, request: Request[Any, Any, Any]) -> Stream:
        revision, entries = app_state_of(request).catalog.snapshot()
        return Stream(
            _lines(entries),
            media_type=EXPORT_MEDIA_TYPE,
            headers={REVISION_HEADER: str(revision), "Cache-Control": NO_CACHE, "X-Resource-Count": str(len(entries))},
        )
