"""Sending the verification message again, over HTTP against a real server and a real
SMTP server: the new link works and the old one is dead (one outstanding token,
SECURITY.md A.7 #57), a verified or missing address is a clear 409, and a concurrent
burst queues at most the throttle's limit of messages (A.7 #47), on SQLite and on
PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from authgate.service import AuthService
from authgate.settings import CookieSettings
from recovery._smtp import TestSmtp, token_in
from recovery.conftest import bearer, email_settings, live_server, recovery_settings, register
from server.conftest import PASSWORD, LiveServer

RESEND = "/users/me/email/verify"
BURST = 50
_HIDDEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _resend(c: httpx.Client, access: str) -> httpx.Response:
    return c.post(RESEND, headers=bearer(access))


def _verify(c: httpx.Client, token: str) -> httpx.Response:
    return c.post("/auth/email/verify", json={"token": token})


def _email_verified(c: httpx.Client, access: str) -> bool:
    r = c.get("/users/me", headers=bearer(access))
    assert r.status_code == 200, r.text
    return bool(r.json()["email_verified"])


def _mail_rows(live: LiveServer, recipient: str) -> tuple[int, int]:
    """(outbox rows to ``recipient``, ``verify`` tokens of the account at that address)."""

    async def job(service: object) -> tuple[int, int]:
        assert isinstance(service, AuthService)
        from sqlalchemy import func, select

        from authgate.store.schema import email_outbox, email_tokens, users

        async with service.db.engine.connect() as conn:
            to = email_outbox.c.recipient == recipient
            rows = await conn.execute(select(func.count()).select_from(email_outbox).where(to))
            owner = select(users.c.id).where(users.c.email == recipient).scalar_subquery()
            tokens = await conn.execute(
                select(func.count())
                .select_from(email_tokens)
                .where(email_tokens.c.user_id == owner, email_tokens.c.purpose == "verify")
            )
            return int(rows.scalar() or 0), int(tokens.scalar() or 0)

    return live.call(job)


def test_a_resent_message_has_a_new_link_and_the_old_link_dies(
    live: LiveServer, smtp: TestSmtp
) -> None:
    with live.client() as c:
        register(c, "resender", "Resender@example.com")
        access = live.login(c, "resender")["access_token"]
        first = token_in(smtp.wait_for("Resender@example.com", subject="Confirm")[0])
        r = _resend(c, access)
        assert r.status_code == 202, r.text
        assert r.headers["cache-control"] == "no-store"
        assert r.json()["status"] == "accepted"
        second = token_in(smtp.wait_for("Resender@example.com", 2, subject="Confirm")[1])
        assert second != first
        dead = _verify(c, first)
        assert dead.status_code == 400
        assert dead.json()["error"] == "invalid_grant"
        assert _email_verified(c, access) is False
        assert _verify(c, second).status_code == 204
        assert _email_verified(c, access) is True


def test_a_verified_address_or_none_is_a_clear_409(live: LiveServer, smtp: TestSmtp) -> None:
    with live.client() as c:
        register(c, "confirmed", "confirmed@example.com")
        access = live.login(c, "confirmed")["access_token"]
        token = token_in(smtp.wait_for("confirmed@example.com", subject="Confirm")[0])
        assert _verify(c, token).status_code == 204
        r = _resend(c, access)
        assert r.status_code == 409
        assert r.json() == {
            "error": "nothing_to_verify",
            "error_description": "the email address is already verified",
        }
        register(c, "addressless", None)
        r = _resend(c, live.login(c, "addressless")["access_token"])
        assert r.status_code == 409
        assert r.json() == {
            "error": "nothing_to_verify",
            "error_description": "the account has no email address",
        }
    assert len(smtp.to("confirmed@example.com")) == 1  # nothing was queued


def test_resending_needs_an_access_token(live: LiveServer) -> None:
    with live.client() as c:
        for headers in ({}, bearer("a.b.c")):
            r = c.post(RESEND, headers=headers)
            assert r.status_code == 401
            assert "Bearer" in r.headers["www-authenticate"]


def test_a_resend_after_a_password_change_carries_the_new_credential_version(
    live: LiveServer, smtp: TestSmtp
) -> None:
    """The new token is born with the account's current version, so it works."""
    with live.client() as c:
        register(c, "changer", "changer@example.com")
        access = live.login(c, "changer")["access_token"]
        new = "copper-violet-harbour-62"
        body = {"current_password": PASSWORD, "new_password": new}
        r = c.post("/users/me/password", json=body, headers=bearer(access))
        assert r.status_code == 200, r.text
        access = r.json()["access_token"]
        assert _resend(c, access).status_code == 202
        token = token_in(smtp.wait_for("changer@example.com", 2, subject="Confirm")[1])
        assert _verify(c, token).status_code == 204


@pytest.fixture
def tight(tmp_path: Path, smtp: TestSmtp) -> Iterator[LiveServer]:
    """Two resends per account per hour, three per IP."""
    mail = email_settings(smtp, requests_per_hour=2, requests_per_ip_per_hour=3)
    yield from live_server(recovery_settings(tmp_path, smtp, email=mail))


def test_resends_are_throttled_per_account_and_per_ip(tight: LiveServer) -> None:
    with tight.client() as c:
        register(c, "often", "often@example.com")
        register(c, "neighbour", "neighbour@example.com")
        often = tight.login(c, "often")["access_token"]
        neighbour = tight.login(c, "neighbour")["access_token"]
        codes = [_resend(c, often).status_code for _ in range(3)]
        assert codes == [202, 202, 429]  # the account's limit
        refused = _resend(c, neighbour)  # another account, the IP's fourth
        assert refused.status_code == 429
        assert refused.json()["error"] == "rate_limited"
        assert int(refused.headers["retry-after"]) > 0
        tight.clock.advance(3600)  # a new hour; the access tokens expired meanwhile
        neighbour = tight.login(c, "neighbour")["access_token"]
        assert _resend(c, neighbour).status_code == 202


def test_a_burst_of_resends_queues_at_most_the_limit_and_leaves_one_live_link(
    racing: LiveServer, smtp: TestSmtp, request: pytest.FixtureRequest
) -> None:
    address = f"burst-{request.node.callspec.id}@example.com"
    with racing.client() as c:
        register(c, "burster", address)
        access = racing.login(c, "burster")["access_token"]
    smtp.wait_for(address, subject="Confirm")  # the registration's message

    async def burst() -> list[int]:
        limits = httpx.Limits(max_connections=BURST, max_keepalive_connections=BURST)
        async with httpx.AsyncClient(base_url=racing.url, timeout=60, limits=limits) as client:
            answers = await asyncio.gather(
                *(client.post(RESEND, headers=bearer(access)) for _ in range(BURST))
            )
        return [a.status_code for a in answers]

    codes = asyncio.run(burst())
    assert codes.count(202) == 3, codes
    assert codes.count(429) == BURST - 3, codes
    rows, tokens = _mail_rows(racing, address)
    assert rows == 1 + 3  # the registration's message and the limit's
    assert tokens == 1  # one outstanding token, however the requests interleaved
    smtp.wait_for(address, 1 + 3, subject="Confirm")
    messages = smtp.to(address)
    assert len(messages) == 1 + 3  # and the SMTP server received no more
    with racing.client() as c:
        answers = [_verify(c, token_in(m)).status_code for m in messages]
    assert answers.count(204) == 1, answers


def _csrf(c: httpx.Client, path: str) -> str:
    found = _HIDDEN.search(c.get(path).text)
    assert found, "the page has no CSRF field"
    return found.group(1)


@pytest.fixture(scope="module")
def pages_live(tmp_path_factory: pytest.TempPathFactory, smtp: TestSmtp) -> Iterator[LiveServer]:
    cookies = CookieSettings(enabled=True, secure=False)
    settings = recovery_settings(tmp_path_factory.mktemp("pages"), smtp, cookies=cookies)
    yield from live_server(settings)


def test_the_account_page_sends_the_verification_message_again(
    pages_live: LiveServer, smtp: TestSmtp
) -> None:
    live = pages_live
    with live.client() as c:
        register(c, "paige", "paige@example.com")
        first = token_in(smtp.wait_for("paige@example.com", subject="Confirm")[0])
        signin = {"username": "paige", "password": PASSWORD, "csrf_token": _csrf(c, "/")}
        r = c.post("/signin", data=signin)
        assert r.status_code == 303, r.text
        page = c.get("/account").text
        assert '<span class="chip" id="email-state">not verified</span>' in page
        assert 'action="/account/email/verify"' in page
        assert "Send the verification message again" in page
        forged = c.post("/account/email/verify", data={"csrf_token": "forged"})
        assert forged.status_code == 403
        r = c.post("/account/email/verify", data={"csrf_token": _csrf(c, "/account")})
        assert r.status_code == 303
        assert r.headers["location"] == "/account?m=verification_sent"
        assert "A new verification message is on its way." in c.get(r.headers["location"]).text
        second = token_in(smtp.wait_for("paige@example.com", 2, subject="Confirm")[1])
        assert _verify(c, first).status_code == 400
        assert _verify(c, second).status_code == 204
        page = c.get("/account").text
        assert '<span class="chip" id="email-state">verified</span>' in page
        assert 'action="/account/email/verify"' not in page
        r = c.post("/account/email/verify", data={"csrf_token": _csrf(c, "/account")})
        assert r.headers["location"] == "/account?m=already_verified"
    assert len(smtp.to("paige@example.com")) == 2
