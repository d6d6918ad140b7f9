"""The router of the auth endpoints: cheap to pass, and bounded in what it reads.

Starlette matches a request against an app's routes in order. Included as a plain
``APIRouter``, the ~15 auth endpoints would be tried, one by one with FastAPI's scope
bookkeeping, by every request of an app that called ``AuthGate.install(app)`` before
declaring its own routes: a large share of a minimal request, before the app's own
route was even tried (measured in BENCHMARKS.md, "Verification path").

:class:`AuthRouter` answers FastAPI's ``matches`` with ``Match.NONE`` at once when the
request path contains none of its endpoints' first path segments (``/auth``,
``/users``, ``/.well-known``). A substring test, not a prefix test, so the router may
still be included under a prefix (``include_router(router, prefix="/api")``, a
mounted app); a path that merely contains a segment is matched route by route, as
before. The router is still included with ``include_router``, so everything FastAPI
does for included routes holds: app-level ``dependencies``, ``dependency_overrides``,
OpenAPI (including a custom ``get_openapi(routes=app.routes)``), telemetry route
names, nested inclusion. On FastAPI versions that copy routes into the app at
inclusion, the test is not consulted and matching costs what it always did.

:func:`bounded_route_class` makes the endpoints read at most ``max_body_bytes`` of a
request body (:class:`~authgate.web.body_limit.BodyLimitMiddleware` around each
route's handler), in any app, with or without the app-wide middleware.
"""

from __future__ import annotations

from typing import ClassVar

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import Receive, Scope, Send

from authgate.web.body_limit import DEFAULT_MAX_BODY_BYTES, BodyLimitMiddleware

__all__ = ["AuthRouter", "BoundedRoute", "bounded_route_class", "first_segment"]


def first_segment(path_format: str) -> str:
    """``/users/me/sessions/{session_id}`` → ``/users``; ``/{x}`` → ``/``."""
    end = path_format.find("/", 1)
    segment = path_format if end < 0 else path_format[:end]
    brace = segment.find("{")
    return segment if brace < 0 else segment[:brace]


class AuthRouter(APIRouter):
    """An ``APIRouter`` that FastAPI passes with a substring test (module docstring)."""

    _segments: tuple[str, ...] = ()
    _segments_for: tuple[int, int] = (-1, -1)

    def segments(self) -> tuple[str, ...]:
        """The first path segments of the routes, recomputed when the routes change
        (their count, or FastAPI's own change counter where it keeps one)."""
        key = (len(self.routes), int(getattr(self, "_routes_version", 0)))
        if self._segments_for != key:
            found = {first_segment(str(getattr(r, "path", "/"))) for r in self.routes}
            # A route under "/" or a parameter ("/{x}") can match any path.
            self._segments = ("",) if "/" in found or "" in found else tuple(sorted(found))
            self._segments_for = key
        return self._segments

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path: str = scope.get("path", "")
        for segment in self.segments():
            if segment in path:
                return super().matches(scope)
        return Match.NONE, {}


class BoundedRoute(APIRoute):
    """An ``APIRoute`` whose handler reads at most ``max_body_bytes`` of the body."""

    max_body_bytes: ClassVar[int] = DEFAULT_MAX_BODY_BYTES

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        limited = BodyLimitMiddleware(super().handle, max_bytes=self.max_body_bytes)
        await limited(scope, receive, send)


def bounded_route_class(max_body_bytes: int) -> type[BoundedRoute]:
    """A :class:`BoundedRoute` subclass with this limit (a class, not an instance
    attribute, so it survives FastAPI versions that copy routes at inclusion)."""
    if max_body_bytes < 0:
        raise ValueError("max_body_bytes must not be negative")
    return type("AuthGateRoute", (BoundedRoute,), {"max_body_bytes": max_body_bytes})
