"""Small request helpers shared by the controllers: raw headers, bodies and their media types."""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlencode

from litestar import Request

from nestor_catalog_core import InvalidRequest, decode_json

__all__ = [
    "DEFINITION_MEDIA_TYPES",
    "POSTED_FILE",
    "definition_suffix",
    "json_object",
    "next_link",
    "raw_header",
    "read_body",
]

#: The file name findings about a posted body carry (``/validate`` and publishing alike).
POSTED_FILE: Final = "<request>"

#: Media types a definition payload may be posted as (YAML or JSON); no Content-Type means "sniff".
DEFINITION_MEDIA_TYPES: Final = frozenset(
    {"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain", "application/json"}
)


def raw_header(request: Request[Any, Any, Any], name: bytes) -> str | None:
    """A header's value straight from the ASGI scope (``name`` lower-case), without building
    Litestar's ``Headers``: the hot paths read one header per request."""
    for key, value in request.scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


async def read_body(request: Request[Any, Any, Any]) -> bytes:
    """The raw body; Litestar refuses it with 413 past ``service.max_body_size``."""
    return await request.body()


def _media_type(request: Request[Any, Any, Any]) -> str | None:
    content_type = raw_header(request, b"content-type")
    if not content_type:
        return None
    return content_type.split(";", 1)[0].strip().lower() or None


def definition_suffix(request: Request[Any, Any, Any]) -> str | None:
    """``.json`` for a JSON body, ``None`` (YAML, or sniffed) otherwise; 400 for other types."""
    media_type = _media_type(request)
    if media_type is None or media_type in DEFINITION_MEDIA_TYPES or media_type.endswith("+yaml"):
        return ".json" if media_type == "application/json" else None
    raise InvalidRequest(
        f"unsupported Content-Type {media_type!r}: post YAML (application/yaml) or JSON (application/json)",
        details={"content_type": media_type, "accepted": sorted(DEFINITION_MEDIA_TYPES)},
    )


def json_object(body: bytes, *, what: str) -> dict[str, Any]:
    """``body`` parsed as a JSON object; 400 ``INVALID_REQUEST`` for anything else.

    Every JSON request body goes through core's ``decode_json``: no ``NaN``/``Infinity``, no
    duplicate keys, bounded nesting (100k ``[`` is a 400, not a ``RecursionError``)."""
    value = decode_json(body, what=what) if body.strip() else None
    if not isinstance(value, dict):
        kind = "an empty body" if value is None else f"a JSON {type(value).__name__}"
        raise InvalidRequest(f"{what} must be a JSON object, got {kind}", details={"body": "not_an_object"})
    return value


def next_link(request: Request[Any, Any, Any], next_cursor: str) -> str:
    """``Link`` header value for the next page: the same query with ``cursor`` replaced."""
    params = [(key, value) for key, value in request.query_params.multi_items() if key != "cursor"]
    params.append(("cursor", next_cursor))
    return f'<{request.url.path}?{urlencode(params)}>; rel="next"'
