"""A resource-server guard over any :class:`~authgate.tokens.AccessTokenVerifier`.

``TokenGuard(verifier)`` gives FastAPI dependencies (``current_user``,
``optional_user``, ``require_scopes``) and the data the ASGI middleware needs. The
auth server uses it with the auth service; other services use it with the JWKS
verifier. This module imports no SQLAlchemy or Redis (a test checks it).

A request is verified at most once, and only when something asks for the caller (a
dependency, ``get_principal()``, ``request.user``, a ``require=[...]`` prefix): the
result is kept in ``scope["state"]`` (so in ``request.state``), whoever got there
first. A request that no one asks about never reaches the verifier (ARCHITECTURE.md).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Security
from fastapi.openapi.models import OAuthFlowPassword
from fastapi.openapi.models import OAuthFlows as OAuthFlowsModel
from fastapi.security import OAuth2, SecurityScopes
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Scope

from authgate.errors import AuthError, InsufficientScope, MissingToken
from authgate.settings import CookieSettings
from authgate.tokens import AccessTokenVerifier, VerifiedToken
from authgate.web.errors import DEFAULT_REALM, install_error_handlers
from authgate.web.middleware import AuthMiddleware
from authgate.web.principal_context import PRINCIPAL_STATE, RESULT_STATE
from authgate.web.transports import (
    extract_credentials,
    header_token_or_none,
    websocket_subprotocol_token,
)

__all__ = [
    "APP_STATE_GUARD",
    "PRINCIPAL_STATE",
    "RESULT_STATE",
    "SCHEME_NAME",
    "AuthResult",
    "PrincipalDependency",
    "TokenGuard",
    "guard_of",
]

SCHEME_NAME = "authgate"
#: ``app.state`` attribute that holds the app's guard (read by the module-level aliases).
APP_STATE_GUARD = "authgate_guard"
#: ``request.state`` attribute the websocket helpers read (``PRINCIPAL_STATE`` and
#: ``RESULT_STATE`` are defined beside their readers, in ``principal_context.py``).
SUBPROTOCOL_STATE = "authgate_subprotocol"
_APP_ATTR = "_authgate_guard"


@dataclass(slots=True)
class AuthResult:
    """The outcome of authenticating one request (not frozen: a frozen dataclass's
    ``__init__`` costs three times as much, and one is built per request)."""

    guard: TokenGuard
    principal: VerifiedToken | None
    #: Why ``principal`` is None; None when no bearer credentials were sent at all
    #: (no header, another scheme, no access cookie): read as ``MissingToken``.
    error: AuthError | None
    transport: str | None = None


def guard_of(conn: HTTPConnection) -> TokenGuard:
    """The guard installed on the app (``TokenGuard.install`` / ``AuthGate.install``)."""
    return _app_guard(conn.scope["app"])


def _app_guard(app: Any) -> TokenGuard:
    # ``install`` puts the guard on ``app.state`` (the public place) and, as a plain
    # attribute, on the app itself: ``State.__getattr__`` is a Python-level lookup on
    # every request (BENCHMARKS.md, "HTTP").
    guard = getattr(app, _APP_ATTR, None)
    if guard is None:
        guard = getattr(app.state, APP_STATE_GUARD, None)
        if not isinstance(guard, TokenGuard):
            raise RuntimeError(
                "no authgate guard on this app: "
                "call AuthGate.install(app) or TokenGuard.install(app)"
            )
    return guard


class PrincipalDependency(OAuth2):
    """A FastAPI security dependency resolving the caller's :class:`VerifiedToken`.

    It is an OAuth2 security scheme, so ``Security(dep, scopes=[...])`` puts the scopes
    in the OpenAPI document and Swagger's Authorize dialog. ``guard=None`` reads the
    guard from ``request.app.state`` (for module-level aliases).
    """

    def __init__(
        self,
        guard: TokenGuard | None,
        *,
        optional: bool,
        token_url: str = "/auth/token",  # noqa: S107
    ) -> None:
        super().__init__(
            flows=OAuthFlowsModel(password=OAuthFlowPassword(tokenUrl=token_url, scopes={})),
            scheme_name=SCHEME_NAME,
            description="Bearer access token (RFC 6750); get one at the token endpoint.",
            auto_error=False,
        )
        self.guard = guard
        self.optional = optional

    async def __call__(  # type: ignore[override]
        self, conn: HTTPConnection, security_scopes: SecurityScopes
    ) -> VerifiedToken | None:
        # The hot path of every protected route: ``principal`` inlined, no extra
        # coroutine, no exception on success.
        scope = conn.scope
        guard = self.guard if self.guard is not None else _app_guard(scope["app"])
        state = scope.get("state")
        found = state.get(RESULT_STATE) if state is not None else None
        if type(found) is AuthResult and found.guard is guard:
            result = found
        else:
            result = await guard.authenticate(scope)
        principal = result.principal
        if principal is None:
            return await guard.principal(scope, security_scopes.scopes, optional=self.optional)
        required = security_scopes.scopes
        if required and not principal.scope.issuperset(required):
            raise InsufficientScope(frozenset(required))
        return principal


class TokenGuard:
    """Authenticates requests with ``verifier``.

    Args:
        verifier: anything with ``async verify_access_token(token) -> VerifiedToken``.
        cookies: the browser cookie transport, when enabled.
        token_url: the token endpoint shown in OpenAPI (may be another server's URL).
        realm: the RFC 6750 §3 realm in ``WWW-Authenticate``.
    """

    def __init__(
        self,
        verifier: AccessTokenVerifier,
        *,
        cookies: CookieSettings | None = None,
        token_url: str = "/auth/token",  # noqa: S107
        realm: str = DEFAULT_REALM,
        scopes: Iterable[str] = (),
    ) -> None:
        self.verifier = verifier
        self.cookies = cookies if cookies is not None and cookies.enabled else None
        self.token_url = token_url
        self.realm = realm
        self.known_scopes = set(scopes)
        self.current_user = PrincipalDependency(self, optional=False, token_url=token_url)
        self.optional_user = PrincipalDependency(self, optional=True, token_url=token_url)
        # The same dependencies under resource-server names.
        self.current_principal = self.current_user
        self.optional_principal = self.optional_user

    async def authenticate(self, scope: Scope) -> AuthResult:
        """Authenticate the request once; later calls return the stored result."""
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        found = state.get(RESULT_STATE)
        if isinstance(found, AuthResult) and found.guard is self:
            return found
        transport: str | None = None
        token: str | None
        try:
            if scope["type"] == "websocket":
                token, echo = websocket_subprotocol_token(scope)
                state[SUBPROTOCOL_STATE] = echo
                transport = "websocket"
            elif self.cookies is None:
                transport = "header"
                token = header_token_or_none(scope)
            else:
                token, transport = extract_credentials(scope, self.cookies)
            if token is None:
                # No credentials: ``error`` stays None, read as MissingToken when asked.
                result = AuthResult(self, None, None, transport)
            else:
                principal = await self.verifier.verify_access_token(token)
                result = AuthResult(self, principal, None, transport)
        except AuthError as exc:
            # The traceback's frames hold this scope, which will hold the error: a
            # reference cycle per request for the cyclic GC (p99 stalls). Drop it.
            exc.__traceback__ = None
            # No bearer credentials at all reads as error None on every transport.
            error = None if type(exc) is MissingToken else exc
            result = AuthResult(self, None, error, transport)
        state[RESULT_STATE] = result
        state[PRINCIPAL_STATE] = result.principal
        return result

    def authenticate_now(self, scope: Scope) -> AuthResult | None:
        """:meth:`authenticate` without awaiting, for synchronous readers.

        Returns ``None`` when the verifier must wait for I/O (a new kid's key fetch,
        introspection): nothing is stored, so an awaiting reader verifies later.
        """
        state = scope.get("state")
        if state is not None:
            found = state.get(RESULT_STATE)
            if type(found) is AuthResult and found.guard is self:
                return found
        step = self.authenticate(scope)
        try:
            step.send(None)
        except StopIteration as done:
            result: AuthResult = done.value
            return result
        _abandon(step)
        return None

    async def principal(
        self, scope: Scope, required: Sequence[str] = (), *, optional: bool = False
    ) -> VerifiedToken | None:
        """The caller, checked for ``required`` scopes.

        Raises:
            TokenError: no valid token (``MissingToken`` when none; ``optional`` turns
                that case into ``None``). An invalid token is an error even when optional.
            InsufficientScope: the token lacks a required scope (RFC 6750 §3.1).
            CSRFRejected: cookie transport without the CSRF header on an unsafe method.
        """
        result = await self.authenticate(scope)
        if result.principal is None:
            error = result.error or MissingToken("no credentials")
            if optional and isinstance(error, MissingToken):
                return None
            raise error
        if required and not result.principal.scope.issuperset(required):
            raise InsufficientScope(frozenset(required))
        return result.principal

    def require_scopes(self, *scopes: str) -> Any:
        """A ``Security`` marker: use in ``dependencies=[...]`` or ``Annotated[...]``."""
        self.known_scopes.update(scopes)
        return Security(self.current_user, scopes=list(scopes))

    def middleware(
        self, app: ASGIApp, *, require: Sequence[str] = (), exclude: Sequence[str] = ()
    ) -> ASGIApp:
        """Wrap any ASGI ``app`` in an :class:`AuthMiddleware` using this guard."""
        return AuthMiddleware(app, self, require=require, exclude=exclude)

    def install(
        self,
        app: FastAPI,
        *,
        middleware: bool = False,
        require: Sequence[str] = (),
        exclude: Sequence[str] = (),
    ) -> None:
        """Make this the app's guard: module-level ``CurrentUser`` resolves through it;
        install the error mapping and the OpenAPI fix-up; optionally the middleware
        (implied by ``require``: path prefixes refused with 401 without a valid token,
        but those under ``exclude``)."""
        setattr(app.state, APP_STATE_GUARD, self)
        setattr(app, _APP_ATTR, self)
        install_error_handlers(app, realm=self.realm)
        _patch_openapi(app, self)
        if middleware or require:
            app.add_middleware(AuthMiddleware, guard=self, require=require, exclude=exclude)


def _abandon(step: Coroutine[Any, Any, Any]) -> None:
    """Give up a suspended verification as a cancelled task would: cleanup code that
    awaits (httpx, anyio) handles ``CancelledError`` but raises on ``close()``'s
    ``GeneratorExit``, which would turn a sync read of the caller into a 500."""
    for _ in range(_ABANDON_ATTEMPTS):
        try:
            step.throw(asyncio.CancelledError())
        except BaseException:
            return
    with contextlib.suppress(RuntimeError):  # still suspended: nothing more we can do
        step.close()


_ABANDON_ATTEMPTS = 8


def _patch_openapi(app: FastAPI, guard: TokenGuard) -> None:
    """Point the password flow at the real token endpoint and list every scope used,
    so Swagger's Authorize dialog offers them."""
    if getattr(app.state, "authgate_openapi_patched", False):
        return
    app.state.authgate_openapi_patched = True
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        scheme = schema.get("components", {}).get("securitySchemes", {}).get(SCHEME_NAME)
        if scheme is not None:
            used: set[str] = set(guard.known_scopes)
            for item in schema.get("paths", {}).values():
                for op in item.values():
                    for req in op.get("security", []) if isinstance(op, dict) else []:
                        used.update(req.get(SCHEME_NAME, []))
            flow = scheme.setdefault("flows", {}).setdefault("password", {})
            flow["tokenUrl"] = guard.token_url
            flow["scopes"] = {s: s for s in sorted(used)}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
