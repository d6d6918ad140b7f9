"""The authgate side of benchmarks/compare.py: a small app built with the library the
way an application would use it, served by uvicorn under the project's .venv.

Two factories, so the dependency and the middleware are each measured on their own
against the same app's public route:

* ``build_dependency``: ``GET /protected/dependency`` takes ``user: CurrentUser``.
* ``build_middleware``: ``AuthMiddleware(require=["/protected/mw"])`` guards
  ``GET /protected/mw``; the route reads the caller with ``get_principal()``.

Both mount the auth server's endpoints (``AuthGate``: /auth/token, /users, ...) first,
as the README does, then a ``GET /public`` and the protected route. Settings come
from ``AUTHGATE_*`` environment variables.

    .venv/bin/uvicorn --factory benchmarks.authgate_app:build_dependency --port 8003
"""

from __future__ import annotations

from fastapi import FastAPI

from authgate.endpoints import AuthGate
from authgate.settings import Settings
from authgate.web import AuthMiddleware, CurrentUser, get_principal


def _base() -> tuple[FastAPI, AuthGate]:
    gate = AuthGate(Settings())
    app = FastAPI(lifespan=gate.lifespan)
    # First, as an application would write it: FastAPI passes the auth endpoints with
    # a substring test (authgate.endpoints.auth_router), ~1 µs for the routes below.
    gate.install(app, middleware=False)

    @app.get("/public")
    async def public() -> dict[str, str]:
        return {"hello": "world"}

    return app, gate


def build_dependency() -> FastAPI:
    app, _ = _base()

    @app.get("/protected/dependency")
    async def protected(user: CurrentUser) -> dict[str, str]:
        return {"hello": user.sub}

    return app


def build_middleware() -> FastAPI:
    app, gate = _base()
    app.add_middleware(AuthMiddleware, guard=gate.guard, require=["/protected/mw"])

    @app.get("/protected/mw")
    async def protected() -> dict[str, str]:
        principal = get_principal()  # set by the middleware: no Request parameter
        assert principal is not None  # require=[...] refused the request otherwise
        return {"hello": principal.sub}

    return app
