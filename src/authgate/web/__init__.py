"""authgate for FastAPI, the resource-server half: dependencies, middleware,
transports and the one mapping from errors to HTTP.

Internals (``PRINCIPAL_STATE``, ``AuthResult``, ``WS_*``, ``error_response``) stay in
their own modules and out of this list.

Everything here needs only an :class:`~authgate.tokens.AccessTokenVerifier` (the auth
service, or ``authgate.verifier``'s JWKS verifier), so a resource server imports it
without the ``server`` extra. The auth server's endpoints (``AuthGate``) live in
:mod:`authgate.endpoints` (ARCHITECTURE.md, "Layer map").
"""

from __future__ import annotations

from authgate.web.dependencies import (
    CurrentUser,
    OptionalUser,
    current_user,
    optional_user,
    require_acr,
    require_amr,
    require_scopes,
)
from authgate.web.errors import install_error_handlers
from authgate.web.guard import TokenGuard
from authgate.web.middleware import AuthMiddleware
from authgate.web.principal_context import get_principal
from authgate.web.websocket import accept_authenticated, authenticate_first_message

__all__ = [
    "AuthMiddleware",
    "CurrentUser",
    "OptionalUser",
    "TokenGuard",
    "accept_authenticated",
    "authenticate_first_message",
    "current_user",
    "get_principal",
    "install_error_handlers",
    "optional_user",
    "require_acr",
    "require_amr",
    "require_scopes",
]
