"""A pure ASGI middleware (not ``BaseHTTPMiddleware``: no extra task per request, no
body buffering) that authenticates each request once.

The outcome lands in ``scope["state"]``, so ``request.state.authgate_principal`` is
the :class:`~authgate.tokens.VerifiedToken` or ``None``; the dependencies reuse it, and
``get_principal()`` returns it anywhere below the middleware during the request.
HTTP paths under ``require`` are refused with the RFC 6750 §3 401 before the app runs,
which protects an existing app without touching its routes. WebSocket connections
pass through untouched: their routes authenticate with ``CurrentUser`` (subprotocol).
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

from authgate.errors import MissingToken
from authgate.web.errors import error_response
from authgate.web.guard import TokenGuard
from authgate.web.principal_context import PRINCIPAL_VAR

__all__ = ["AuthMiddleware"]


class AuthMiddleware:
    """Args:
    app: the wrapped ASGI app.
    guard: the :class:`TokenGuard` that verifies.
    require: path prefixes that need a valid token (e.g. ``["/api/"]``).
    exclude: path prefixes exempt from ``require`` (e.g. ``["/api/public"]``).
    """

    def __init__(
        self,
        app: ASGIApp,
        guard: TokenGuard,
        *,
        require: Sequence[str] = (),
        exclude: Sequence[str] = (),
    ) -> None:
        self.app = app
        self.guard = guard
        self.require = tuple(require)
        self.exclude = tuple(exclude)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        result = await self.guard.authenticate(scope)
        if result.principal is None and self.require:
            path: str = scope.get("path", "")
            if path.startswith(self.require) and not path.startswith(self.exclude or ("\0",)):
                error = result.error or MissingToken("no credentials")
                response = error_response(error, realm=self.guard.realm)
                await response(scope, receive, send)
                return
        # For get_principal(), during the downstream call only (never past the request).
        reset = PRINCIPAL_VAR.set(result.principal)
        try:
            await self.app(scope, receive, send)
        finally:
            PRINCIPAL_VAR.reset(reset)
