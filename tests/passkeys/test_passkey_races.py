"""Bursts against one passkey (SECURITY.md A.7): a challenge is taken once and the
signature counter moves by compare-and-set, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from authgate.clock import FrozenClock
from authgate.server import create_app
from authgate.settings import ThrottleSettings
from authgate.testing import test_settings
from server.conftest import LiveServer, serve

from ._authenticator import SoftAuthenticator
from .conftest import ISSUER, enrol, login_options, passkey_grant, serve_on, signed_up

BURST = 10


@pytest.fixture(params=["sqlite", "postgres"])
def racing(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    yield from serve_on(
        request.param, tmp_path / "data", throttle=ThrottleSettings(max_failures=50)
    )


async def _burst(url: str, forms: list[dict[str, str]]) -> list[int]:
    limits = httpx.Limits(max_connections=BURST * 2, max_keepalive_connections=BURST * 2)
    async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as c:
        answers = await asyncio.gather(*(c.post("/auth/token", data=f) for f in forms))
    return [a.status_code for a in answers]


def test_a_burst_of_one_assertion_signs_in_once(racing: LiveServer) -> None:
    auth = SoftAuthenticator(origin=ISSUER)
    with racing.client() as c:
        token = signed_up(racing, c, "burst-user")
        assert enrol(c, token, auth).status_code == 201
        form = passkey_grant(auth.get(login_options(c)))
    codes = asyncio.run(_burst(racing.url, [form] * BURST))
    assert sorted(codes) == [200] + [400] * (BURST - 1)


def test_assertions_racing_with_one_counter_value_sign_in_once(racing: LiveServer) -> None:
    """Ten fresh challenges, each signed with the same counter (a cloned key used in
    parallel): the compare-and-set lets one through."""
    auth = SoftAuthenticator(origin=ISSUER)
    with racing.client() as c:
        token = signed_up(racing, c, "counter-race")
        assert enrol(c, token, auth).status_code == 201
        forms = [passkey_grant(auth.get(login_options(c), sign_count=2)) for _ in range(BURST)]
    codes = asyncio.run(_burst(racing.url, forms))
    # The others are refused: by the counter (400) or by the throttle, which lets one
    # verification per credential run at a time and answers 429 when busy too long.
    assert codes.count(200) == 1, codes
    assert set(codes) <= {200, 400, 429}, codes


@pytest.fixture
def strict(tmp_path: Path) -> Iterator[LiveServer]:
    """The default login throttle (5 failures per account and window)."""
    clock = FrozenClock(time.time())
    settings = test_settings(tmp_path / "strict", issuer=ISSUER)
    app = create_app(settings, clock=clock)
    with serve(app) as (url, loop):
        yield LiveServer(url, app, clock, loop, settings)


def test_wrong_assertions_for_a_passkey_are_throttled_like_logins(strict: LiveServer) -> None:
    """A burst of badly signed assertions for one credential reaches the check at most
    ``max_failures`` times; then the genuine one is refused too (429) until the
    back-off ends (SECURITY.md A.7 #47)."""
    from cryptography.hazmat.primitives.asymmetric import ec

    auth = SoftAuthenticator(origin=ISSUER)
    with strict.client() as c:
        token = signed_up(strict, c, "throttled-pk")
        assert enrol(c, token, auth).status_code == 201
        genuine = auth.credentials[-1].key
        auth.credentials[-1].key = ec.generate_private_key(ec.SECP256R1())
        forms = [passkey_grant(auth.get(login_options(c))) for _ in range(BURST * 2)]
    codes = asyncio.run(_burst(strict.url, forms))
    limit = strict.settings.throttle.max_failures
    assert 1 <= codes.count(400) <= limit, codes
    assert codes.count(400) + codes.count(429) == len(forms), codes
    with strict.client() as c:
        # Wrong ones one at a time until the throttle answers (the burst may have
        # been refused as "busy" before it counted all its failures).
        for _ in range(limit + 1):
            r = c.post("/auth/token", data=passkey_grant(auth.get(login_options(c))))
            if r.status_code == 429:
                break
        assert r.status_code == 429
        auth.credentials[-1].key = genuine
        r = c.post("/auth/token", data=passkey_grant(auth.get(login_options(c))))
        assert r.status_code == 429  # blocked: not even checked
        strict.clock.advance(strict.settings.throttle.window + 1)
        r = c.post("/auth/token", data=passkey_grant(auth.get(login_options(c))))
        assert r.status_code == 200, r.text
