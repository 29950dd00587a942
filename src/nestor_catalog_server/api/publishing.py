"""Writing resources over HTTP: publish, deprecate, withdraw, restore.

Only for callers with the write claim (``opt=WRITE``), only on a writable catalog (a mirror
answers 405 ``READ_ONLY``), and only for names the API owns: what a git repository or a local
directory published is changed there, so touching it here answers 409 ``OWNERSHIP_CONFLICT``.
Each write is recorded with ``Source(kind=api, user=<token subject>)``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Final

from litestar import Request, Response, delete, post, put
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from pydantic import ValidationError

from nestor_catalog_core import (
    Catalog,
    CatalogEntry,
    Deprecation,
    InvalidRequest,
    OwnershipConflict,
    PublishResult,
    Source,
    SourceKind,
    ValidationFailed,
)
from nestor_catalog_server.api import schemas
from nestor_catalog_server.api._request import POSTED_FILE, definition_suffix, json_object, read_body
from nestor_catalog_server.api.security import WRITE, principal_of
from nestor_catalog_server.state import AppState, AppStateParam

__all__ = ["PublishingRoutes"]

JSON: Final = "application/json"
_API_OWNER: Final = Source(kind=SourceKind.API).owner


def _api_source(request: Request[Any, Any, Any]) -> Source:
    return Source(kind=SourceKind.API, user=principal_of(request).subject)


def _owned_entry(catalog: Catalog, name: str, version: str) -> CatalogEntry:
    """The version, if the API owns its name; 409 otherwise."""
    entry = catalog.entry(name, version)
    owner = entry.stored.source.owner
    if owner != _API_OWNER:
        raise OwnershipConflict(
            f"{name} is owned by {owner}; change it there, not through the API",
            details={"resource_name": name, "version": version, "owner": owner},
        )
    return entry


def _api_write(request: Request[Any, Any, Any], app_state: AppState, name: str, version: str) -> tuple[Catalog, Source]:
    """The writable catalog (405 on a mirror) and the caller's ``Source``, for a change to a
    version the API owns (404 if there is none, 409 if a git repository or a directory owns it)."""
    catalog = app_state.writable_catalog
    _owned_entry(catalog, name, version)
    return catalog, _api_source(request)


#: What every write to one version says in its OpenAPI description, after what it does.
_VERSION_WRITE_NOTES: Final = (
    "Only for names the API owns (409 `OWNERSHIP_CONFLICT` for a name a git repository or directory "
    "publishes), with the write claim when auth is enabled (401/403); 404 `RESOURCE_NOT_FOUND` for an "
    "unknown version, 405 `READ_ONLY` on a read-only catalog."
)


def _version_route(
    route: Callable[..., HTTPRouteHandler], path: str, summary: str, description: str, *errors: int
) -> HTTPRouteHandler:
    """The decorator of a write to one version (``route`` is ``put``, ``post`` or ``delete``): for
    the write claim, answering the version's resource body (or ``errors`` beyond the usual ones);
    ``description`` says what it does, ``_VERSION_WRITE_NOTES`` follows it."""
    return route(
        path,
        opt=WRITE,
        tags=["publishing"],
        status_code=200,
        summary=summary,
        description=f"{description} {_VERSION_WRITE_NOTES}",
        responses=schemas.responses(schemas.ResourceBody, 400, 401, 403, 404, 405, 409, *errors),
    )


async def _write_version(
    request: Request[Any, Any, Any],
    app_state: AppState,
    name: str,
    version: str,
    method: Callable[[Catalog], Callable[..., Awaitable[object]]],
    *args: object,
    **options: object,
) -> Response[bytes]:
    """Call ``method(catalog)(name, version, *args, source=, user=, **options)`` (a ``Catalog``
    write) as the caller, on a version the API owns; answer the version's new resource body."""
    catalog, source = _api_write(request, app_state, name, version)
    await method(catalog)(name, version, *args, source=source, user=source.user, **options)
    return _resource_response(catalog, name, version)


def _resource_response(catalog: Catalog, name: str, version: str) -> Response[bytes]:
    return Response(content=catalog.entry(name, version).body(), media_type=JSON)


def _result_dict(result: PublishResult) -> dict[str, Any]:
    return {
        "outcome": result.outcome,
        "resource": result.resource.to_dict(),
        "warnings": [finding.to_dict() for finding in result.warnings],
    }


def _deprecation(body: bytes) -> Deprecation:
    data = json_object(body, what="the deprecation")
    try:
        return Deprecation.model_validate(data, strict=False)
    except ValidationError as exc:
        problems = [
            {"field": ".".join(str(part) for part in error["loc"]), "message": error["msg"]} for error in exc.errors()
        ]
        summary = "; ".join(f"{p['field'] or 'body'}: {p['message']}" for p in problems)
        raise InvalidRequest(f"invalid deprecation: {summary}", details={"errors": problems}) from None


class PublishingRoutes:
    """The write routes of ``ResourcesController`` (mixed in: Litestar wants one controller per
    path); each is marked ``opt=WRITE`` for the auth guard."""

    @post(
        "/",
        opt=WRITE,
        tags=["publishing"],
        summary="Publish one or more definitions (YAML or JSON)",
        description=(
            "Publishes every ResourceDefinition in the body (YAML, several documents allowed, or JSON with "
            "`Content-Type: application/json`) as API-owned versions and answers each one's `{outcome, "
            "resource, warnings}`: 201 when a version was created, 200 when all were already there "
            "(`unchanged`, `lifecycle`, `restored`). Nothing is published when any document has errors (422 "
            "`VALIDATION_FAILED` with every finding); 409 for a version published with other content "
            "(`IMMUTABLE_VERSION`), a change that needs a larger version bump (`INCOMPATIBLE_CHANGE`) or a "
            "name owned by a git repository or directory (`OWNERSHIP_CONFLICT`). Needs the write claim when "
            "auth is enabled; 405 `READ_ONLY` on a read-only catalog, 413 past `service.max_body_size`."
        ),
        responses={
            **schemas.responses(schemas.PublishResultsBody, 400, 401, 403, 405, 409, 413, 422, status=201),
            200: schemas.responses(schemas.PublishResultsBody, description="Nothing new was created")[200],
        },
    )
    async def publish(self, request: Request[Any, Any, Any], app_state: AppStateParam) -> Response[bytes]:
        catalog = app_state.writable_catalog
        suffix = definition_suffix(request)
        body = await read_body(request)
        source = _api_source(request)
        try:
            results = await catalog.publish_bytes(
                body, file=POSTED_FILE, source=source, user=source.user, suffix=suffix
            )
        except ValidationFailed as exc:
            app_state.metrics.validation_failed(f.rule for f in exc.findings if f.is_error)
            raise
        created = any(result.outcome == "created" for result in results)
        content = json.dumps({"results": [_result_dict(r) for r in results]}, ensure_ascii=False, default=str)
        return Response(content=content.encode(), media_type=JSON, status_code=201 if created else 200)

    @_version_route(
        put,
        "/{name:str}/{version:str}/deprecation",
        "Deprecate a version (or change its deprecation)",
        "Sets the version's lifecycle block from the body `{message, replacement?, sunset?}` (400 when it "
        "is not one, 422 for a message over the length limit) and answers the updated resource body; reads of "
        "the version then carry `Deprecation` headers, and from 00:00 UTC of `sunset` it is no longer chosen "
        "as latest.",
        413,
    )
    async def deprecate(
        self, request: Request[Any, Any, Any], app_state: AppStateParam, name: FromPath[str], version: FromPath[str]
    ) -> Response[bytes]:
        catalog, source = _api_write(request, app_state, name, version)
        deprecation = _deprecation(await read_body(request))  # read once the version is known to be the API's
        await catalog.deprecate(name, version, deprecation, source=source, user=source.user)
        return _resource_response(catalog, name, version)

    @_version_route(
        delete,
        "/{name:str}/{version:str}/deprecation",
        "Clear a version's deprecation",
        "Removes the version's lifecycle block (the version is no longer deprecated) and answers the "
        "updated resource body.",
    )
    async def undeprecate(
        self, request: Request[Any, Any, Any], app_state: AppStateParam, name: FromPath[str], version: FromPath[str]
    ) -> Response[bytes]:
        return await _write_version(request, app_state, name, version, lambda catalog: catalog.deprecate, None)

    @_version_route(
        delete,
        "/{name:str}/{version:str}",
        "Withdraw a version (still fetchable exactly; excluded from latest, lists and constraints)",
        "Marks the version withdrawn and answers its resource body (`status.withdrawn: true`); it stays "
        "fetchable at its exact URL (with a `Warning`) and can be restored. Withdrawing a withdrawn version "
        "changes nothing.",
    )
    async def withdraw(
        self, request: Request[Any, Any, Any], app_state: AppStateParam, name: FromPath[str], version: FromPath[str]
    ) -> Response[bytes]:
        reason = "withdrawn through the API"
        return await _write_version(request, app_state, name, version, lambda catalog: catalog.withdraw, reason=reason)

    @_version_route(
        post,
        "/{name:str}/{version:str}/restore",
        "Restore a withdrawn version",
        "Clears the version's withdrawal, so latest, lists and constraints see it again, and answers its "
        "resource body; a version that is not withdrawn is left as it is.",
    )
    async def restore(
        self, request: Request[Any, Any, Any], app_state: AppStateParam, name: FromPath[str], version: FromPath[str]
    ) -> Response[bytes]:
        return await _write_version(request, app_state, name, version, lambda catalog: catalog.restore)
