"""A pure ASGI middleware that bounds every HTTP request body.

FastAPI buffers a JSON body whole before pydantic sees a ``max_length``, so without a
bound one request can make the server hold megabytes. Here a declared
``Content-Length`` over the limit is refused before anything is read, and a body
without one (chunked) is counted as it streams: the read that crosses the limit
raises :class:`BodyTooLarge` (a Starlette ``HTTPException``), which the one error
mapping (:mod:`authgate.web.errors`) turns into ``413 request_too_large``
(RFC 9110 §15.5.14). WebSocket and lifespan scopes pass through.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authgate.web.errors import too_large_response

__all__ = ["DEFAULT_MAX_BODY_BYTES", "BodyLimitMiddleware", "BodyTooLarge"]

#: Large enough for every authgate request (the biggest is a form or JSON login).
DEFAULT_MAX_BODY_BYTES = 64 * 1024


class BodyTooLarge(HTTPException):
    """The request body went over the limit while it was being read."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


class BodyLimitMiddleware:
    """Args:
    app: the wrapped ASGI app.
    max_bytes: the largest request body accepted.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must not be negative")
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        for key, value in scope.get("headers", ()):
            if key == b"content-length":
                if value.isdigit() and int(value) > limit:
                    await too_large_response(limit)(scope, receive, send)
                    return
                break
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            # Raised outside an app with authgate's handlers (plain ASGI app).
            if started:
                raise
            await too_large_response(limit)(scope, receive, send)
