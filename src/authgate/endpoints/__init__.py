"""The auth server's HTTP endpoints: :class:`AuthGate` and the routes it mounts
(token, revoke, introspect, logout, cookie login, users, JWKS and RFC 8414 metadata).

They sit on the resource-server half (:mod:`authgate.web`: the guard, the transports,
the one error mapping) and on the auth service; a resource server needs none of this
package (ARCHITECTURE.md, "Layer map").
"""

import authgate._requires_server  # noqa: F401  (the server extra; one clear error)
from authgate.endpoints.gate import AuthGate
from authgate.endpoints.routes_oauth import INTROSPECT_SCOPE

__all__ = ["INTROSPECT_SCOPE", "AuthGate"]
