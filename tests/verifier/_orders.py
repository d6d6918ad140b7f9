"""An "orders" resource server on ``authgate.verifier``, for the client credentials
tests: it records the ``jti`` of every token it accepted (so a test can count the
tokens a caller used) and has a route that always answers 401.

Run as a script it is the orders process of the three-process test, finding the
keys through the issuer's metadata like a real service::

    python _orders.py ISSUER AUDIENCE PORT_FILE
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from authgate.clock import Clock
from authgate.verifier import (
    CurrentUser,
    JWKSVerifier,
    protect,
    require_scopes,
    verifier_lifespan,
)


def create_orders_app(
    issuer: str, jwks_url: str | None, audience: str, *, clock: Clock | None = None
) -> FastAPI:
    if jwks_url is None:
        verifier = JWKSVerifier.from_issuer(issuer, audience=audience, clock=clock)
    else:
        verifier = JWKSVerifier.from_jwks_url(
            jwks_url, issuer=issuer, audience=audience, clock=clock
        )
    app = FastAPI(lifespan=verifier_lifespan(verifier))
    protect(app, verifier, require=["/api/"])
    seen: list[str] = []
    app.state.seen = seen

    @app.get("/api/orders", dependencies=[require_scopes("orders:read")])
    async def orders(caller: CurrentUser) -> dict[str, Any]:
        seen.append(caller.jti)
        return {"caller": caller.sub, "orders": [{"id": "1"}]}

    @app.post("/api/echo", dependencies=[require_scopes("orders:read")])
    async def echo(caller: CurrentUser, request: Request) -> dict[str, Any]:
        seen.append(caller.jti)
        return {"body": (await request.body()).decode()}

    @app.get("/api/always-401")
    async def always_401(caller: CurrentUser) -> JSONResponse:
        seen.append(caller.jti)
        return JSONResponse({"error": "invalid_token"}, status_code=401)

    @app.get("/seen")
    async def tokens_seen() -> list[str]:
        return seen

    return app


def main() -> None:
    import socket

    import uvicorn

    issuer, audience, port_file = sys.argv[1:4]
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    app = create_orders_app(issuer, None, audience)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    Path(port_file).write_text(str(sock.getsockname()[1]))
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
