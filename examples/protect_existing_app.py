"""Protect an existing FastAPI app with authgate: the auth endpoints, a bearer-token
dependency with scopes, and a middleware that guards a whole prefix.

    AUTHGATE_DATA_DIR=./data AUTHGATE_ISSUER=http://127.0.0.1:8000 \
        uvicorn --factory examples.protect_existing_app:create_app
"""

from fastapi import FastAPI

from authgate import AuthGate, CurrentUser, Settings, require_scopes


def create_app(settings: Settings | None = None) -> FastAPI:
    gate = AuthGate(settings or Settings())  # /auth/token, /users, /.well-known/...
    app = FastAPI(lifespan=gate.lifespan)  # your existing app
    gate.install(app, require=["/admin/"])  # router, errors, middleware, Swagger's Authorize

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
