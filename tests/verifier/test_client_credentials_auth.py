"""``ClientCredentialsAuth`` against a real authgate server (uvicorn, SQLite, the
registered APIs and clients of issue 15) and a real "orders" resource server on
``authgate.verifier``: one token request for a burst of calls, renewal before
expiry, one retry on 401, each client authentication method, and clear errors when
the token endpoint refuses. Hostile answers (huge, redirecting) come from the
loopback test issuer, to prove the caps."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from authgate.clock import FrozenClock
from authgate.errors import ConfigError, TokenRequestFailed
from authgate.settings import ThrottleSettings
from authgate.tokens import generate_key
from authgate.verifier import ClientCredentialsAuth, FetchLimits
from clients.conftest import BILLING, ORDERS, Stack, running_stack
from server.conftest import serve

from ._issuer import Canned, Issuer
from ._orders import create_orders_app

pytestmark = pytest.mark.anyio

THROTTLE = ThrottleSettings(max_failures=1000, per_ip_max_failures=10_000)


class Fleet:
    def __init__(self, stack: Stack, orders_url: str, orders_app: Any) -> None:
        self.stack = stack
        self.orders_url = orders_url
        self.orders_app = orders_app

    @property
    def seen(self) -> list[str]:
        seen: list[str] = self.orders_app.state.seen
        return seen

    def auth(self, name: str = "reporter", **options: Any) -> ClientCredentialsAuth:
        client = self.stack.clients[name]
        options.setdefault("resource", ORDERS)
        if client.key is not None:
            return ClientCredentialsAuth(
                self.stack.token_url,
                client.client_id,
                private_key=client.key,
                assertion_audience=self.stack.published_token_endpoint,
                **options,
            )
        options["auth_method"] = client.method
        return ClientCredentialsAuth(
            self.stack.token_url, client.client_id, client.secret, **options
        )


def _fleet(data_dir: Path) -> Iterator[Fleet]:
    with running_stack(data_dir, throttle=THROTTLE) as stack:
        settings = stack.live.settings
        jwks = stack.url + "/.well-known/jwks.json"
        app = create_orders_app(settings.issuer, jwks, ORDERS, clock=stack.live.clock)
        with serve(app) as (orders_url, _):
            yield Fleet(stack, orders_url, app)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    yield from _fleet(tmp_path_factory.mktemp("ccauth"))


async def test_a_burst_of_100_async_calls_makes_one_token_request(fleet: Fleet) -> None:
    fleet.stack.now()
    auth = fleet.auth()
    before = len(fleet.seen)
    async with httpx.AsyncClient(base_url=fleet.orders_url, auth=auth) as http:
        answers = await asyncio.gather(*(http.get("/api/orders") for _ in range(100)))
    assert [a.status_code for a in answers] == [200] * 100
    assert auth.requests_sent == 1
    assert len(set(fleet.seen[before:])) == 1  # every call carried the same token
    assert answers[0].json()["caller"] == fleet.stack.clients["reporter"].client_id


def test_twenty_threads_of_sync_calls_make_one_token_request(fleet: Fleet) -> None:
    fleet.stack.now()
    auth = fleet.auth()
    before = len(fleet.seen)
    with httpx.Client(base_url=fleet.orders_url, auth=auth) as http:

        def call(_: int) -> int:
            return http.get("/api/orders").status_code

        with ThreadPoolExecutor(20) as pool:
            codes = list(pool.map(call, range(60)))
    assert codes == [200] * 60
    assert auth.requests_sent == 1
    assert len(set(fleet.seen[before:])) == 1


async def test_the_token_is_renewed_before_it_expires(fleet: Fleet) -> None:
    now = fleet.stack.now()
    clock = FrozenClock(now)
    auth = fleet.auth(clock=clock, renew_margin=60)
    before = len(fleet.seen)
    async with httpx.AsyncClient(base_url=fleet.orders_url, auth=auth) as http:
        assert (await http.get("/api/orders")).status_code == 200
        ttl = fleet.stack.live.settings.access_token_ttl
        clock.advance(ttl - 61)  # still outside the margin: the same token
        assert (await http.get("/api/orders")).status_code == 200
        assert auth.requests_sent == 1
        clock.advance(2)  # inside the margin, before expiry: a new token
        answers = await asyncio.gather(*(http.get("/api/orders") for _ in range(30)))
    assert {a.status_code for a in answers} == {200}
    assert auth.requests_sent == 2
    assert len(set(fleet.seen[before:])) == 2


async def test_a_401_is_retried_once_with_a_fresh_token_and_the_body_again(fleet: Fleet) -> None:
    fleet.stack.now()
    auth = fleet.auth()
    before = len(fleet.seen)
    async with httpx.AsyncClient(base_url=fleet.orders_url, auth=auth) as http:
        refused = await http.get("/api/always-401")
        assert refused.status_code == 401
        assert auth.requests_sent == 2  # one retry, with a fresh token, never a third
        assert len(fleet.seen) - before == 2
        assert len(set(fleet.seen[before:])) == 2
        echoed = await http.post("/api/echo", content=b"order-42")
    assert echoed.json() == {"body": "order-42"}
    assert auth.requests_sent == 2  # the fresh token is kept


def test_sync_401_retry_sends_the_body_again(fleet: Fleet) -> None:
    fleet.stack.now()
    auth = fleet.auth()
    with httpx.Client(base_url=fleet.orders_url, auth=auth) as http:
        assert http.get("/api/always-401").status_code == 401
        assert auth.requests_sent == 2
        assert http.post("/api/echo", content=b"x" * 1000).json() == {"body": "x" * 1000}


@pytest.mark.parametrize("name", ["reporter", "poster", "keyed"])
async def test_every_client_authentication_method_gets_a_token_orders_accepts(
    name: str, fleet: Fleet
) -> None:
    """client_secret_basic, client_secret_post, and private_key_jwt (a fresh assertion
    per token request: the server refuses a replayed one)."""
    fleet.stack.now()
    auth = fleet.auth(name)
    async with httpx.AsyncClient(base_url=fleet.orders_url, auth=auth) as http:
        assert (await http.get("/api/orders")).status_code == 200
        auth.invalidate()
        assert (await http.get("/api/orders")).status_code == 200
    assert auth.requests_sent == 2


async def test_a_token_minted_for_billing_is_refused_by_orders(fleet: Fleet) -> None:
    fleet.stack.now()
    auth = fleet.auth("biller", resource=BILLING)
    async with httpx.AsyncClient(base_url=fleet.orders_url, auth=auth) as http:
        answer = await http.get("/api/orders")
    assert answer.status_code == 401
    assert auth.requests_sent == 2  # retried once with a fresh token, refused again


REFUSALS: dict[str, tuple[dict[str, Any], str, int]] = {
    "wrong secret": ({"secret": "not-the-secret"}, "invalid_client", 401),
    "resource out of reach": ({"resource": BILLING}, "invalid_target", 400),
    "unknown resource": ({"resource": "https://nowhere.internal"}, "invalid_target", 400),
    "scope outside the client's": ({"scope": "orders:write"}, "invalid_scope", 400),
}


@pytest.mark.parametrize("case", REFUSALS)
async def test_a_refusal_is_a_clear_error_that_never_shows_the_secret(
    case: str, fleet: Fleet, caplog: pytest.LogCaptureFixture
) -> None:
    fleet.stack.now()
    changes, error, status = REFUSALS[case]
    reporter = fleet.stack.clients["reporter"]
    secret = changes.pop("secret", reporter.secret)
    changes.setdefault("resource", ORDERS)
    auth = ClientCredentialsAuth(fleet.stack.token_url, reporter.client_id, secret, **changes)
    with caplog.at_level(logging.DEBUG):
        async with httpx.AsyncClient(base_url=fleet.orders_url, auth=auth) as http:
            with pytest.raises(TokenRequestFailed) as refused:
                await http.get("/api/orders")
        sync_refusal = await asyncio.to_thread(_sync_get, auth, fleet.orders_url + "/api/orders")
    assert isinstance(sync_refusal, TokenRequestFailed)
    assert sync_refusal.error == error
    assert (refused.value.error, refused.value.status) == (error, status)
    assert error in str(refused.value)
    shown = [str(refused.value), repr(auth), *(r.getMessage() for r in caplog.records)]
    assert not [line for line in shown if str(secret) in line]


def _sync_get(auth: ClientCredentialsAuth, url: str) -> Exception | int:
    """One blocking call through ``auth``: its status, or the exception it raised."""
    try:
        with httpx.Client(auth=auth) as http:
            return http.get(url).status_code
    except Exception as exc:  # the test inspects it
        return exc


async def test_an_unreachable_token_endpoint_is_a_clear_error() -> None:
    limits = FetchLimits(connect_timeout=1.0, read_timeout=1.0, total_timeout=2.0)
    auth = ClientCredentialsAuth("http://127.0.0.1:9/token", "c", "s", limits=limits)
    async with httpx.AsyncClient(auth=auth) as http:
        with pytest.raises(TokenRequestFailed, match="ConnectError"):
            await http.get("http://127.0.0.1:9/api")
    assert auth.requests_sent == 1


HOSTILE: dict[str, tuple[Canned, str]] = {
    "huge body": (
        Canned(body=b'{"access_token": "' + b"a" * 100_000 + b'"}', content_length=False),
        "larger than",
    ),
    "redirect": (
        Canned(status=307, headers={"Location": "http://127.0.0.1:9/steal"}),
        "redirect refused",
    ),
    "html": (Canned(status=200, body=b"<html>", content_type="text/html"), "not JSON"),
    "not bearer": (
        Canned(body=orjson.dumps({"access_token": "t", "token_type": "mac"})),
        "not Bearer",
    ),
    "no token": (Canned(body=orjson.dumps({"token_type": "Bearer"})), "no usable access_token"),
    "negative expires_in": (
        Canned(body=orjson.dumps({"access_token": "t", "token_type": "Bearer", "expires_in": -1})),
        "expires_in",
    ),
    "server error": (Canned(status=500, body=b"{}"), "HTTP 500"),
}


@pytest.mark.parametrize("case", HOSTILE)
@pytest.mark.parametrize("flavour", ["async", "sync"])
async def test_a_hostile_token_answer_is_refused_within_the_caps(
    case: str, flavour: str, clock: FrozenClock
) -> None:
    issuer = Issuer(clock)
    try:
        issuer.overrides["/token"] = HOSTILE[case][0]
        auth = ClientCredentialsAuth(issuer.url + "/token", "c", "s", resource=ORDERS)
        if flavour == "async":
            async with httpx.AsyncClient(auth=auth) as http:
                with pytest.raises(TokenRequestFailed, match=HOSTILE[case][1]):
                    await http.get(issuer.url + "/api")
        else:
            refused = await asyncio.to_thread(_sync_get, auth, issuer.url + "/api")
            assert isinstance(refused, TokenRequestFailed)
            assert HOSTILE[case][1] in refused.message
        assert issuer.count("/steal") == 0
    finally:
        issuer.close()


@pytest.mark.parametrize(
    ("args", "options", "message"),
    [
        (("http://auth.example.com/token", "c", "s"), {}, "token URL"),
        (("file:///etc/passwd", "c", "s"), {}, "token URL"),
        (("https://auth.example.com/token", "c"), {}, "needs a client_secret"),
        (("https://auth.example.com/token", "", "s"), {}, "client_id"),
        (
            ("https://auth.example.com/token", "c", "s"),
            {"private_key": generate_key("ES256")},
            "no client_secret",
        ),
        (
            ("https://auth.example.com/token", "c"),
            {"private_key": generate_key("HS256")},
            "asymmetric",
        ),
        (("https://auth.example.com/token", "c", "s"), {"renew_margin": -1}, "renew_margin"),
    ],
)
def test_bad_configuration_is_refused_at_construction(
    args: tuple[str, ...], options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        ClientCredentialsAuth(*args, **options)


async def test_a_401_at_orders_after_the_server_clock_moved_gets_a_fresh_token(
    tmp_path: Path,
) -> None:
    """The cached token still looks fresh to the caller (its clock did not move), but
    orders (whose clock is the server's) finds it expired: one retry heals it."""
    for fleet in _fleet(tmp_path):
        now = fleet.stack.now()
        auth = fleet.auth(clock=FrozenClock(now))
        async with httpx.AsyncClient(base_url=fleet.orders_url, auth=auth) as http:
            assert (await http.get("/api/orders")).status_code == 200
            settings = fleet.stack.live.settings
            fleet.stack.live.clock.set(time.time() + settings.access_token_ttl + 120)
            answers = await asyncio.gather(*(http.get("/api/orders") for _ in range(20)))
        assert {a.status_code for a in answers} == {200}
        assert auth.requests_sent == 2  # twenty 401s, one shared fresh token
