"""The auth endpoints sit behind one prefix test (authgate.web.prefix_routes): other
paths never reach them, wherever ``AuthGate.install`` is called, and nothing about
the endpoints themselves changes (405, redirects, url_for, OpenAPI, metrics labels)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Scope

from authgate.testing import test_settings
from authgate.web import AuthGate, CurrentUser
from authgate.web.prefix_routes import PrefixRoutes, literal_prefix, route_path

PASSWORD = "wobbly-lantern-orchid-73"


def _app(tmp_path: Path) -> tuple[FastAPI, PrefixRoutes]:
    gate = AuthGate(test_settings(tmp_path))
    app = FastAPI(lifespan=gate.lifespan)
    gate.install(app)  # first, before the app's own routes

    @app.get("/usersettings")  # shares the literal prefix "/users"
    async def usersettings() -> dict[str, str]:
        return {"page": "settings"}

    @app.get("/me")
    async def me(user: CurrentUser) -> dict[str, str]:
        return {"sub": user.sub}

    @app.get("/{anything:path}")  # a catch-all after install does not shadow /auth/*
    async def fallback(anything: str) -> dict[str, str]:
        return {"fallback": anything}

    (routes,) = [r for r in app.routes if isinstance(r, PrefixRoutes)]
    return app, routes


def _count_matches(routes: PrefixRoutes) -> list[str]:
    calls: list[str] = []
    for route in routes.routes:
        original = route.matches

        def counting(scope: Scope, _original: Any = original, _route: BaseRoute = route) -> Any:
            calls.append(str(getattr(_route, "path", "")))
            return _original(scope)

        route.matches = counting  # type: ignore[method-assign]
    return calls


def test_paths_outside_the_auth_prefixes_never_reach_an_auth_route(tmp_path: Path) -> None:
    app, routes = _app(tmp_path)
    calls = _count_matches(routes)
    with TestClient(app) as client:
        assert client.get("/me").status_code == 401
        assert client.get("/somewhere/else").json() == {"fallback": "somewhere/else"}
        assert calls == []
        # "/usersettings" starts with "/users": matched route by route, found nothing,
        # and the app's own route answers.
        assert client.get("/usersettings").json() == {"page": "settings"}
        assert calls
        assert len(calls) == len(routes.routes)


def test_auth_endpoints_work_when_installed_before_the_app_routes(tmp_path: Path) -> None:
    app, _ = _app(tmp_path)
    with TestClient(app) as client:
        created = client.post("/users", json={"username": "ada", "password": PASSWORD})
        assert created.status_code == 201, created.text
        form = {"grant_type": "password", "username": "ada", "password": PASSWORD}
        token = client.post("/auth/token", data=form).json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        assert client.get("/me", headers=bearer).json() == {"sub": created.json()["id"]}
        assert client.get("/users/me", headers=bearer).status_code == 200
        assert client.get("/.well-known/jwks.json").json()["keys"]


def _gate_only(tmp_path: Path) -> FastAPI:
    gate = AuthGate(test_settings(tmp_path))
    app = FastAPI(lifespan=gate.lifespan)
    gate.install(app)
    return app


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


def test_openapi_lists_the_auth_endpoints(tmp_path: Path) -> None:
    app, _ = _app(tmp_path)
    paths = app.openapi()["paths"]
    assert {"/auth/token", "/auth/revoke", "/users", "/users/me", "/me"} <= set(paths)
    assert "post" in paths["/auth/token"]
    # The app's route list is left as it was after generating the document.
    assert sum(isinstance(r, PrefixRoutes) for r in app.routes) == 1


def test_url_path_for_finds_auth_endpoints_and_refuses_unknown_names(tmp_path: Path) -> None:
    app, routes = _app(tmp_path)
    name = next(
        str(getattr(r, "name", ""))
        for r in routes.routes
        if getattr(r, "path", "") == "/auth/token"
    )
    assert app.url_path_for(name) == "/auth/token"
    with pytest.raises(NoMatchFound):
        routes.url_path_for("no-such-endpoint")


def test_route_path_strips_the_mount_root_path_only_at_a_segment_boundary() -> None:
    assert route_path({"path": "/api/auth/token", "root_path": "/api"}) == "/auth/token"
    assert route_path({"path": "/apix/auth/token", "root_path": "/api"}) == "/apix/auth/token"
    assert route_path({"path": "/auth/token", "root_path": ""}) == "/auth/token"


def test_literal_prefix_stops_at_the_first_parameter() -> None:
    assert literal_prefix("/users/me/sessions/{session_id}") == "/users/me/sessions/"
    assert literal_prefix("/auth/token") == "/auth/token"


def test_lifespan_and_other_scope_types_do_not_match(tmp_path: Path) -> None:
    _, routes = _app(tmp_path)
    assert routes.matches({"type": "lifespan"}) == (Match.NONE, {})


def test_a_route_without_a_path_is_refused() -> None:
    with pytest.raises(ValueError, match="path"):
        PrefixRoutes([])


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
