"""examples/resource_server.py, under a real uvicorn, checking tokens from a
loopback issuer through the web layer's guard (same RFC 6750 answers)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from authgate.clock import FrozenClock

from ._example import load_example
from ._issuer import AUDIENCE, Issuer, random_kid_token
from ._uvicorn import UvicornThread
from .conftest import FAST_LIMITS


@pytest.fixture
def service(issuer: Issuer, clock: FrozenClock) -> Iterator[httpx.Client]:
    app = load_example().create_app(issuer.url, AUDIENCE, clock=clock, limits=FAST_LIMITS)
    server = UvicornThread(app).start()
    with httpx.Client(base_url=server.url, trust_env=False) as client:
        yield client
    server.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_example_accepts_the_issuers_tokens_and_checks_scopes(
    service: httpx.Client, issuer: Issuer
) -> None:
    reader = issuer.issue(sub="alice", scope={"orders:read", "orders:write"})
    assert service.get("/api/me", headers=bearer(reader)).json()["sub"] == "alice"
    assert service.post("/api/orders", headers=bearer(reader)).status_code == 201
    assert service.get("/api/orders", headers=bearer(reader)).json() == [
        {"id": "1", "owner": "alice"}
    ]
    no_scope = issuer.issue(sub="bob")
    denied = service.get("/api/orders", headers=bearer(no_scope))
    assert denied.status_code == 403
    assert 'error="insufficient_scope"' in denied.headers["www-authenticate"]
    assert denied.json()["scope"] == "orders:read"


@pytest.mark.parametrize("kind", ["forged", "garbage", "unknown kid", "wrong audience"])
def test_example_answers_bad_tokens_with_rfc6750_401(
    kind: str, service: httpx.Client, issuer: Issuer, clock: FrozenClock
) -> None:
    good = issuer.issue()
    token = {
        "forged": good[:-6] + ("AAAAAA" if not good.endswith("AAAAAA") else "BBBBBB"),
        "garbage": "not.a.token",
        "unknown kid": random_kid_token(clock, issuer.url),
        "wrong audience": issuer.codec(audience="billing").issue(sub="u", ttl=60, client_id="c")[0],
    }[kind]
    response = service.get("/api/me", headers=bearer(token))
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer ")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert response.json()["error"] == "invalid_token"


def test_example_refuses_missing_and_query_string_tokens(
    service: httpx.Client, issuer: Issuer
) -> None:
    token = issuer.issue()
    for response in (
        service.get("/api/me"),
        service.get("/api/me", params={"access_token": token}),
    ):
        assert response.status_code == 401
        # RFC 6750 §3.1: no credentials, no error attribute; the body is every 401's.
        assert response.headers["www-authenticate"] == 'Bearer realm="authgate"'
        assert response.json()["error"] == "invalid_token"


def test_example_picks_up_rotation_and_survives_the_issuer_going_down(
    service: httpx.Client, issuer: Issuer
) -> None:
    assert service.get("/health").json()["ready"] is True
    issuer.rotate()
    token = issuer.issue(sub="carol", ttl=3600)
    assert service.get("/api/me", headers=bearer(token)).json()["sub"] == "carol"
    issuer.down()
    assert service.get("/api/me", headers=bearer(token)).json()["sub"] == "carol"
    health = service.get("/health").json()
    assert health["ready"] is True
    assert len(health["kids"]) == 2


def test_verifier_package_imports_no_database_or_service_code() -> None:
    import subprocess
    import sys

    forbidden = ("sqlalchemy", "redis", "authgate.service", "authgate.store", "asyncpg")
    code = (
        "import sys\n"
        "import authgate.verifier as v\n"
        "core = set(sys.modules)\n"
        "from authgate.verifier import CurrentUser, protect\n"
        "import authgate.verifier.fastapi\n"
        f"bad = sorted(m for m in sys.modules if m.startswith({forbidden!r}))\n"
        "web = sorted(m for m in core if m.startswith(('fastapi', 'starlette', 'authgate.web')))\n"
        "print(bad, web)\n"
        "sys.exit(1 if bad or web else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
