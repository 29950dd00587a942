"""The Litestar response of the SSE route: it sends the headers and hands the socket to the
``EventStream``, releasing its connection slot however the stream ends."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

from litestar import Request
from litestar.response import Response
from litestar.response.base import ASGIResponse

from nestor_catalog_server.api.sse.stream import EventStream

if TYPE_CHECKING:
    from litestar.app import Litestar
    from litestar.background_tasks import BackgroundTask, BackgroundTasks
    from litestar.datastructures import Cookie
    from litestar.enums import MediaType
    from litestar.types import Receive, Scope, Send, TypeEncodersMap

__all__ = ["EventStreamResponse"]

_STREAM_HEADERS: Final = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class _EventStreamASGIResponse(ASGIResponse):
    """Sends the headers, then runs the stream; the slot is released however it ends
    (client gone, shutdown, slow consumer, cancellation, an error in ``send``)."""

    __slots__ = ("_stream",)

    _should_set_content_length = False

    def __init__(self, stream: EventStream, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.start_response(send)
            await self._stream.serve(send, receive)
        finally:
            self._stream.release()


class EventStreamResponse(Response[bytes]):
    """The handler's return value: headers for ``text/event-stream`` around an ``EventStream``."""

    def __init__(self, stream: EventStream) -> None:
        super().__init__(content=b"", media_type="text/event-stream", headers=dict(_STREAM_HEADERS))
        self.stream = stream

    def to_asgi_response(
        self,
        app: Litestar | None,
        request: Request[Any, Any, Any],
        *,
        background: BackgroundTask | BackgroundTasks | None = None,
        cookies: Iterable[Cookie] | None = None,
        encoded_headers: Iterable[tuple[bytes, bytes]] | None = None,
        headers: dict[str, str] | None = None,
        is_head_response: bool = False,
        media_type: MediaType | str | None = None,
        status_code: int | None = None,
        type_encoders: TypeEncodersMap | None = None,
    ) -> ASGIResponse:
        merged = {**headers, **self.headers} if headers else dict(self.headers)
        return _EventStreamASGIResponse(
            self.stream,
            cookies=[*self.cookies, *(cookies or ())],
            headers=merged,
            media_type="text/event-stream",
            status_code=200,
        )
