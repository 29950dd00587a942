"""``RawResponse``: prebuilt bytes sent as two ASGI messages, for the hot read paths.

Litestar's ``Response`` builds a case-insensitive header structure and re-checks everything per
request; for a body that already exists as bytes with three or four headers that is most of
the request's cost. A handler annotated ``-> RawResponse`` returns one of these and Litestar
calls it as the ASGI app it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from litestar.types import Receive, Scope, Send

__all__ = ["RawResponse", "json_response", "not_modified"]

_JSON: Final = (b"content-type", b"application/json")


class RawResponse:
    """A response whose status, encoded headers and body are fixed when it is made."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, body: bytes, headers: list[tuple[bytes, bytes]], status: int = 200) -> None:
        self.body = body
        self.headers = headers
        self.status = status

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": False})


def _encoded(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]


def json_response(
    body: bytes, headers: Mapping[str, str], status: int = 200, *, media_type: str | None = None
) -> RawResponse:
    """``body`` as ``application/json`` (or ``media_type``) with ``headers`` (latin-1 values)."""
    content_type = _JSON if media_type is None else (b"content-type", media_type.encode("latin-1"))
    encoded = [content_type, (b"content-length", str(len(body)).encode("latin-1")), *_encoded(headers)]
    return RawResponse(body, encoded, status)


def not_modified(headers: Mapping[str, str]) -> RawResponse:
    """304 with the validators and caching headers a 200 would have carried, and no body."""
    return RawResponse(b"", _encoded(headers), 304)
