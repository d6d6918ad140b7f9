"""An auth server whose issuer is ``https://login.example.test`` (so the relying
party is ``login.example.test``), served on loopback, and a software authenticator
that acts for that origin."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from authgate.clock import FrozenClock
from authgate.server import create_app
from authgate.settings import ThrottleSettings
from authgate.testing import test_settings
from server.conftest import PASSWORD, LiveServer, serve
from service._pg import fresh_database

from ._authenticator import SoftAuthenticator

ISSUER = "https://login.example.test"
RP_ID = "login.example.test"
WEBAUTHN_GRANT = "urn:authgate:params:oauth:grant-type:webauthn"
MFA_GRANT = "urn:authgate:params:oauth:grant-type:mfa"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    clock = FrozenClock(time.time())
    settings = test_settings(
        tmp_path_factory.mktemp("passkeys"),
        issuer=ISSUER,
        default_scopes=["items:read"],
        throttle=ThrottleSettings(registrations_per_ip_per_hour=1000),
    )
    app = create_app(settings, clock=clock)
    with serve(app) as (url, loop):
        yield LiveServer(url, app, clock, loop, settings)


def serve_on(database: str, data_dir: Path, **overrides: Any) -> Iterator[LiveServer]:
    """A live server with :data:`ISSUER` on SQLite (``database`` ``"sqlite"``) or on a
    fresh PostgreSQL database (``"postgres"``): the body of a fixture parametrized by
    both."""

    def start(database_url: str | None) -> Iterator[LiveServer]:
        clock = FrozenClock(time.time())
        settings = test_settings(data_dir, issuer=ISSUER, database_url=database_url, **overrides)
        app = create_app(settings, clock=clock)
        with serve(app) as (url, loop):
            yield LiveServer(url, app, clock, loop, settings)

    if database == "sqlite":
        yield from start(None)
        return
    with fresh_database() as url:
        yield from start(url)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def signed_up(live: LiveServer, c: httpx.Client, username: str) -> str:
    """Register ``username`` and sign in with the password: the access token."""
    live.register(c, username)
    token: str = live.login(c, username)["access_token"]
    return token


def enrol(
    c: httpx.Client, token: str, authenticator: SoftAuthenticator, **create: Any
) -> httpx.Response:
    """Options (with the password) → authenticator → register."""
    r = c.post(
        "/users/me/passkeys/options", json={"current_password": PASSWORD}, headers=bearer(token)
    )
    assert r.status_code == 200, r.text
    credential = authenticator.create(r.json(), **create)
    return c.post(
        "/users/me/passkeys",
        json={"credential": credential, "name": "laptop"},
        headers=bearer(token),
    )


def delete_passkey(
    c: httpx.Client, token: str, credential_id: str, password: str | None = None
) -> httpx.Response:
    """``DELETE /users/me/passkeys/{id}``, with ``{"current_password"}`` when given."""
    body = None if password is None else {"current_password": password}
    return c.request(
        "DELETE", f"/users/me/passkeys/{credential_id}", json=body, headers=bearer(token)
    )


def login_options(c: httpx.Client) -> dict[str, Any]:
    r = c.post("/auth/passkey/options")
    assert r.status_code == 200, r.text
    options: dict[str, Any] = r.json()
    return options


def passkey_grant(assertion: dict[str, Any]) -> dict[str, str]:
    return {"grant_type": WEBAUTHN_GRANT, "assertion": json.dumps(assertion)}


def sign_in(c: httpx.Client, authenticator: SoftAuthenticator, **get: Any) -> httpx.Response:
    assertion = authenticator.get(login_options(c), **get)
    return c.post("/auth/token", data=passkey_grant(assertion))


def claims(access_token: str) -> dict[str, Any]:
    """The payload of a JWT the server just issued (its signature is the server's
    business; these tests read ``amr`` / ``acr``)."""
    payload = access_token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


def mfa_required(c: httpx.Client, username: str) -> dict[str, Any]:
    """A password login that must go on with a second step: the 403 body."""
    r = c.post("/auth/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 403, r.text
    body: dict[str, Any] = r.json()
    assert body["error"] == "mfa_required"
    return body


def second_step(
    c: httpx.Client, mfa_token: str, authenticator: SoftAuthenticator, **get: Any
) -> httpx.Response:
    r = c.post("/auth/passkey/options", json={"mfa_token": mfa_token})
    assert r.status_code == 200, r.text
    assertion = authenticator.get(r.json(), **get)
    form = {"grant_type": MFA_GRANT, "mfa_token": mfa_token, "webauthn": json.dumps(assertion)}
    return c.post("/auth/token", data=form)
