"""A real auth server for the second-factor tests: uvicorn on loopback over SQLite
or PostgreSQL, a frozen clock (TOTP steps and the mfa_token's lifetime move only when
a test moves them), and a protected route that asks for ``acr`` / ``amr``."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

import httpx
import pyotp
import pytest

from authgate.clock import FrozenClock
from authgate.server import create_app
from authgate.service import AuthService
from authgate.settings import PasswordSettings
from authgate.testing import test_settings
from authgate.tokens import VerifiedToken
from authgate.web import require_acr, require_amr
from races.conftest import PASSWORD, database_url, redis_namespace  # noqa: F401
from server.conftest import serve

__all__ = ["PASSWORD", "MfaServer", "MfaUser"]

T = TypeVar("T")
MFA_GRANT = "urn:authgate:params:oauth:grant-type:mfa"


@dataclass
class MfaUser:
    username: str
    user_id: str
    secret: str
    recovery_codes: list[str]


@dataclass
class MfaServer:
    url: str
    clock: FrozenClock
    service: AuthService
    loop: asyncio.AbstractEventLoop

    def call(self, job: Callable[[AuthService], Awaitable[T]]) -> T:
        """Run ``job(service)`` on the server's event loop (the service lives there)."""

        async def run() -> T:
            return await job(self.service)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=60)

    def client(self) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        return httpx.AsyncClient(base_url=self.url, timeout=60, limits=limits)

    def code(self, secret: str, steps: int = 0) -> str:
        """The TOTP code of ``secret`` at the server's time, ``steps`` steps away."""
        return pyotp.TOTP(secret).at(self.clock.now() + 30 * steps)

    def next_step(self) -> None:
        self.clock.advance(30)


@pytest.fixture
def start_mfa_server(tmp_path: Path) -> Iterator[Any]:
    with contextlib.ExitStack() as stack:

        def start(database_url: str | None = None, **overrides: Any) -> MfaServer:
            clock = FrozenClock(time.time())
            values: dict[str, Any] = {"passwords": PasswordSettings(max_concurrent_hashes=2)}
            if database_url is not None:
                values["database_url"] = database_url
            values.update(overrides)
            settings = test_settings(tmp_path / f"data-{secrets.token_hex(3)}", **values)
            app = create_app(settings, clock=clock)

            @app.get("/step-up/acr")
            async def acr_only(
                user: Annotated[VerifiedToken, require_acr("mfa")],
            ) -> dict[str, str]:
                return {"sub": user.sub}

            @app.get("/step-up/amr", dependencies=[require_amr("otp")])
            async def amr_only() -> dict[str, str]:
                return {"ok": "yes"}

            url, loop = stack.enter_context(serve(app))
            return MfaServer(url, clock, app.state.authgate.service, loop)

        yield start


@pytest.fixture(params=["memory", "redis"])
def throttle_store(request: pytest.FixtureRequest) -> dict[str, str]:
    """Settings keeping the throttle's counters in memory, or in Redis."""
    if request.param == "memory":
        return {}
    return {
        "redis_url": request.getfixturevalue("redis_url"),
        "redis_namespace": request.getfixturevalue("redis_namespace"),
    }


@pytest.fixture
def mfa_server(start_mfa_server: Any) -> MfaServer:
    server: MfaServer = start_mfa_server()
    return server


async def password_grant(
    client: httpx.AsyncClient, username: str, password: str = PASSWORD
) -> httpx.Response:
    form = {"grant_type": "password", "username": username, "password": password}
    return await client.post("/auth/token", data=form)


async def mfa_grant(client: httpx.AsyncClient, mfa_token: str, **proof: str) -> httpx.Response:
    return await client.post(
        "/auth/token", data={"grant_type": MFA_GRANT, "mfa_token": mfa_token, **proof}
    )


async def mfa_token(client: httpx.AsyncClient, username: str) -> str:
    r = await password_grant(client, username)
    assert r.status_code == 403, r.text
    token: str = r.json()["mfa_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def enrolled_user(server: MfaServer, client: httpx.AsyncClient, username: str) -> MfaUser:
    """Register ``username``, enrol and confirm TOTP; the clock is then moved to the
    next step, so the confirmation's code is spent and a new one is due."""
    r = await client.post("/users", json={"username": username, "password": PASSWORD})
    assert r.status_code == 201, r.text
    return await enrol(server, client, username, r.json()["id"])


async def enrol(
    server: MfaServer, client: httpx.AsyncClient, username: str, user_id: str
) -> MfaUser:
    """Enrol and confirm TOTP for a registered user (see :func:`enrolled_user`)."""
    r = await password_grant(client, username)
    assert r.status_code == 200, r.text
    access = r.json()["access_token"]
    r = await client.post("/users/me/mfa/totp", headers=bearer(access))
    assert r.status_code == 201, r.text
    secret = r.json()["secret"]
    r = await client.post(
        "/users/me/mfa/totp/confirm", headers=bearer(access), json={"code": server.code(secret)}
    )
    assert r.status_code == 200, r.text
    codes = r.json()["recovery_codes"]
    server.next_step()
    return MfaUser(username, user_id, secret, codes)
