"""``AuthGate``: the auth endpoints, dependencies and middleware for one FastAPI app.

::

    settings = Settings()
    gate = AuthGate(settings)                 # opens the auth service in the lifespan
    app = FastAPI(lifespan=gate.lifespan)
    gate.install(app)                         # router, error mapping, middleware

    @app.get("/me")
    async def me(user: CurrentUser) -> dict[str, str]:
        return {"sub": user.sub}
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI
from starlette.requests import HTTPConnection

from authgate.clock import Clock
from authgate.endpoints.auth_router import AuthRouter, bounded_route_class
from authgate.endpoints.routes_cookie import cookie_routes
from authgate.endpoints.routes_meta import meta_routes
from authgate.endpoints.routes_mfa import mfa_routes
from authgate.endpoints.routes_oauth import INTROSPECT_SCOPE, oauth_routes
from authgate.endpoints.routes_passkeys import passkey_routes
from authgate.endpoints.routes_recovery import recovery_routes
from authgate.endpoints.routes_token import token_routes
from authgate.endpoints.routes_users import user_routes
from authgate.errors import StoreUnavailable
from authgate.service.protocol import AuthServiceProtocol
from authgate.service.types import ClientInfo
from authgate.settings import Settings
from authgate.tokens import VerifiedToken
from authgate.web.body_limit import DEFAULT_MAX_BODY_BYTES
from authgate.web.guard import TokenGuard

if TYPE_CHECKING:
    from authgate.service.client_jwks import JwksFetcher

__all__ = ["INTROSPECT_SCOPE", "AuthGate"]

_MAX_USER_AGENT = 512

log = logging.getLogger("authgate")


class AuthGate:
    """The auth server's HTTP surface over an :class:`AuthServiceProtocol`.

    Args:
        settings: the one settings object.
        service: an already-open service; when ``None``, :meth:`lifespan` opens one
            (``authgate.service.open_service``) and closes it on shutdown.
        fetch_jwks: passed to the service this gate opens (clients' ``jwks_uri``).
        prefix: where the OAuth endpoints live (``/auth`` gives ``/auth/token``).
        clock: passed to the service this gate opens.
        max_body_bytes: the largest request body the auth endpoints read (413
            ``request_too_large`` above it), however the app is assembled.
    """

    def __init__(
        self,
        settings: Settings,
        service: AuthServiceProtocol | None = None,
        *,
        prefix: str = "/auth",
        users_prefix: str = "/users",
        clock: Clock | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        fetch_jwks: JwksFetcher | None = None,
    ) -> None:
        self.settings = settings
        self.fetch_jwks = fetch_jwks
        #: The route class of every auth endpoint (the body bound; its
        #: ``max_body_bytes`` is the limit).
        self.route_class = bounded_route_class(max_body_bytes)
        self._service = service
        self._owns_service = False
        self.clock = clock
        self.prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self.users_prefix = "/" + users_prefix.strip("/")
        self.token_path = f"{self.prefix}/token"
        self.guard = TokenGuard(
            self,
            cookies=settings.cookies,
            token_url=self.token_path,
            scopes=[*settings.default_scopes, INTROSPECT_SCOPE],
        )
        self.router = self._build_router()
        self._issuer_warned = False

    # -- the service ------------------------------------------------------------

    @property
    def service(self) -> AuthServiceProtocol:
        if self._service is None:
            raise StoreUnavailable("the auth service is not running")
        return self._service

    async def verify_access_token(self, token: str) -> VerifiedToken:
        """:class:`AccessTokenVerifier` for the guard: delegates to the service."""
        service = self._service  # not the property: this runs on every protected request
        if service is None:
            raise StoreUnavailable("the auth service is not running")
        return await service.verify_access_token(token)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[AuthServiceProtocol]:
        """Open the service unless one was given; close what we opened."""
        self._warn_default_issuer()
        if self._service is not None:
            yield self._service
            return
        from authgate.service import open_service

        service = await open_service(self.settings, clock=self.clock, fetch_jwks=self.fetch_jwks)
        self._service = service
        try:
            yield service
        finally:
            self._service = None
            await service.aclose()

    @asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        """A FastAPI ``lifespan`` that runs :meth:`running`."""
        async with self.running():
            yield

    # -- wiring -----------------------------------------------------------------

    def _warn_default_issuer(self) -> None:
        # RFC 8414 §2 / RFC 9068 §4: every token's ``iss`` and the metadata's URLs come
        # from the issuer; the default names loopback port 8000, wrong for any other app.
        if self._issuer_warned or "issuer" in self.settings.model_fields_set:
            return
        self._issuer_warned = True
        log.warning(
            "authgate: AUTHGATE_ISSUER is not set; the issuer defaulted to %s, which goes "
            "into every token's iss and the metadata's URLs. Set AUTHGATE_ISSUER (or "
            "Settings(issuer=...)) to this app's public URL, e.g. https://auth.example.com",
            self.settings.issuer,
        )

    def install(
        self,
        app: FastAPI,
        *,
        middleware: bool = True,
        require: Sequence[str] = (),
        exclude: Sequence[str] = (),
    ) -> None:
        """Add the endpoints, the error mapping, the guard and (by default) the middleware.

        ``require`` and ``exclude`` are the middleware's options (path prefixes refused
        with 401 before the app runs without a valid token, and exemptions from them),
        so an app never needs a second ``AuthMiddleware``. The middleware verifies only
        when asked: a route outside ``require`` that reads no caller never verifies.

        The endpoints are an :class:`AuthRouter`: a request for any other path passes
        them with a substring test, wherever ``install`` is called; each reads at most
        ``max_body_bytes`` of a request body. Included with ``include_router``, they
        take the app's ``dependencies=[...]`` and ``dependency_overrides`` like any
        other route. ``require`` / ``exclude`` are :class:`AuthMiddleware`'s path
        prefixes (401 before the app runs), so nobody adds a second middleware.
        """
        app.state.authgate = self
        app.include_router(self.router)
        self.guard.install(app, middleware=middleware, require=require, exclude=exclude)

    def client_info(self, conn: HTTPConnection) -> ClientInfo:
        ua = conn.headers.get("user-agent")
        return ClientInfo(
            ip=conn.client.host if conn.client else None,
            user_agent=ua[:_MAX_USER_AGENT] if ua else None,
        )

    def url(self, path: str) -> str:
        """An absolute URL under the issuer (RFC 8414 §2: endpoints are absolute)."""
        return self.settings.issuer.rstrip("/") + path

    def _build_router(self) -> AuthRouter:
        # Flat: the sub-routers' routes themselves (their paths are complete), so one
        # AuthRouter level is all FastAPI walks on a hit.
        router = AuthRouter()
        routes = (
            token_routes,
            oauth_routes,
            cookie_routes,
            user_routes,
            recovery_routes,
            mfa_routes,
            passkey_routes,
            meta_routes,
        )
        for build in routes:
            sub: APIRouter | None = build(self)
            if sub is not None:
                router.routes.extend(sub.routes)
        return router
