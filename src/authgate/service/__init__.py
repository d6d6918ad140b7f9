"""The framework-free auth service (imports no FastAPI).

``open_service(settings)`` builds an :class:`AuthService`, which implements
:class:`AuthServiceProtocol`.
"""

import authgate._requires_server  # noqa: F401  (the server extra; one clear error)
from authgate.service.compose import open_service
from authgate.service.protocol import AUDIT_LOGGER, AuthServiceProtocol
from authgate.service.service import AuthService
from authgate.service.types import ClientInfo, SessionInfo, TokenPair, User

__all__ = [
    "AUDIT_LOGGER",
    "AuthService",
    "AuthServiceProtocol",
    "ClientInfo",
    "SessionInfo",
    "TokenPair",
    "User",
    "open_service",
]
