"""Discovery: the public JWK Set (RFC 7517 §5) and authorization-server metadata
(RFC 8414)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from authgate.service.registry import (
    ASSERTION_ALGORITHMS,
    AUTH_METHODS,
    CLIENT_CREDENTIALS,
    TOKEN_EXCHANGE,
)
from authgate.web.errors import responses

if TYPE_CHECKING:
    from authgate.endpoints.context import EndpointContext

__all__ = ["JWKS_MAX_AGE", "meta_routes", "server_metadata"]

#: The default ``Settings.jwks_max_age``. Short, so verifiers pick up a published
#: next key soon; a rotated key signs only after this long (SECURITY.md A.7 #49).
JWKS_MAX_AGE = 300


def server_metadata(gate: EndpointContext) -> dict[str, Any]:
    """RFC 8414 §2. ``grant_types_supported`` omits ``password``: the password grant is
    first-party login and is not offered to third parties (RFC 9700 §2.4, SECURITY.md
    #39), though the token endpoint accepts it from our own clients. Registered clients
    authenticate with a secret or a signed assertion (RFC 7523 §2.2); ``none`` is the
    first-party public client."""
    scopes = sorted({*gate.settings.default_scopes, *gate.guard.known_scopes})
    methods = ["none", *AUTH_METHODS]
    return {
        "issuer": gate.settings.issuer,
        "token_endpoint": gate.url(gate.token_path),
        "jwks_uri": gate.url("/.well-known/jwks.json"),
        "revocation_endpoint": gate.url(f"{gate.prefix}/revoke"),
        "introspection_endpoint": gate.url(f"{gate.prefix}/introspect"),
        "grant_types_supported": ["refresh_token", CLIENT_CREDENTIALS, TOKEN_EXCHANGE],
        "response_types_supported": [],
        "scopes_supported": scopes,
        "token_endpoint_auth_methods_supported": methods,
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "revocation_endpoint_auth_methods_supported": methods,
        "revocation_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        # Besides a bearer token with authgate:introspect (RFC 7662 §2.1).
        "introspection_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "introspection_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "service_documentation": gate.url("/docs"),
    }


def meta_routes(gate: EndpointContext) -> APIRouter:
    router = APIRouter(tags=["discovery"], route_class=gate.route_class)

    @router.get("/.well-known/jwks.json", responses=responses(503), summary="Public keys")
    async def jwks() -> JSONResponse:
        """Active, next and not-yet-retired public keys; never a private member."""
        return JSONResponse(
            gate.service.keyring.jwks(),
            headers={"Cache-Control": f"public, max-age={gate.settings.jwks_max_age}"},
        )

    @router.get(
        "/.well-known/oauth-authorization-server",
        summary="Authorization server metadata (RFC 8414)",
    )
    async def metadata() -> JSONResponse:
        return JSONResponse(server_metadata(gate), headers={"Cache-Control": "max-age=300"})

    return router
