"""The auth server plus one protected resource route, as an application embeds it:
``create_app(settings)`` and a route that only verifies the caller's token (no
database), served by uvicorn for the outage tests.

``build_with_maintenance``: the same app, whose service runs its maintenance pass
every ``AUTHGATE_TEST_MAINTENANCE_INTERVAL`` seconds (30 s in production) and
counts the passes at ``GET /test/maintenance``."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

from fastapi import FastAPI

from authgate.endpoints.gate import AuthGate
from authgate.server import create_app
from authgate.service import AuthService
from authgate.settings import Settings
from authgate.web import CurrentUser


def build() -> FastAPI:
    app = create_app(Settings())

    @app.get("/resource")
    async def resource(user: CurrentUser) -> dict[str, str]:
        return {"sub": user.sub}

    return app


def build_with_maintenance() -> FastAPI:
    app = build()
    interval = float(os.environ["AUTHGATE_TEST_MAINTENANCE_INTERVAL"])
    passes = [0]
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with inner(app):
            gate: AuthGate = app.state.authgate
            sync = cast(AuthService, gate.service).sync
            maintenance = sync.maintenance

            async def counted() -> None:
                await maintenance()
                passes[0] += 1

            sync.maintenance = counted
            sync.maintenance_interval = interval
            yield

    app.router.lifespan_context = lifespan

    @app.get("/test/maintenance")
    async def maintenance_passes() -> dict[str, int]:
        return {"passes": passes[0]}

    return app
