"""The auth server plus one protected resource route, as an application embeds it:
``create_app(settings)`` and a route that only verifies the caller's token (no
database), served by uvicorn for the outage tests."""

from __future__ import annotations

from fastapi import FastAPI

from authgate.server import create_app
from authgate.settings import Settings
from authgate.web import CurrentUser


def build() -> FastAPI:
    app = create_app(Settings())

    @app.get("/resource")
    async def resource(user: CurrentUser) -> dict[str, str]:
        return {"sub": user.sub}

    return app
