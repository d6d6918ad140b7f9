"""The auth endpoints' router (authgate.endpoints.auth_router): other paths pass it without
touching an auth route, wherever ``AuthGate.install`` is called, and FastAPI's
semantics for included routers still hold (405, redirects, url_for, OpenAPI, app-level
dependencies and overrides, nested inclusion, mounts); each endpoint bounds its body."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.openapi.utils import get_openapi
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute
from starlette.types import Scope

from authgate.endpoints import AuthGate
from authgate.endpoints.auth_router import AuthRouter, bounded_route_class, first_segment
from authgate.testing import test_settings
from authgate.web import CurrentUser

PASSWORD = "wobbly-lantern-orchid-73"


def _app(tmp_path: Path, **app_kw: Any) -> tuple[FastAPI, AuthGate]:
    gate = AuthGate(test_settings(tmp_path))
    app = FastAPI(lifespan=gate.lifespan, **app_kw)
    gate.install(app)  # first, before the app's own routes

    @app.get("/usersettings")  # contains the segment "/users"
    async def usersettings() -> dict[str, str]:
        return {"page": "settings"}

    @app.get("/me")
    async def me(user: CurrentUser) -> dict[str, str]:
        return {"sub": user.sub}

    @app.get("/{anything:path}")  # a catch-all after install does not shadow /auth/*
    async def fallback(anything: str) -> dict[str, str]:
        return {"fallback": anything}

    return app, gate


def _gate_only(tmp_path: Path) -> FastAPI:
    gate = AuthGate(test_settings(tmp_path))
    app = FastAPI(lifespan=gate.lifespan)
    gate.install(app)
    return app


def _count_matches(router: AuthRouter) -> list[str]:
    calls: list[str] = []
    for route in router.routes:
        original = route.matches

        def counting(scope: Scope, _original: Any = original, _route: BaseRoute = route) -> Any:
            calls.append(str(getattr(_route, "path", "")))
            return _original(scope)

        route.matches = counting  # type: ignore[method-assign]
    return calls


def _register_and_login(client: TestClient, prefix: str = "") -> dict[str, str]:
    created = client.post(f"{prefix}/users", json={"username": "ada", "password": PASSWORD})
    assert created.status_code == 201, created.text
    form = {"grant_type": "password", "username": "ada", "password": PASSWORD}
    token = client.post(f"{prefix}/auth/token", data=form).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_paths_without_an_auth_segment_never_reach_an_auth_route(tmp_path: Path) -> None:
    app, gate = _app(tmp_path)
    calls = _count_matches(gate.router)
    with TestClient(app) as client:
        assert client.get("/me").status_code == 401
        assert client.get("/somewhere/else").json() == {"fallback": "somewhere/else"}
        assert calls == []
        # "/usersettings" contains "/users": matched route by route, found nothing,
        # and the app's own route answers.
        assert client.get("/usersettings").json() == {"page": "settings"}
        assert len(calls) == len(gate.router.routes)


def test_auth_endpoints_work_when_installed_before_the_app_routes(tmp_path: Path) -> None:
    app, _ = _app(tmp_path)
    with TestClient(app) as client:
        bearer = _register_and_login(client)
        assert client.get("/me", headers=bearer).status_code == 200
        assert client.get("/users/me", headers=bearer).json()["username"] == "ada"
        assert client.get("/.well-known/jwks.json").json()["keys"]


def test_known_auth_path_with_another_method_is_405(tmp_path: Path) -> None:
    with TestClient(_gate_only(tmp_path)) as client:
        response = client.get("/auth/token")
        assert response.status_code == 405
        assert "POST" in response.headers["allow"]


def test_trailing_slash_redirects_to_the_auth_endpoint(tmp_path: Path) -> None:
    with TestClient(_gate_only(tmp_path)) as client:
        response = client.get("/.well-known/jwks.json/", follow_redirects=False)
        assert response.status_code == 307
        assert response.headers["location"].endswith("/.well-known/jwks.json")


def test_openapi_lists_the_auth_endpoints_also_when_built_by_hand(tmp_path: Path) -> None:
    app, _ = _app(tmp_path)
    paths = app.openapi()["paths"]
    assert {"/auth/token", "/auth/revoke", "/users", "/users/me", "/me"} <= set(paths)
    # FastAPI's "extending OpenAPI" recipe reads app.routes itself.
    custom = get_openapi(title="custom", version="1", routes=app.routes)["paths"]
    assert {"/auth/token", "/users/me"} <= set(custom)


def test_url_path_for_finds_auth_endpoints(tmp_path: Path) -> None:
    app, gate = _app(tmp_path)
    name = next(str(getattr(r, "name", "")) for r in gate.router.routes if r.path == "/auth/token")  # type: ignore[attr-defined]
    assert app.url_path_for(name) == "/auth/token"


def test_app_level_dependencies_and_overrides_reach_the_auth_endpoints(tmp_path: Path) -> None:
    async def only_from_the_office(request: Request) -> None:
        if request.headers.get("x-office") != "yes":
            raise HTTPException(403, "not from the office")

    app, _ = _app(tmp_path, dependencies=[Depends(only_from_the_office)])
    with TestClient(app) as client:
        refused = client.post("/users", json={"username": "ada", "password": PASSWORD})
        assert refused.status_code == 403
        office = {"x-office": "yes"}
        created = client.post(
            "/users", json={"username": "ada", "password": PASSWORD}, headers=office
        )
        assert created.status_code == 201
        app.dependency_overrides[only_from_the_office] = lambda: None
        assert client.get("/.well-known/jwks.json").status_code == 200


def test_auth_endpoints_work_when_their_app_is_included_under_a_prefix(tmp_path: Path) -> None:
    gate = AuthGate(test_settings(tmp_path))
    inner = FastAPI()
    gate.install(inner)
    outer = FastAPI(lifespan=gate.lifespan)
    outer.include_router(inner.router, prefix="/api")
    with TestClient(outer) as client:
        bearer = _register_and_login(client, prefix="/api")
        assert client.get("/api/users/me", headers=bearer).json()["username"] == "ada"
        assert client.get("/api/.well-known/jwks.json").status_code == 200


def test_auth_endpoints_match_under_a_mount(tmp_path: Path) -> None:
    inner = _gate_only(tmp_path)

    @inner.get("/usersettings")
    async def usersettings() -> dict[str, str]:
        return {"page": "settings"}

    outer = FastAPI()
    outer.mount("/api", inner)
    with TestClient(outer) as client:
        assert client.get("/api/auth/token").status_code == 405  # the token endpoint
        assert client.get("/api/usersettings").json() == {"page": "settings"}
        assert client.get("/api/auth/elsewhere").status_code == 404


def test_auth_endpoints_bound_the_body_in_an_app_without_the_body_middleware(
    tmp_path: Path,
) -> None:
    gate = AuthGate(test_settings(tmp_path), max_body_bytes=4096)
    app = FastAPI(lifespan=gate.lifespan)
    gate.install(app)  # no BodyLimitMiddleware on this app

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"username=x&password=" + b"y" * 1000

    form = {"content-type": "application/x-www-form-urlencoded"}
    with TestClient(app) as client:
        declared = client.post("/auth/token", content=b"a=" + b"b" * 5000, headers=form)
        assert declared.status_code == 413
        assert declared.json()["error"] == "request_too_large"
        streamed = client.post("/auth/token", content=chunks(), headers=form)
        assert streamed.status_code == 413
        assert streamed.json()["error"] == "request_too_large"
        registered = client.post("/users", json={"username": "x" * 5000, "password": PASSWORD})
        assert registered.status_code == 413
        # The app's own routes are the app's business: not bounded by authgate.
        assert client.post("/upload", content=b"z" * 100_000).json() == {"size": 100_000}


def test_a_negative_body_limit_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_body_bytes"):
        AuthGate(test_settings(tmp_path), max_body_bytes=-1)
    assert bounded_route_class(10).max_body_bytes == 10


def test_first_segment_of_route_paths() -> None:
    assert first_segment("/users/me/sessions/{session_id}") == "/users"
    assert first_segment("/auth/token") == "/auth"
    assert first_segment("/.well-known/jwks.json") == "/.well-known"
    assert first_segment("/{anything}") == "/"


def test_a_router_with_a_root_or_parameter_route_is_always_consulted() -> None:
    router = AuthRouter()

    @router.get("/auth/token")
    async def token() -> None: ...

    assert router.segments() == ("/auth",)

    @router.get("/{anything}")
    async def anything() -> None: ...

    assert router.segments() == ("",)  # recomputed after the route was added


def test_segments_follow_a_route_swapped_for_another(tmp_path: Path) -> None:
    gate = AuthGate(test_settings(tmp_path))
    app = FastAPI(lifespan=gate.lifespan)
    gate.install(app)
    with TestClient(app) as client:
        assert client.get("/.well-known/jwks.json").status_code == 200
        meta = next(r for r in gate.router.routes if r.path.endswith("authorization-server"))  # type: ignore[attr-defined]
        gate.router.routes.remove(meta)  # the same count after the route below is added

        @gate.router.get("/login")
        async def login() -> dict[str, int]:
            return {"ok": 1}

        assert client.get("/login").json() == {"ok": 1}
