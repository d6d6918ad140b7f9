"""The examples run: protect an existing app; a WebSocket over a real uvicorn."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from fastapi.testclient import TestClient
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from authgate.testing import test_settings
from server.conftest import PASSWORD, serve

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_protect_existing_app_example(tmp_path: Path) -> None:
    app = load("protect_existing_app").create_app(test_settings(tmp_path))
    with TestClient(app) as c:
        assert c.get("/items").status_code == 401
        assert c.get("/admin/stats").status_code == 401
        c.post("/users", json={"username": "example-user", "password": PASSWORD})
        token = c.post(
            "/auth/token", data={"username": "example-user", "password": PASSWORD}
        ).json()["access_token"]
        h = {"Authorization": f"Bearer {token}"}
        assert c.get("/items", headers=h).status_code == 200
        assert c.get("/admin/stats", headers=h).json() == {"items": 0}
        assert c.post("/items", headers=h).status_code == 403
        doc = c.get("/openapi.json").json()
        assert (
            "items:write"
            in doc["components"]["securitySchemes"]["authgate"]["flows"]["password"]["scopes"]
        )


def test_websocket_example_over_uvicorn(tmp_path: Path) -> None:
    app = load("websocket_chat").create_app(test_settings(tmp_path))
    with serve(app, ws="websockets-sansio") as (url, _loop):
        with httpx.Client(base_url=url) as c:
            c.post("/users", json={"username": "ws-user", "password": PASSWORD})
            form = {"username": "ws-user", "password": PASSWORD}
            token = c.post("/auth/token", data=form).json()["access_token"]
        ws_url = url.replace("http://", "ws://") + "/ws/echo"
        offered: list[Subprotocol] = [
            Subprotocol("authgate"),
            Subprotocol(f"authgate.bearer.{token}"),
        ]
        with connect(ws_url, subprotocols=offered) as ws:
            assert ws.subprotocol == "authgate"
            ws.send("hello")
            assert json.loads(ws.recv()) == {"from": ws_sub(token), "text": "hello"}
        junk = [Subprotocol("authgate"), Subprotocol("authgate.bearer.junk")]
        with pytest.raises(InvalidStatus), connect(ws_url, subprotocols=junk):
            pass
        with pytest.raises(InvalidStatus), connect(f"{ws_url}?access_token={token}"):
            pass


def ws_sub(token: str) -> str:
    import base64

    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    sub: str = claims["sub"]
    return sub


def test_test_kit_drives_an_authgate_app_without_a_database(tmp_path: Path) -> None:
    from authgate.settings import Settings
    from authgate.testing import AuthGateTestKit

    app = load("protect_existing_app").create_app(test_settings(tmp_path))
    kit = AuthGateTestKit(Settings(_env_file=None, audience="my-api"))
    kit.install(app)
    client = TestClient(app)  # no lifespan: no service, no database
    assert client.post("/items", headers=kit.headers("alice", ["items:read"])).status_code == 403
    assert client.post("/items", headers=kit.headers("alice", ["items:write"])).status_code == 201
    assert client.get("/admin/stats", headers=kit.headers("alice")).status_code == 200
    token = kit.token("alice", ttl=60)
    kit.advance(120)
    assert client.get("/items", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert not (tmp_path / "authgate.db").exists()
