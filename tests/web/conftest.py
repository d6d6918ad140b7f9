"""A small protected app built on the test kit (no database)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import pytest
from fastapi import FastAPI, Request, WebSocket
from fastapi.testclient import TestClient

from authgate.settings import CookieSettings, Settings
from authgate.testing import AuthGateTestKit
from authgate.tokens import VerifiedToken
from authgate.web import (
    AuthMiddleware,
    CurrentUser,
    OptionalUser,
    accept_authenticated,
    authenticate_first_message,
    require_scopes,
)
from authgate.web.guard import guard_of


def build_app(kit: AuthGateTestKit, *, middleware: bool = False) -> FastAPI:
    app = FastAPI()

    @app.get("/public")
    async def public() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/me")
    async def me(user: CurrentUser) -> dict[str, Any]:
        return {"sub": user.sub, "scope": sorted(user.scope)}

    @app.get("/maybe")
    async def maybe(user: OptionalUser) -> dict[str, Any]:
        return {"sub": user.sub if user else None}

    @app.post("/items", status_code=201, dependencies=[require_scopes("items:write")])
    async def create_item() -> dict[str, str]:
        return {"created": "yes"}

    @app.get("/admin")
    async def admin(
        user: Annotated[VerifiedToken, require_scopes("admin", "items:write")],
    ) -> dict[str, str]:
        return {"sub": user.sub}

    @app.get("/state")
    async def state(request: Request) -> dict[str, Any]:
        principal = request.state.authgate_principal
        return {"sub": principal.sub if principal else None}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket, user: CurrentUser) -> None:
        await accept_authenticated(websocket, user)
        await websocket.send_json({"sub": user.sub})
        await websocket.close()

    @app.websocket("/ws-first")
    async def ws_first(websocket: WebSocket) -> None:
        user = await authenticate_first_message(websocket, guard_of(websocket))
        if user is None:
            return
        await websocket.send_json({"sub": user.sub})
        await websocket.close()

    guard = kit.install(app)
    if middleware:
        app.add_middleware(AuthMiddleware, guard=guard, require=["/api/"])

        @app.get("/api/thing")
        async def thing(request: Request) -> dict[str, str]:
            return {"sub": request.state.authgate_principal.sub}

    return app


@pytest.fixture
def make_app() -> Callable[..., FastAPI]:
    return build_app


@pytest.fixture
def kit() -> AuthGateTestKit:
    return AuthGateTestKit(Settings(_env_file=None, audience="api"))


@pytest.fixture
def client(kit: AuthGateTestKit) -> TestClient:
    return TestClient(build_app(kit, middleware=True))


@pytest.fixture
def cookie_kit() -> AuthGateTestKit:
    settings = Settings(_env_file=None, audience="api", cookies=CookieSettings(enabled=True))
    return AuthGateTestKit(settings)
