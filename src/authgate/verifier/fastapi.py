"""FastAPI wiring for a resource server: the web layer's guard over a JWKSVerifier.

Nothing here re-implements authentication or the error mapping: it is
:class:`authgate.web.TokenGuard` (bearer transport, ``CurrentUser``,
``require_scopes``, the pure ASGI middleware) with this verifier behind it, so a
bad token gets the same RFC 6750 §3 answer as on the auth server (401
``WWW-Authenticate: Bearer error="invalid_token"``, 403 ``insufficient_scope``,
503 when keys or introspection are unavailable). Imports no SQLAlchemy, Redis,
``authgate.service`` or ``authgate.store``::

    verifier = JWKSVerifier.from_issuer("http://127.0.0.1:8000", audience="authgate")
    app = FastAPI(lifespan=verifier_lifespan(verifier))
    protect(app, verifier)

    @app.get("/orders", dependencies=[require_scopes("orders:read")])
    async def orders(user: CurrentUser) -> list[str]: ...
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI

from authgate.verifier._verifier import JWKSVerifier
from authgate.web.dependencies import (
    CurrentUser,
    OptionalUser,
    require_acr,
    require_amr,
    require_scopes,
)
from authgate.web.errors import DEFAULT_REALM
from authgate.web.guard import TokenGuard
from authgate.web.middleware import AuthMiddleware

__all__ = [
    "AuthMiddleware",
    "CurrentUser",
    "OptionalUser",
    "TokenGuard",
    "protect",
    "require_acr",
    "require_amr",
    "require_scopes",
    "verifier_lifespan",
]

#: Deprecated names of ``CurrentUser`` / ``OptionalUser`` (the caller has one name).
_DEPRECATED = {"CurrentPrincipal": CurrentUser, "OptionalPrincipal": OptionalUser}


def __getattr__(name: str) -> Any:
    if name in _DEPRECATED:
        new = "CurrentUser" if name == "CurrentPrincipal" else "OptionalUser"
        warnings.warn(
            f"authgate.verifier.fastapi.{name} is deprecated: use {new}",
            DeprecationWarning,
            stacklevel=2,
        )
        return _DEPRECATED[name]
    raise AttributeError(name)


def protect(
    app: FastAPI,
    verifier: JWKSVerifier,
    *,
    middleware: bool = False,
    require: Sequence[str] = (),
    exclude: Sequence[str] = (),
    token_url: str | None = None,
    realm: str = DEFAULT_REALM,
) -> TokenGuard:
    """Install a :class:`TokenGuard` over ``verifier`` on ``app``.

    Args:
        middleware: add :class:`AuthMiddleware` (``get_principal()``,
            ``request.user``, ``request.state.authgate_principal``; a request is
            verified at most once, and only when something asks for the caller);
            implied by ``require``.
        require: path prefixes refused with 401 before the app runs without a
            valid token (RFC 6750 §3.1).
        exclude: prefixes exempt from ``require``.
        token_url: the issuer's token endpoint, shown in OpenAPI (default
            ``<issuer>/auth/token``).
        realm: the RFC 6750 §3 realm in ``WWW-Authenticate``.
    """
    guard = TokenGuard(
        verifier,
        token_url=token_url or verifier.codec.issuer.rstrip("/") + "/auth/token",
        realm=realm,
    )
    guard.install(app, middleware=middleware, require=require, exclude=exclude)
    return guard


def verifier_lifespan(
    verifier: JWKSVerifier, *, require_keys: bool = True
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """A FastAPI ``lifespan`` that starts ``verifier`` (first key fetch) and closes it.

    With ``require_keys`` false the app starts even while the issuer is down;
    requests then get 401 until keys arrive, and ``verifier.status()`` says why.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await verifier.start(require_keys=require_keys)
        try:
            yield
        finally:
            await verifier.aclose()

    return lifespan
