"""A real auth server with registered APIs and clients (issue 15): uvicorn on a
loopback socket, a SQLite file (or a Redis-backed replay store), a frozen clock kept
at or ahead of the wall clock (third-party clients stamp their assertions with it)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from authgate.clock import FrozenClock
from authgate.server import create_app
from authgate.service.protocol import AuthServiceProtocol
from authgate.settings import ThrottleSettings
from authgate.testing import test_settings
from authgate.tokens import Key, generate_key
from server.conftest import PASSWORD, LiveServer, serve

ORDERS = "https://orders.internal"
BILLING = "https://billing.internal"


@dataclass
class Registered:
    client_id: str
    secret: str | None = None
    key: Key | None = None
    method: str = "client_secret_basic"


@dataclass
class Stack:
    live: LiveServer
    clients: dict[str, Registered] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.live.url

    @property
    def token_url(self) -> str:
        return self.live.url + "/auth/token"

    @property
    def published_token_endpoint(self) -> str:
        """The token endpoint as the metadata names it (under the issuer, RFC 8414
        §2): what an assertion's ``aud`` names (RFC 7523 §3). The test server's issuer
        is not its loopback URL, so this differs from :attr:`token_url`."""
        return self.live.settings.issuer.rstrip("/") + "/auth/token"

    def now(self) -> float:
        """Keep the server clock at or ahead of the wall clock and return it."""
        self.live.clock.set(max(self.live.clock.now(), time.time()))
        return self.live.clock.now()

    def client(self) -> httpx.Client:
        return self.live.client()

    def basic(self, name: str, secret: str | None = None) -> tuple[str, str]:
        c = self.clients[name]
        return c.client_id, secret if secret is not None else str(c.secret)

    def cc(self, name: str, **form: str) -> httpx.Response:
        """client_credentials, authenticated the way the client is registered for."""
        with self.client() as http:
            return http.post("/auth/token", **self.authenticated(name, "client_credentials", form))

    def authenticated(self, name: str, grant: str, form: dict[str, str]) -> dict[str, Any]:
        """``httpx`` arguments of a token request by ``name`` (secret methods)."""
        data = {"grant_type": grant, **form}
        client_id, secret = self.basic(name)
        if self.clients[name].method == "client_secret_post":
            return {"data": {**data, "client_id": client_id, "client_secret": secret}}
        return {"data": data, "auth": (client_id, secret)}

    def user_token(self, username: str = "alice", **extra: str) -> dict[str, Any]:
        self.now()
        with self.client() as http:
            return self.live.login(http, username, **extra)


def _register(service: AuthServiceProtocol, jwks: str) -> Any:
    async def job() -> dict[str, Registered]:
        reg = service.registry
        await reg.create_api("orders", ORDERS, ["orders:read", "orders:write"])
        await reg.create_api("billing", BILLING, ["billing:read"])
        out: dict[str, Registered] = {}
        specs: list[tuple[str, list[str], list[str], str]] = [
            ("reporter", ["client_credentials"], ["orders:read"], "client_secret_basic"),
            (
                "poster",
                ["client_credentials"],
                ["orders:read", "orders:write"],
                "client_secret_post",
            ),
            ("biller", ["client_credentials"], ["billing:read"], "client_secret_basic"),
            ("gateway", ["token-exchange"], ["orders:read", "billing:read"], "client_secret_basic"),
            (
                "spread",
                ["client_credentials"],
                ["orders:read", "billing:read"],
                "client_secret_basic",
            ),
            ("keyed", ["client_credentials"], ["orders:read"], "private_key_jwt"),
        ]
        for name, grants, scopes, method in specs:
            keyed = method == "private_key_jwt"
            client, secret = await reg.create_client(
                name,
                grants=grants,
                scopes=scopes,
                auth_method=method,
                jwks=jwks if keyed else None,
            )
            out[name] = Registered(client.client_id, secret, method=method)
        return out

    return job


@contextmanager
def running_stack(data_dir: Path, **overrides: Any) -> Iterator[Stack]:
    clock = FrozenClock(time.time())
    settings = test_settings(data_dir, **overrides)
    app = create_app(settings, clock=clock)
    key = generate_key("RS256")
    jwks = orjson.dumps({"keys": [key.public_jwk()]}).decode()
    with serve(app) as (url, loop):
        live = LiveServer(url, app, clock, loop, settings)
        stack = Stack(live)
        stack.clients = live.call(lambda service: _register(service, jwks)())
        stack.clients["keyed"].key = key
        with live.client() as http:
            live.register(http, "alice")

        async def grant(service: AuthServiceProtocol) -> None:
            user = await service.get_user_by_username("alice")
            await service.set_scopes(user.id, ["orders:read", "orders:write", "billing:read"])

        live.call(grant)
        yield stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # Many refusals from one address in one module: the throttle has its own tests.
    throttle = ThrottleSettings(max_failures=1000, per_ip_max_failures=10_000)
    with running_stack(tmp_path_factory.mktemp("clients"), throttle=throttle) as s:
        yield s


@pytest.fixture
def fresh_stack(tmp_path: Path) -> Callable[..., AbstractContextManager[Stack]]:
    """A server of the test's own (throttle and replay state start empty)."""

    def start(**overrides: Any) -> AbstractContextManager[Stack]:
        return running_stack(tmp_path, **overrides)

    return start


__all__ = ["BILLING", "ORDERS", "PASSWORD", "Stack"]
