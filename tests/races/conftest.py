"""Real auth servers for the race tests (SECURITY.md A.7): uvicorn on a loopback
socket in a thread, over a SQLite file or a private PostgreSQL database, the
throttle in memory or in the shared Redis (under a namespace of its own), and a
hasher that counts the password verifications that really ran."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI

from authgate.clock import Clock
from authgate.passwords import PasswordHasher
from authgate.passwords._legacy import LegacyHash
from authgate.server import create_app
from authgate.service import AuthService
from authgate.settings import PasswordSettings, Settings
from authgate.testing import test_settings
from server.conftest import serve
from service._pg import fresh_database

T = TypeVar("T")
PASSWORD = "wobbly-lantern-orchid-73"
NEW_PASSWORD = "quiet-harbour-falcon-58"
WRONG_PASSWORD = "amber-thistle-gondola-19"
AUTHGATE = Path(sys.executable).parent / "authgate"
#: One key-encryption key for every server of a test, so two instances on one
#: database open the same sealed signing keys.
SHARED_KEK = secrets.token_urlsafe(32)


class CountingHasher(PasswordHasher):
    """The real hasher, counting every verification its worker threads run (Argon2,
    bcrypt, the bcrypt stand-in for over-long passwords, PBKDF2/scrypt). After
    ``hold_next(password)``, the next verification of that password sets ``held``
    and blocks until ``release`` is set: a request caught in the middle of its hash."""

    def __init__(self, settings: PasswordSettings) -> None:
        super().__init__(settings)
        self.verifies = 0
        self.bcrypt_verifies = 0
        self.legacy_verifies = 0
        self.hold: set[str] = set()
        self.held = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()

    def hold_next(self, password: str) -> None:
        self.held.clear()
        self.release.clear()
        self.hold.add(password)

    def _count(self, password: str) -> None:
        with self._lock:
            self.verifies += 1
            caught = password in self.hold
            self.hold.discard(password)
        if caught:
            self.held.set()
            self.release.wait(60)

    def _verify_argon2_sync(self, password: str, stored_hash: str) -> tuple[bool, str | None]:
        self._count(password)
        return super()._verify_argon2_sync(password, stored_hash)

    def _verify_bcrypt_sync(self, password: str, stored_hash: str) -> tuple[bool, str | None]:
        self._count(password)
        with self._lock:
            self.bcrypt_verifies += 1
        return super()._verify_bcrypt_sync(password, stored_hash)

    def _verify_legacy_sync(self, password: str, found: LegacyHash) -> tuple[bool, str | None]:
        self._count(password)
        with self._lock:
            self.legacy_verifies += 1
        return super()._verify_legacy_sync(password, found)

    def _bcrypt_dummy_sync(self, stored_hash: str) -> None:
        with self._lock:
            self.verifies += 1
            self.bcrypt_verifies += 1
        super()._bcrypt_dummy_sync(stored_hash)


@dataclass
class RaceServer:
    url: str
    app: FastAPI
    loop: asyncio.AbstractEventLoop
    settings: Settings
    hasher: CountingHasher

    @property
    def service(self) -> AuthService:
        service: AuthService = self.app.state.authgate.service
        return service

    def call(self, job: Callable[[AuthService], Awaitable[T]]) -> T:
        """Run ``job(service)`` on the server's event loop (the service lives there)."""

        async def run() -> T:
            return await job(self.service)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=60)

    def client(self) -> httpx.AsyncClient:
        # Enough connections for every request of a burst to be in flight at once.
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        return httpx.AsyncClient(base_url=self.url, timeout=60, limits=limits)

    def cli_env(self) -> dict[str, str]:
        """The environment an ``authgate`` CLI process needs to reach this server's
        database and open its sealed keys."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHGATE_")}
        kek = self.settings.key_encryption_key
        assert kek is not None
        env.update(
            AUTHGATE_DATA_DIR=str(self.settings.data_dir),
            AUTHGATE_DATABASE_URL=self.settings.resolved_database_url(),
            AUTHGATE_KEY_ENCRYPTION_KEY=kek.get_secret_value(),
            AUTHGATE_ISSUER=self.settings.issuer,
            AUTHGATE_PRODUCTION="false",
        )
        return env


ServerFactory = Callable[..., RaceServer]


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A SQLite file, or a fresh PostgreSQL database dropped after the test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'authgate.db'}"
        return
    with fresh_database() as url:
        yield url


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[ServerFactory]:
    """``start_server(database_url=..., clock=..., **settings)``: a running server,
    stopped at the end of the test."""
    with contextlib.ExitStack() as stack:

        def start(*, clock: Clock | None = None, **overrides: Any) -> RaceServer:
            values: dict[str, Any] = {
                "key_encryption_key": SHARED_KEK,
                "passwords": PasswordSettings(max_concurrent_hashes=4),
            }
            values.update(overrides)
            settings = test_settings(tmp_path / f"data-{secrets.token_hex(3)}", **values)
            app = create_app(settings, clock=clock)
            url, loop = stack.enter_context(serve(app))
            hasher = CountingHasher(settings.passwords)
            service: AuthService = app.state.authgate.service
            hasher.cover = service.hasher.cover  # the cost profiles seeded at open
            service.hasher.close()
            service.hasher = hasher
            return RaceServer(url, app, loop, settings, hasher)

        yield start


@pytest.fixture
def redis_namespace() -> str:
    """The shared Redis outlives the test and serves other suites at once."""
    return "race-" + secrets.token_hex(6)


async def register(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> str:
    r = await client.post("/users", json={"username": username, "password": password})
    assert r.status_code == 201, r.text
    user_id: str = r.json()["id"]
    return user_id


async def login(
    client: httpx.AsyncClient, username: str, password: str = PASSWORD, **extra: str
) -> httpx.Response:
    form = {"grant_type": "password", "username": username, "password": password, **extra}
    return await client.post("/auth/token", data=form)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(
        "/auth/token", data={"grant_type": "refresh_token", "refresh_token": token}
    )


async def assert_all_dead(client: httpx.AsyncClient, pairs: list[dict[str, Any]]) -> None:
    """Every pair's access token is refused (401) and its refresh token is
    ``invalid_grant``: its session is over."""
    for pair in pairs:
        me = await client.get("/users/me", headers=bearer(pair["access_token"]))
        assert me.status_code == 401, me.text
        refreshed = await refresh(client, pair["refresh_token"])
        assert refreshed.status_code == 400, refreshed.text
        assert refreshed.json()["error"] == "invalid_grant"


async def refreshes_racing(
    client: httpx.AsyncClient, chains: list[dict[str, Any]], change: Callable[[], T]
) -> tuple[T, list[dict[str, Any]]]:
    """Rotate every chain's refresh token in bursts (``asyncio.gather``) while
    ``change`` (blocking: a CLI process) runs in a thread once the first burst is
    done; stop when it returns. A refresh the change ended must be ``invalid_grant``.
    Returns what ``change`` returned and every pair issued (the chains' first ones
    included)."""
    issued: list[dict[str, Any]] = [*chains]
    done = False
    first_round = asyncio.Event()

    async def one(i: int) -> None:
        answer = await refresh(client, chains[i]["refresh_token"])
        if answer.status_code == 200:
            chains[i] = answer.json()
            issued.append(answer.json())
        else:  # the change ended the session
            assert answer.status_code == 400, answer.text
            assert answer.json()["error"] == "invalid_grant"

    async def bursts() -> None:
        while not done:
            await asyncio.gather(*(one(i) for i in range(len(chains))))
            first_round.set()

    async def run_change() -> T:
        nonlocal done
        try:
            await first_round.wait()  # the bursts are under way
            return await asyncio.to_thread(change)
        finally:
            done = True

    result, _ = await asyncio.gather(run_change(), bursts())
    return result, issued


async def heard_of(client: httpx.AsyncClient, canary: dict[str, Any]) -> None:
    """The server hears of another process's revocations from the database log (its
    poller): wait, bounded, until a token from before the change is refused."""
    for _ in range(600):
        me = await client.get("/users/me", headers=bearer(canary["access_token"]))
        if me.status_code == 401:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the other process's cut-off never reached the server")
