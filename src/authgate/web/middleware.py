"""A pure ASGI middleware (not ``BaseHTTPMiddleware``: no extra task per request, no
body buffering) that authenticates a request only when someone needs the answer.

* HTTP paths under ``require`` (and not under ``exclude``) are verified before the app
  runs and refused with the prebuilt RFC 6750 §3 401 (``web/refusal.py``) without a
  valid token, which protects an existing app without touching its routes.
* Everywhere else nothing is verified up front: a route that never asks for the caller
  never reaches the verifier, whatever the bearer holds (ARCHITECTURE.md: a stale or
  bogus token costs a public route nothing). The first reader verifies, once per
  request: a dependency (``CurrentUser``, ``OptionalUser``, ``require_scopes``),
  ``get_principal()``, ``request.user`` / ``request.auth``, or
  ``request.state.authgate_principal``.

Starlette's conventions hold: ``scope["user"]`` is a ``BaseUser`` and ``scope["auth"]``
an ``AuthCredentials`` with the token's scopes, so ``request.user.is_authenticated``
and ``starlette.authentication.requires("items:read")`` work.

WebSocket connections under ``require`` are held to the same rule: without a valid
token in the subprotocol (``web/websocket.py``) the handshake is closed with 1008
before the app runs (the server answers the upgrade with 403), so a socket route that
forgets to ask for the caller is still protected. A route that authenticates by its
first message must be listed in ``exclude`` (it asks for the caller itself).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from authgate.errors import AuthError, TokenError
from authgate.web.errors import error_response, websocket_refusal
from authgate.web.principal_context import (
    PRINCIPAL_STATE,
    PRINCIPAL_VAR,
    Authenticator,
    DeferredPrincipal,
    starlette_auth,
)
from authgate.web.refusal import token_refusal

__all__ = ["AuthMiddleware"]


class _DeferredState(dict[str, Any]):
    """``scope["state"]`` whose ``authgate_principal`` is verified on first read
    (``request.state`` reads with ``[]``, which falls back on ``__missing__``).

    A copy of the request's state dict that writes through to it, so whoever holds the
    original (an outer ``BaseHTTPMiddleware``'s ``request.state``) sees every write.
    """

    __slots__ = ("deferred", "original")

    def __init__(self, original: dict[str, Any], deferred: DeferredPrincipal) -> None:
        super().__init__(original)
        self.original = original
        self.deferred = deferred

    def __missing__(self, key: str) -> Any:
        if key == PRINCIPAL_STATE:
            return self.deferred.resolve()
        raise KeyError(key)

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self.original[key] = value

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self.original.pop(key, None)


class AuthMiddleware:
    """Args:
    app: the wrapped ASGI app.
    guard: the :class:`~authgate.web.guard.TokenGuard` that verifies (any
        :class:`~authgate.web.principal_context.Authenticator`).
    require: path prefixes that need a valid token (e.g. ``["/api/"]``).
    exclude: path prefixes exempt from ``require`` (e.g. ``["/api/public"]``).
    """

    def __init__(
        self,
        app: ASGIApp,
        guard: Authenticator,
        *,
        require: Sequence[str] = (),
        exclude: Sequence[str] = (),
    ) -> None:
        self.app = app
        self.guard = guard
        self.require = tuple(require)
        # A prefix ending in "/" also covers the path without it (``/admin/`` covers
        # ``/admin``): more is refused, never less.
        self.require_exact = frozenset(p.rstrip("/") for p in require if p.rstrip("/"))
        # An exemption ends at a segment boundary: ``/api/public`` exempts
        # ``/api/public`` and ``/api/public/...``, never ``/api/publicity``.
        self.exclude_exact = frozenset(p.rstrip("/") or "/" for p in exclude)
        self.exclude = tuple(p if p.endswith("/") else p + "/" for p in exclude) or ("\0",)

    def _required(self, scope: Scope) -> bool:
        """Whether the path the router routes on (``path`` less ``root_path``, as
        Starlette's ``get_route_path``; a mounted sub-app sees its mount point in
        ``root_path``) falls under ``require`` and not under ``exclude``. The full
        ``path`` is checked against ``require`` too, so either form of a prefix holds.
        """
        path: str = scope.get("path", "")
        route = path
        root: str = scope.get("root_path", "")
        if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("/", ""):
            route = path[len(root) :] or "/"
        required = self.require
        if not (
            route.startswith(required)
            or route in self.require_exact
            or path.startswith(required)
            or path in self.require_exact
        ):
            return False
        return not (route.startswith(self.exclude) or route in self.exclude_exact)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        guard = self.guard
        source: Any = None
        if self.require and self._required(scope):
            result = await guard.authenticate(scope)
            source = result.principal
            if source is None:
                refusal = (
                    websocket_refusal(result.error)
                    if kind == "websocket"
                    else self._refuse(result.error)
                )
                await refusal(scope, receive, send)
                return
        if source is not None:
            scope["user"], scope["auth"] = starlette_auth(source)
            # For get_principal(), during the downstream call only (never past it).
            reset = PRINCIPAL_VAR.set(source)
            try:
                await self.app(scope, receive, send)
            finally:
                PRINCIPAL_VAR.reset(reset)
            return
        deferred = DeferredPrincipal(guard, scope)
        original = scope.get("state")
        if original is None:
            original = scope["state"] = {}
        state = scope["state"] = _DeferredState(original, deferred)
        scope["user"], scope["auth"] = starlette_auth(deferred)
        reset = PRINCIPAL_VAR.set(deferred)
        try:
            await self.app(scope, receive, send)
        finally:
            PRINCIPAL_VAR.reset(reset)
            deferred.detach()
            original.update(state)  # what was written around __setitem__ (update())
            scope["state"] = original

    def _refuse(self, error: AuthError | None) -> Any:
        if error is None or isinstance(error, TokenError):
            # RFC 6750 §3.1: no credentials at all gets no error attribute.
            return token_refusal(self.guard.realm, missing=error is None)
        return error_response(error, realm=self.guard.realm)
