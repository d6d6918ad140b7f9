"""authgate for FastAPI: dependencies, middleware, transports, the auth router and the
one mapping from errors to HTTP.

Internals (``PRINCIPAL_STATE``, ``AuthResult``, ``WS_*``, ``error_response``) stay in
their own modules and out of this list.

The resource-server pieces (:class:`TokenGuard`, :class:`AuthMiddleware`,
``CurrentUser``, ``require_scopes``) need only an
:class:`~authgate.tokens.AccessTokenVerifier`; :class:`AuthGate` (imported lazily,
it needs the auth service) adds the auth server's endpoints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from authgate.web.dependencies import (
    CurrentUser,
    OptionalUser,
    current_user,
    optional_user,
    require_scopes,
)
from authgate.web.errors import install_error_handlers
from authgate.web.guard import TokenGuard
from authgate.web.middleware import AuthMiddleware
from authgate.web.principal_context import get_principal
from authgate.web.websocket import accept_authenticated, authenticate_first_message

if TYPE_CHECKING:
    from authgate.web.gate import AuthGate

__all__ = [
    "AuthGate",
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
    "require_scopes",
]


def __getattr__(name: str) -> Any:
    # AuthGate pulls in the service layer; resource servers importing authgate.web
    # for TokenGuard must not pay for (or need) SQLAlchemy and Redis.
    if name == "AuthGate":
        from authgate.web.gate import AuthGate

        return AuthGate
    raise AttributeError(name)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
