"""Protect an existing FastAPI app with authgate: the auth endpoints, a bearer-token
dependency with scopes, and a middleware that guards a whole prefix.

    AUTHGATE_DATA_DIR=./data uvicorn --factory examples.protect_existing_app:create_app
"""

from fastapi import FastAPI

from authgate.settings import Settings
from authgate.web import AuthGate, CurrentUser, require_scopes


def create_app(settings: Settings | None = None) -> FastAPI:
    gate = AuthGate(settings or Settings())  # /auth/token, /users, /.well-known/...
    app = FastAPI(lifespan=gate.lifespan)  # your existing app
    # Router, error mapping, Swagger's Authorize, and one middleware that refuses
    # /admin/... without a valid token (and verifies nothing on routes that do not ask).
    gate.install(app, require=["/admin/"])

    @app.get("/items")
    async def list_items(user: CurrentUser) -> dict[str, str]:
        return {"owner": user.sub}

    @app.post("/items", status_code=201, dependencies=[require_scopes("items:write")])
    async def create_item() -> dict[str, bool]:
        return {"created": True}

    @app.get("/admin/stats")  # guarded by the middleware's prefix rule
    async def stats() -> dict[str, int]:
        return {"items": 0}

    return app
