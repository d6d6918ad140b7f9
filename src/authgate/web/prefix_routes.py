"""The auth endpoints as one route that costs one string test for every other path.

Starlette matches a request against an app's routes in order. FastAPI's
``include_router`` puts each endpoint of the included router in that scan (FastAPI
0.165 wraps them in ``_IncludedRouter``, whose ``matches`` walks every child with
scope bookkeeping): an app that called ``AuthGate.install(app)`` before declaring its
own routes paid ~24 µs on every request of its own, about 40 % of a minimal FastAPI
request, before reaching them.

:class:`PrefixRoutes` holds the endpoints' ``APIRoute`` objects unchanged and answers
:meth:`~PrefixRoutes.matches` with ``Match.NONE`` after a single ``str.startswith``
against the endpoints' literal path prefixes (``/auth/token``, ``/users``,
``/.well-known/jwks.json``, ...). Only a path under one of them is matched route by
route, exactly as Starlette would. Nothing else changes: the matched ``APIRoute``
handles the request (405 for a known path with another method, trailing-slash
redirects, ``scope["route"]`` for metrics), ``url_path_for`` finds the endpoints, and
the app's OpenAPI document lists them (:func:`expand_routes`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["PrefixRoutes", "expand_routes"]

_ROUTE_KEY = "authgate.route"


def literal_prefix(path_format: str) -> str:
    """The part of a route path before its first ``{parameter}``."""
    brace = path_format.find("{")
    return path_format if brace < 0 else path_format[:brace]


def route_path(scope: Scope) -> str:
    """The path the app's routes see: ``scope["path"]`` less a mount's ``root_path``
    (what Starlette's own routing compares against)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("/", ""):
        return path[len(root) :]
    return path


class PrefixRoutes(BaseRoute):
    """``routes`` behind a prefix test; see the module docstring.

    Args:
        routes: flat routes (``APIRoute`` / Starlette ``Route``) with full paths.
        wrap: an ASGI wrapper put around each route's handler (``AuthGate`` bounds
            the request body of its endpoints with it), or ``None``.
    """

    def __init__(
        self, routes: Sequence[BaseRoute], *, wrap: Callable[[ASGIApp], ASGIApp] | None = None
    ) -> None:
        self.routes: list[BaseRoute] = list(routes)
        self._handlers: dict[int, ASGIApp] = {
            id(route): wrap(route.handle) if wrap is not None else route.handle
            for route in self.routes
        }
        prefixes = {literal_prefix(str(getattr(route, "path", ""))) for route in self.routes}
        if not prefixes or "" in prefixes:
            raise ValueError("every route needs a path")
        self.prefixes: tuple[str, ...] = tuple(sorted(prefixes))

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] not in ("http", "websocket"):
            return Match.NONE, {}
        if not route_path(scope).startswith(self.prefixes):
            return Match.NONE, {}
        partial: tuple[BaseRoute, Scope] | None = None
        for route in self.routes:
            match, child = route.matches(scope)
            if match is Match.FULL:
                return match, {**child, "route": route, _ROUTE_KEY: route}
            if match is Match.PARTIAL and partial is None:
                partial = (route, child)
        if partial is not None:
            route, child = partial
            return Match.PARTIAL, {**child, "route": route, _ROUTE_KEY: route}
        return Match.NONE, {}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The router put the matched route in the scope (``matches``'s child scope).
        await self._handlers[id(scope[_ROUTE_KEY])](scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        for route in self.routes:
            try:
                return route.url_path_for(name, **path_params)
            except NoMatchFound:
                continue
        raise NoMatchFound(name, path_params)

    def __repr__(self) -> str:
        return f"PrefixRoutes({len(self.routes)} routes under {', '.join(self.prefixes)})"


def expand_routes(routes: Sequence[BaseRoute]) -> Iterator[BaseRoute]:
    """``routes`` with every :class:`PrefixRoutes` replaced by the routes it holds (what
    OpenAPI generation must see: FastAPI documents only the ``APIRoute`` objects it
    finds in ``app.routes``)."""
    for route in routes:
        if isinstance(route, PrefixRoutes):
            yield from route.routes
        else:
            yield route
