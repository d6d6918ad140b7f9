"""README.md's Python blocks run for real: the library snippet builds an app that is
exercised over HTTP, the testing example passes as a pytest test against that
snippet's ``create_app``, and the verifier snippet accepts the tokens a real
``authgate serve`` mints for the orders API (and no others), its reporter half
calling orders with one token of its own."""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from authgate.settings import Settings
from verifier._uvicorn import UvicornThread

from ._readme import DEFAULT_URL, PASSWORD, Served, block, clean_env, serving

LIBRARY = "from authgate import AuthGate, CurrentUser, Settings, require_scopes"
TESTING = "from authgate.testing import AuthGateTestKit"
VERIFIER = "from authgate.verifier import ("


def _run(code: str, name: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": name}
    exec(compile(code, f"README.md ({name})", "exec"), namespace)
    return namespace


def _sub(token: str) -> str:
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    sub: str = claims["sub"]
    return sub


@pytest.fixture
def library_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FastAPI:
    for name in [n for n in os.environ if n.startswith("AUTHGATE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AUTHGATE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("AUTHGATE_DEFAULT_SCOPES", '["items:read", "items:write"]')
    monkeypatch.chdir(tmp_path)  # no developer .env
    app: FastAPI = _run(block(LIBRARY).code, "readme_library")["create_app"]()
    return app


def _login(client: TestClient, scope: str | None = None) -> dict[str, str]:
    form = {"grant_type": "password", "username": "alice", "password": PASSWORD}
    if scope is not None:
        form["scope"] = scope
    r = client.post("/auth/token", data=form)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def test_library_snippet_protects_its_routes(library_app: FastAPI) -> None:
    with TestClient(library_app) as client:
        user = {"username": "alice", "password": PASSWORD}
        assert client.post("/users", json=user).status_code == 201
        everything, read_only = _login(client), _login(client, "items:read")

        assert client.get("/items").status_code == 401
        r = client.get("/items", headers=everything)
        assert r.status_code == 200
        assert r.json() == {"owner": _sub(everything["Authorization"].split()[1])}

        refused = client.post("/items", headers=read_only)
        assert refused.status_code == 403
        assert refused.json()["error"] == "insufficient_scope"
        assert client.post("/items", headers=everything).status_code == 201

        bad = client.get("/items", headers={"Authorization": "Bearer x.y.z"})
        assert bad.status_code == 401
        assert 'error="invalid_token"' in bad.headers["www-authenticate"]

        # require=["/admin/"]: the middleware refuses before the app runs (no route there)
        assert client.get("/admin/anything").status_code == 401
        assert client.get("/admin/anything", headers=everything).status_code == 404


def test_library_snippet_401_without_credentials_has_no_error(library_app: FastAPI) -> None:
    with TestClient(library_app) as client:
        r = client.get("/items")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert "error=" not in r.headers["www-authenticate"]


def test_testing_example_passes_as_a_test_of_the_library_snippet(tmp_path: Path) -> None:
    (tmp_path / "readme_library.py").write_text(block(LIBRARY).code)
    test_file = tmp_path / "test_readme_testing.py"
    test_file.write_text("from readme_library import create_app\n\n" + block(TESTING).code)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error", test_file],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=clean_env(AUTHGATE_DATA_DIR=str(tmp_path / "data")),
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"\b1 passed\b", done.stdout), done.stdout


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Served]:
    yield from serving(tmp_path)


#: The README's services block registers this API (``authgate apis create orders``).
ORDERS = "https://orders.internal"


def test_verifier_snippet_names_what_serve_issues_for_the_orders_api() -> None:
    code = block(VERIFIER).code
    found = re.search(r'from_issuer\("([^"]+)", audience="([^"]+)"\)', code)
    assert found is not None
    assert found.groups() == (DEFAULT_URL, ORDERS)
    assert Settings.model_fields["issuer"].default == DEFAULT_URL
    assert f"--audience {ORDERS}" in block("authgate apis list").code
    assert f'"{DEFAULT_URL}/auth/token"' in code
    assert f'resource="{ORDERS}"' in code


def _token(url: str, form: dict[str, str], auth: tuple[str, str] | None = None) -> str:
    answer = httpx.post(f"{url}/auth/token", data=form, auth=auth)
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


def test_verifier_snippet_accepts_tokens_of_authgate_serve_for_its_api_only(
    server: Served, caplog: pytest.LogCaptureFixture
) -> None:
    server.sh(f"authgate apis create orders --audience {ORDERS} --scope orders:read")
    server.sh("authgate apis create billing --audience https://billing.internal --scope b:read")
    reporter = json.loads(
        server.sh(
            "authgate clients create reporter --grant client_credentials --scope orders:read --json"
        )
    )
    biller = json.loads(
        server.sh("authgate clients create biller --grant client_credentials --scope b:read --json")
    )
    server.sh("authgate users create carol --scope orders:read --password-stdin", stdin=PASSWORD)
    login = {"grant_type": "password", "username": "carol", "password": PASSWORD}
    carol = _token(server.url, {**login, "resource": ORDERS})
    own = _token(server.url, login)  # for authgate's own endpoints
    cc = {"grant_type": "client_credentials", "resource": "https://billing.internal"}
    billing = _token(server.url, cc, (biller["client_id"], biller["client_secret"]))
    # The snippet names serve's default address; this server listens on another port.
    namespace = _run(block(VERIFIER).code.replace(DEFAULT_URL, server.url), "verifier")
    app: FastAPI = namespace["app"]
    with caplog.at_level(logging.DEBUG, logger="authgate.verifier"), TestClient(app) as client:
        ok = client.get("/orders", headers={"Authorization": f"Bearer {carol}"})
        assert (ok.status_code, ok.json()) == (200, {"sub": _sub(carol)})
        for other in (own, billing):
            refused = client.get("/orders", headers={"Authorization": f"Bearer {other}"})
            assert refused.status_code == 401
        forged = carol[:-4] + ("AAAA" if not carol.endswith("AAAA") else "BBBB")
        bad = client.get("/orders", headers={"Authorization": f"Bearer {forged}"})
        assert bad.status_code == 401
        assert 'error="invalid_token"' in bad.headers["www-authenticate"]
        assert client.get("/orders").status_code == 401
    # The reporter's side of the snippet: its own token, fetched once, for orders
    # (served by uvicorn: Starlette's TestClient is not an httpx client).
    # A fresh run of the snippet: the TestClient's lifespan closed the first verifier.
    served = _run(block(VERIFIER).code.replace(DEFAULT_URL, server.url), "verifier_served")
    auth = served["orders_client"](reporter["client_id"], reporter["client_secret"]).auth
    orders = UvicornThread(served["app"]).start()
    try:
        with httpx.Client(base_url=orders.url, auth=auth) as http:
            calls = [http.get("/orders") for _ in range(5)]
    finally:
        orders.stop()
    assert [(c.status_code, c.json()) for c in calls] == [(200, {"sub": reporter["client_id"]})] * 5
    assert auth.requests_sent == 1
    rejected = [r.message for r in caplog.records if r.name == "authgate.verifier"]
    assert any("token rejected: bad_signature" in m for m in rejected), rejected
    assert any("token rejected: invalid_claim" in m for m in rejected), rejected
    assert forged not in caplog.text
    assert reporter["client_secret"] not in caplog.text
    assert httpx.get(f"{server.url}/healthz").status_code == 200
