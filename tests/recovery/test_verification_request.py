"""A signed-out user asks for a new verification link (issue 16), over HTTP against a
real server and a real SMTP server, on SQLite and on PostgreSQL: one answer whatever
the account (SECURITY.md A.7 #57), a message only for an unverified address, the old
link dead after a new request, a concurrent burst throttled per account with one
link left alive (A.7 #47), and bad bodies a clear 422."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from authgate.endpoints.routes_recovery import ACCEPTED
from authgate.service import AuthService, AuthServiceProtocol
from authgate.settings import CookieSettings
from authgate.store.schema import audit_events, email_outbox, email_tokens, users
from recovery._smtp import TestSmtp, text_of, token_in
from recovery.conftest import (
    ISSUER,
    bearer,
    email_settings,
    live_server,
    recovery_settings,
    register,
    register_without_address,
    row_counts,
)
from server.conftest import PASSWORD, LiveServer
from service._pg import fresh_database

REQUEST = "/auth/email/verify/request"
BURST = 20
_HIDDEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _request(c: httpx.Client, **body: str) -> httpx.Response:
    return c.post(REQUEST, json=body)


def _verify(c: httpx.Client, token: str) -> httpx.Response:
    return c.post("/auth/email/verify", json={"token": token})


def _login(c: httpx.Client, username: str) -> httpx.Response:
    return c.post("/auth/token", data={"username": username, "password": PASSWORD})


def _counts(live: LiveServer, recipient: str) -> tuple[int, ...]:
    """(email tokens, outbox rows, audit rows; live ``verify`` tokens of ``recipient``)."""

    async def job(service: AuthServiceProtocol) -> int:
        assert isinstance(service, AuthService)
        owner = select(users.c.id).where(users.c.email == recipient).scalar_subquery()
        mine = email_tokens.c.user_id == owner, email_tokens.c.purpose == "verify"
        async with service.db.engine.connect() as conn:
            found = await conn.execute(select(func.count()).select_from(email_tokens).where(*mine))
            return int(found.scalar() or 0)

    return (*row_counts(live, email_tokens, email_outbox, audit_events), live.call(job))


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def strict(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, smtp: TestSmtp
) -> Iterator[LiveServer]:
    """``require_verified_email`` on; SQLite, or a fresh PostgreSQL database."""
    data = tmp_path_factory.mktemp("strict")
    if request.param == "sqlite":
        yield from live_server(recovery_settings(data, smtp, require_verified_email=True))
        return
    with fresh_database() as url:
        settings = recovery_settings(data, smtp, require_verified_email=True, database_url=url)
        yield from live_server(settings)


def _tag(request: pytest.FixtureRequest) -> str:
    return str(request.node.callspec.id)


def test_every_answer_is_the_same_202_and_only_an_unverified_address_gets_mail(
    strict: LiveServer, smtp: TestSmtp, request: pytest.FixtureRequest
) -> None:
    t = _tag(request)
    pending, done = f"pending-{t}@example.com", f"done-{t}@example.com"
    with strict.client() as c:
        register(c, f"pending-{t}", pending)
        register(c, f"done-{t}", done)
        register_without_address(strict, f"bare-{t}")
        first = token_in(smtp.wait_for(pending, subject="Confirm")[0])
        assert _verify(c, token_in(smtp.wait_for(done, subject="Confirm")[0])).status_code == 204
        asks = [
            {"email": f"ghost-{t}@example.com"},  # no account
            {"username": f"ghost-{t}"},
            {"email": done.upper()},  # verified
            {"username": f"done-{t}"},
            {"username": f"bare-{t}"},  # no address
            {"email": pending},  # unverified: the only ones that send
            {"username": f"PENDING-{t}"},
        ]
        answers, growth = [], []
        for body in asks:
            before = _counts(strict, pending)
            r = _request(c, **body)
            after = _counts(strict, pending)
            headers = sorted((k, v) for k, v in r.headers.items() if k != "date")
            answers.append((r.status_code, r.content, headers))
            growth.append(tuple(a - b for a, b in zip(after[1:3], before[1:3], strict=True)))
            assert after[3] == 1  # the unverified account keeps one outstanding link
        assert all(a == answers[0] for a in answers), answers
        status, content, _ = answers[0]
        assert status == 202
        assert httpx.Response(202, content=content).json() == ACCEPTED
        assert dict(answers[0][2])["cache-control"] == "no-store"
        assert set(growth) == {(1, 1)}  # an outbox row and an audit row, every time
        messages = smtp.wait_for(pending, 3, subject="Confirm")
        assert [m["To"] for m in messages] == [pending] * 3
        newest = token_in(messages[-1])
        assert f"{ISSUER}/verify#token={newest}" in text_of(messages[-1])
        # The older links died when the newer was issued (A.7 #57).
        for old in (first, token_in(messages[1])):
            assert _verify(c, old).status_code == 400
        assert _verify(c, newest).status_code == 204
    assert len(smtp.to(done)) == 1  # its registration's message, nothing since
    assert smtp.to(f"ghost-{t}@example.com") == []
    assert smtp.to("nobody@example.invalid") == []


def test_the_locked_out_user_gets_a_new_link_and_signs_in(
    strict: LiveServer, smtp: TestSmtp, request: pytest.FixtureRequest
) -> None:
    t = _tag(request)
    address = f"locked-{t}@example.com"
    with strict.client() as c:
        register(c, f"locked-{t}", address)
        lost = token_in(smtp.wait_for(address, subject="Confirm")[0])  # never opened
        refused = _login(c, f"locked-{t}")
        assert refused.status_code == 400
        assert refused.json()["error"] == "invalid_grant"
        assert "verify" in refused.json()["error_description"]
        assert _request(c, username=f"locked-{t}").status_code == 202
        fresh = token_in(smtp.wait_for(address, 2, subject="Confirm")[1])
        assert fresh != lost
        dead = _verify(c, lost)
        assert dead.status_code == 400
        assert dead.json()["error"] == "invalid_grant"
        assert _login(c, f"locked-{t}").status_code == 400  # still unverified
        assert _verify(c, fresh).status_code == 204
        signed_in = _login(c, f"locked-{t}")
        assert signed_in.status_code == 200, signed_in.text
        me = c.get("/users/me", headers=bearer(signed_in.json()["access_token"]))
        assert me.json()["email_verified"] is True


def test_bad_bodies_are_a_clear_422_never_a_500(strict: LiveServer) -> None:
    with strict.client() as c:
        bodies: list[object] = [
            {},
            {"email": "a@example.com", "username": "both"},
            {"email": "not an address"},
            {"email": ""},
            {"username": ""},
            {"username": "x" * 257},
            {"email": 7},
            {"username": ["a"]},
            {"email": "a@example.com", "extra": "field"},
            ["email"],
            "a@example.com",
        ]
        for body in bodies:
            r = c.post(REQUEST, json=body)
            assert r.status_code == 422, (body, r.text)
            assert r.json()["error"] == "invalid_request", (body, r.text)
        for raw, ctype in (
            (b"{", "application/json"),
            (b"", "application/json"),
            (b"email=a%40example.com", "text/plain"),
        ):
            r = c.post(REQUEST, content=raw, headers={"Content-Type": ctype})
            assert r.status_code == 422, (raw, r.text)
            assert r.json()["error"] == "invalid_request"


def test_a_burst_of_requests_queues_at_most_the_limit_and_leaves_one_live_link(
    racing: LiveServer, smtp: TestSmtp, request: pytest.FixtureRequest
) -> None:
    address = f"rush-{_tag(request)}@example.com"
    with racing.client() as c:
        register(c, "rusher", address)
    smtp.wait_for(address, subject="Confirm")  # the registration's message

    async def burst() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=BURST, max_keepalive_connections=BURST)
        async with httpx.AsyncClient(base_url=racing.url, timeout=60, limits=limits) as client:
            return await asyncio.gather(
                *(client.post(REQUEST, json={"username": "rusher"}) for _ in range(BURST))
            )

    answers = asyncio.run(burst())
    codes = [a.status_code for a in answers]
    assert codes.count(202) == 3, codes
    assert codes.count(429) == BURST - 3, codes
    refused = next(a for a in answers if a.status_code == 429)
    assert refused.json()["error"] == "rate_limited"
    assert int(refused.headers["retry-after"]) > 0
    _, _, _, live_tokens = _counts(racing, address)
    assert live_tokens == 1  # one outstanding link, however the requests interleaved
    messages = smtp.wait_for(address, 1 + 3, subject="Confirm")
    assert len(messages) == 1 + 3  # the registration's and the limit's, no more
    with racing.client() as c:
        verdicts = [_verify(c, token_in(m)).status_code for m in messages]
    assert verdicts.count(204) == 1, verdicts
    assert verdicts[0] == 400  # the registration's link died with the first request


@pytest.fixture
def tight(tmp_path: Path, smtp: TestSmtp) -> Iterator[LiveServer]:
    """Two requests per account or address per hour, three per IP."""
    mail = email_settings(smtp, requests_per_hour=2, requests_per_ip_per_hour=3)
    yield from live_server(recovery_settings(tmp_path, smtp, email=mail))


def test_requests_are_throttled_alike_for_known_and_unknown_accounts(tight: LiveServer) -> None:
    """As the reset request (the same code path): per address or name, per account,
    per IP; the account's count is shared with the signed-in resend."""
    with tight.client() as c:
        register(c, "lagging", "lagging@example.com")
        known = [_request(c, email="lagging@example.com").status_code for _ in range(3)]
        tight.clock.advance(3600)  # a new hour for the IP as well
        unknown = [_request(c, email="phantom@example.com").status_code for _ in range(3)]
        assert known == unknown == [202, 202, 429]
        tight.clock.advance(3600)
        by_ip = [_request(c, username=f"ip{i}").status_code for i in range(4)]
        assert by_ip == [202, 202, 202, 429]
        tight.clock.advance(3600)
        # By address, then by name: two targets, one account.
        assert _request(c, email="lagging@example.com").status_code == 202
        assert _request(c, username="lagging").status_code == 202
        assert _request(c, username="lagging").status_code == 429
        access = tight.login(c, "lagging")["access_token"]
        resend = c.post("/users/me/email/verify", headers=bearer(access))
        assert resend.status_code == 429  # the account's messages this hour are spent


@pytest.fixture(scope="module")
def strict_pages(tmp_path_factory: pytest.TempPathFactory, smtp: TestSmtp) -> Iterator[LiveServer]:
    cookies = CookieSettings(enabled=True, secure=False)
    data = tmp_path_factory.mktemp("strict-pages")
    settings = recovery_settings(data, smtp, cookies=cookies, require_verified_email=True)
    yield from live_server(settings)


def _csrf(c: httpx.Client, path: str) -> str:
    found = _HIDDEN.search(c.get(path).text)
    assert found, "the page has no CSRF field"
    return found.group(1)


def test_the_sign_in_page_offers_a_new_link_behind_the_csrf_check(
    strict_pages: LiveServer, smtp: TestSmtp
) -> None:
    live = strict_pages
    with live.client() as c:
        register(c, "pia", "pia@example.com")
        smtp.wait_for("pia@example.com", subject="Confirm")
        assert 'action="/verify/request"' not in c.get("/").text
        wrong = {"username": "pia", "password": "not-the-password", "csrf_token": _csrf(c, "/")}
        assert 'action="/verify/request"' not in c.post("/signin", data=wrong).text
        signin = {"username": "pia", "password": PASSWORD, "csrf_token": _csrf(c, "/")}
        refused = c.post("/signin", data=signin)
        assert refused.status_code == 403
        assert 'action="/verify/request"' in refused.text
        assert 'name="username" value="pia"' in refused.text
        forged = c.post("/verify/request", data={"username": "pia", "csrf_token": "forged"})
        assert forged.status_code == 403
        answers = []
        for name in ("pia", "nobody-here"):
            form = {"username": name, "csrf_token": _csrf(c, "/")}
            r = c.post("/verify/request", data=form)
            answers.append((r.status_code, r.headers["location"]))
        assert answers == [(303, "/?m=verification_requested")] * 2
        assert "a new verification link is on its way" in c.get(answers[0][1]).text
        smtp.wait_for("pia@example.com", 2, subject="Confirm")
        bad = c.post("/verify/request", data={"username": "x" * 300, "csrf_token": _csrf(c, "/")})
        assert bad.status_code == 400
