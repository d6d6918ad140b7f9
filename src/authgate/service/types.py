"""Plain data the auth service hands to its callers (the web layer, the CLI, tests).

Defined in :mod:`authgate.domain`, below both the store and the service.
"""

from authgate.domain import ClientInfo, SessionInfo, TokenPair, User

__all__ = ["ClientInfo", "SessionInfo", "TokenPair", "User"]
