"""Plain data the auth service hands to its callers (the web layer, the CLI, tests).

Defined in :mod:`authgate.domain`, below both the store and the service.
"""

from authgate.domain import (
    Api,
    ClientInfo,
    IssuedToken,
    RegisteredClient,
    SessionInfo,
    TokenPair,
    User,
)

__all__ = [
    "Api",
    "ClientInfo",
    "IssuedToken",
    "RegisteredClient",
    "SessionInfo",
    "TokenPair",
    "User",
]
