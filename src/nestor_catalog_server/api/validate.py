"""Dry runs and schemas: ``POST /api/v1/validate`` and ``GET /api/v1/schema``.

``/validate`` reports what ``nestor-catalog validate`` reports for the posted text (the same
loader, the same rules, every finding with its line and column) and, with
``compatibility=true``, what a publish would also refuse: a published version whose content
differs (``IMMUTABLE_VERSION``) and changes that need a larger version bump than the one
declared against the highest published version below it. Nothing is written.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from functools import lru_cache
from typing import Annotated, Any, Final
from urllib.parse import urlsplit

from litestar import Controller, Request, Response, get, post
from litestar.params import QueryParameter

from nestor_catalog_core import (
    CatalogReader,
    Finding,
    LoadedDocument,
    LoadOptions,
    LoadResult,
    NotFoundError,
    ResourceDefinition,
    Severity,
    ValidatedDocument,
    ValidationSettings,
    definition_json_schema,
    load_bytes,
    validate_document,
)
from nestor_catalog_core.validation import DEFINITION_SCHEMA_ID
from nestor_catalog_core.versions import compare, version_key
from nestor_catalog_server.api import schemas
from nestor_catalog_server.api._request import POSTED_FILE, definition_suffix, read_body
from nestor_catalog_server.config.catalog import catalog_settings
from nestor_catalog_server.state import AppStateParam

__all__ = ["SCHEMA_ID_PATH", "ValidateController", "compatibility_findings", "definition_schema_at_id"]

JSON: Final = "application/json"
Switch = Annotated[bool | None, QueryParameter(description="Defaults to the server's validation settings.")]


@lru_cache(maxsize=1)
def _definition_schema_bytes() -> bytes:
    return json.dumps(definition_json_schema(), ensure_ascii=False, separators=(",", ":")).encode()


def compatibility_findings(
    catalog: CatalogReader, document: LoadedDocument, definition: ResourceDefinition, *, mode: str
) -> list[Finding]:
    """What a publish of ``definition`` would meet in ``catalog``: immutability of an existing
    version, else the compatibility report against the highest version below it (errors in
    ``strict`` mode, warnings in ``warn``, nothing when ``off``)."""
    name, version = definition.key
    if catalog.has(name, version):
        published = catalog.entry(name, version)
        if published.digest == definition.compute_digest():
            return []
        line, column = document.position(("metadata", "version"))
        message = (
            f"{name} {version} is already published with other content; versions are immutable, "
            "so publish the change as a new version"
        )
        return [Finding("IMMUTABLE_VERSION", Severity.ERROR, "metadata.version", message, document.file, line, column)]
    if mode == "off":
        return []
    previous = _predecessor(catalog, name, version)
    if previous is None:
        return []
    report = compare(previous, definition)
    findings = report.findings(document.file, locate=document)
    if mode == "warn":
        return [f if not f.is_error else _as_warning(f) for f in findings]
    return findings


def _predecessor(catalog: CatalogReader, name: str, version: str) -> ResourceDefinition | None:
    """The highest published version below ``version`` (withdrawn ones too, as a publish does)."""
    try:
        entries = catalog.versions(name)
    except NotFoundError:
        return None
    key = version_key(version)
    for entry in entries:
        if entry.key < key:
            return entry.definition()
    return None


def _as_warning(finding: Finding) -> Finding:
    return Finding(
        finding.rule, Severity.WARNING, finding.field, finding.message, finding.file, finding.line, finding.column
    )


def _load_and_validate(
    body: bytes, suffix: str | None, options: LoadOptions, settings: ValidationSettings
) -> tuple[LoadResult, list[ValidatedDocument]]:
    """What a publish of ``body`` would load and validate (the same loader, file name and rules)."""
    loaded = load_bytes(body, POSTED_FILE, options=options, suffix=suffix)
    return loaded, [validate_document(document, settings) for document in loaded.documents]


def _definition_schema_response() -> Response[bytes]:
    return Response(
        content=_definition_schema_bytes(),
        media_type="application/schema+json",
        headers={"Cache-Control": "public, max-age=3600"},
    )


#: The path of the schema's ``$id``: a catalog server answers there too, so pointing the
#: ``$id``'s host at a catalog (or an editor's ``$schema`` at any catalog) resolves it. Both
#: schema routes are public with auth on: the schema is the document format, not catalog data,
#: and editors fetching it carry no token.
SCHEMA_ID_PATH: Final = urlsplit(DEFINITION_SCHEMA_ID).path


@get(
    SCHEMA_ID_PATH,
    sync_to_thread=False,
    opt={"public": True},
    summary="The ResourceDefinition JSON Schema at the path of its $id",
    description=(
        "The same schema as `GET /api/v1/schema`, served at the path of its `$id`, so a catalog server can "
        "resolve the `$id` (or an editor's `$schema`) itself. Public: no token needed, even with auth enabled."
    ),
    tags=["validation"],
    responses=schemas.responses(dict[str, Any], media_type="application/schema+json"),
)
def definition_schema_at_id() -> Response[bytes]:
    """``GET /api/v1/schema`` at the path of the schema's ``$id`` (its description, written for the
    docs, is the decorator's)."""
    return _definition_schema_response()


class ValidateController(Controller):
    """``/api/v1/validate`` and ``/api/v1/schema``."""

    path = "/api/v1"
    tags = ["validation"]

    @get(
        "/schema",
        sync_to_thread=False,
        opt={"public": True},
        summary="The ResourceDefinition JSON Schema (for editors and yaml-language-server)",
        description=(
            "The JSON Schema (`application/schema+json`) of the ResourceDefinition format, as the server "
            "validates it; cacheable for an hour. Public: no token needed, even with auth enabled."
        ),
        responses=schemas.responses(dict[str, Any], media_type="application/schema+json"),
    )
    def definition_schema(self) -> Response[bytes]:
        return _definition_schema_response()

    @post(
        "/validate",
        status_code=200,
        summary="Validate posted YAML or JSON without publishing (the CLI's checks plus compatibility)",
        description=(
            "A dry run of `POST /api/v1/resources`: always 200 `{valid, files, definitions, findings}`, with "
            "every finding (rule, severity, field, line and column) and nothing written. `strict`, `schema` "
            "and `policies` override the server's validation settings; `compatibility` (default true) also "
            "checks the versions against the catalog (`IMMUTABLE_VERSION`, version bumps)."
        ),
        responses=schemas.responses(schemas.ValidateBody, 400, 413),
    )
    async def validate(
        self,
        request: Request[Any, Any, Any],
        app_state: AppStateParam,
        strict: Switch = None,
        schema: Switch = None,
        policies: Switch = None,
        compatibility: Annotated[
            bool, QueryParameter(description="Also check immutability and semantic versioning against the catalog.")
        ] = True,
    ) -> Response[bytes]:
        configured_catalog = catalog_settings(app_state.settings)
        configured = configured_catalog.validation
        settings = dataclasses.replace(
            configured,
            strict_mode=configured.strict_mode if strict is None else strict,
            schema_validation=configured.schema_validation if schema is None else schema,
            policy_enforcement=configured.policy_enforcement if policies is None else policies,
        )
        suffix = definition_suffix(request)
        body = await read_body(request)
        # Loading and validating a body of up to service.max_body_size is CPU work: off the loop.
        loaded, checked = await asyncio.to_thread(
            _load_and_validate, body, suffix, configured_catalog.load_options, settings
        )
        findings = list(loaded.findings)
        mode = app_state.settings.validation.compatibility
        for document, validated in zip(loaded.documents, checked, strict=True):
            findings.extend(validated.findings)
            if compatibility and validated.ok and validated.definition is not None:
                findings.extend(compatibility_findings(app_state.catalog, document, validated.definition, mode=mode))
        result = {
            "valid": not any(f.is_error for f in findings),
            "files": 1,
            "definitions": len(loaded.documents),
            "findings": [f.to_dict() for f in findings],
        }
        return Response(content=json.dumps(result, ensure_ascii=False).encode(), media_type=JSON)
