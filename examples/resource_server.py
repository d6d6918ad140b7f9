"""A second FastAPI service that checks authgate's access tokens: no database, no
passwords, no auth code; just the issuer's public keys.

Run it next to an authgate server (``authgate serve`` on http://127.0.0.1:8000)::

    RESOURCE_ISSUER=http://127.0.0.1:8000 RESOURCE_AUDIENCE=authgate \\
        uvicorn --factory examples.resource_server:create_app --port 8001

    curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8001/api/me

``RESOURCE_ISSUER`` must be the issuer's exact ``iss`` (its ``AUTHGATE_ISSUER``);
``RESOURCE_AUDIENCE`` the ``aud`` its tokens carry for this service. Set
``RESOURCE_INTROSPECT_TOKEN`` (an access token with ``authgate:introspect``) to
see revocations at once rather than at the token's expiry.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from authgate.clock import Clock
from authgate.verifier import (
    BearerCredentials,
    CurrentUser,
    JWKSVerifier,
    protect,
    require_scopes,
    verifier_lifespan,
)


def create_app(
    issuer: str | None = None,
    audience: str | None = None,
    *,
    clock: Clock | None = None,
    **verifier_options: Any,
) -> FastAPI:
    """The orders service. Arguments default to the ``RESOURCE_*`` environment."""
    issuer = issuer or os.environ.get("RESOURCE_ISSUER", "http://127.0.0.1:8000")
    audience = audience or os.environ.get("RESOURCE_AUDIENCE", "authgate")
    introspect_token = os.environ.get("RESOURCE_INTROSPECT_TOKEN")
    if introspect_token and "introspection" not in verifier_options:
        verifier_options["introspection"] = BearerCredentials(introspect_token)
    verifier = JWKSVerifier.from_issuer(issuer, audience=audience, clock=clock, **verifier_options)

    app = FastAPI(
        title="orders (an authgate resource server)", lifespan=verifier_lifespan(verifier)
    )
    # Everything under /api/ needs a valid token, checked once per request.
    protect(app, verifier, require=["/api/"])
    orders: list[dict[str, str]] = []

    @app.get("/health")
    async def health() -> JSONResponse:
        """Ready while keys are loaded, even if the issuer is down right now."""
        status = verifier.status()
        body = {
            "ready": status.ready,
            "issuer_reachable": status.healthy,
            "kids": list(status.kids),
            "last_success": status.last_success,
            "last_error": status.last_error,
        }
        return JSONResponse(body, status_code=200 if status.ready else 503)

    @app.get("/api/me")
    async def me(principal: CurrentUser) -> dict[str, Any]:
        return {"sub": principal.sub, "scope": sorted(principal.scope)}

    @app.get("/api/orders", dependencies=[require_scopes("orders:read")])
    async def list_orders(principal: CurrentUser) -> list[dict[str, str]]:
        return [o for o in orders if o["owner"] == principal.sub]

    @app.post("/api/orders", status_code=201, dependencies=[require_scopes("orders:write")])
    async def create_order(principal: CurrentUser) -> dict[str, str]:
        order = {"id": str(len(orders) + 1), "owner": principal.sub}
        orders.append(order)
        return order

    return app
