"""Password reset over HTTP against a real server and a real SMTP server
(SECURITY.md A.7 #57)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from authgate.endpoints.routes_recovery import ACCEPTED
from authgate.store.schema import audit_events, email_outbox, email_tokens
from recovery._smtp import TestSmtp, html_of, link_in, text_of, token_in
from recovery.conftest import (
    ISSUER,
    bearer,
    email_settings,
    live_server,
    recovery_settings,
    register,
    row_counts,
)
from server.conftest import NEW_PASSWORD, PASSWORD, LiveServer

OTHER_PASSWORD = "saffron-marble-kettle-41"


def _reset(client: httpx.Client, **body: str) -> httpx.Response:
    return client.post("/auth/password-reset", json=body)


def _confirm(client: httpx.Client, token: str, password: str = NEW_PASSWORD) -> httpx.Response:
    return client.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": password}
    )


def _reset_token(live: LiveServer, smtp: TestSmtp, address: str, **body: str) -> str:
    """Ask for a reset and return the token of the message that arrives."""
    before = len(smtp.subjects(address, "Reset"))
    with live.client() as c:
        r = _reset(c, **body)
    assert r.status_code == 202, r.text
    return token_in(smtp.wait_for(address, before + 1, subject="Reset")[-1])


def test_reset_message_arrives_over_starttls_and_the_token_works_once(
    live: LiveServer, smtp: TestSmtp
) -> None:
    with live.client() as c:
        register(c, "rita", "Rita.Reset@Example.COM")
        old = live.login(c, "rita")
        r = _reset(c, email="rita.reset@EXAMPLE.com")  # another case: the same address
        assert r.status_code == 202
        assert r.json() == ACCEPTED
        assert r.headers["cache-control"] == "no-store"
        message = smtp.wait_for("Rita.Reset@example.com", subject="Reset")[0]
        with smtp.lock:
            assert all(smtp.tls_used)  # STARTTLS was required and used
        link = link_in(message)
        token = token_in(message)
        # The token is in the fragment, which a browser never sends (A.7 #57).
        assert link == f"{ISSUER}/reset#token={token}"
        assert f"{ISSUER}/reset#token={token}" in html_of(message)

        assert _confirm(c, token).status_code == 204
        again = _confirm(c, token, OTHER_PASSWORD)
        assert again.status_code == 400
        assert again.json()["error"] == "invalid_grant"

        # Every session and access token of the user ended.
        assert c.get("/users/me", headers=bearer(old["access_token"])).status_code == 401
        refreshed = c.post(
            "/auth/token",
            data={"grant_type": "refresh_token", "refresh_token": old["refresh_token"]},
        )
        assert refreshed.status_code == 400
        assert (
            c.post("/auth/token", data={"username": "rita", "password": PASSWORD}).status_code
            == 400
        )
        live.login(c, "rita", NEW_PASSWORD)
    notice = smtp.wait_for("Rita.Reset@example.com", subject="password was changed")
    assert len(notice) == 1
    assert "#token=" not in text_of(notice[0])


def test_a_burst_of_confirms_with_one_token_gives_exactly_one_success(
    live: LiveServer, smtp: TestSmtp
) -> None:
    with live.client() as c:
        register(c, "burst", "burst@example.com")
    token = _reset_token(live, smtp, "burst@example.com", email="burst@example.com")

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=live.url, timeout=60) as client:
            answers = await asyncio.gather(
                *(
                    client.post(
                        "/auth/password-reset/confirm",
                        json={"token": token, "new_password": f"{NEW_PASSWORD}-{i}"},
                    )
                    for i in range(20)
                )
            )
        return [a.status_code for a in answers]

    codes = asyncio.run(burst())
    assert codes.count(204) == 1, codes
    assert set(codes) <= {204, 400}, codes


def test_a_reset_token_expires_after_30_minutes(live: LiveServer, smtp: TestSmtp) -> None:
    with live.client() as c:
        register(c, "slow", "slow@example.com")
    token = _reset_token(live, smtp, "slow@example.com", username="slow")
    live.clock.advance(30 * 60 + 1)
    with live.client() as c:
        r = _confirm(c, token)
        assert r.status_code == 400
        assert r.json()["error"] == "invalid_grant"
        live.login(c, "slow")  # the password did not change


def test_a_newer_request_kills_the_older_token(live: LiveServer, smtp: TestSmtp) -> None:
    with live.client() as c:
        register(c, "twice", "twice@example.com")
    first = _reset_token(live, smtp, "twice@example.com", email="twice@example.com")
    second = _reset_token(live, smtp, "twice@example.com", username="twice")
    with live.client() as c:
        assert _confirm(c, first).status_code == 400
        assert _confirm(c, second).status_code == 204


def test_a_password_change_kills_a_reset_token(live: LiveServer, smtp: TestSmtp) -> None:
    with live.client() as c:
        register(c, "changer", "changer@example.com")
        tokens = live.login(c, "changer")
    token = _reset_token(live, smtp, "changer@example.com", email="changer@example.com")
    with live.client() as c:
        r = c.post(
            "/users/me/password",
            json={"current_password": PASSWORD, "new_password": OTHER_PASSWORD},
            headers=bearer(tokens["access_token"]),
        )
        assert r.status_code == 200, r.text
        assert _confirm(c, token).status_code == 400
        live.login(c, "changer", OTHER_PASSWORD)


def test_a_weak_new_password_is_refused_and_the_token_survives(
    live: LiveServer, smtp: TestSmtp
) -> None:
    with live.client() as c:
        register(c, "weakling", "weakling@example.com")
    token = _reset_token(live, smtp, "weakling@example.com", email="weakling@example.com")
    with live.client() as c:
        weak = _confirm(c, token, "password")
        assert weak.status_code == 422
        assert weak.json()["error"] == "weak_password"
        assert _confirm(c, token).status_code == 204


def _counts(live: LiveServer) -> tuple[int, ...]:
    return row_counts(live, email_tokens, email_outbox, audit_events)


@pytest.mark.parametrize("field", ["email", "username"])
def test_an_unknown_account_gets_the_same_answer_and_the_same_writes(
    live: LiveServer, smtp: TestSmtp, field: str
) -> None:
    with live.client() as c:
        register(c, f"known-{field}", f"known-{field}@example.com")
        smtp.wait_for(f"known-{field}@example.com", subject="Confirm")
        known = {"email": f"known-{field}@example.com", "username": f"known-{field}"}[field]
        unknown = {"email": f"nobody-{field}@example.com", "username": f"nobody-{field}"}[field]
        answers = []
        growth = []
        for value in (known, unknown):
            before = _counts(live)
            r = _reset(c, **{field: value})
            after = _counts(live)
            answers.append((r.status_code, r.content, r.headers["content-type"]))
            growth.append(tuple(a - b for a, b in zip(after, before, strict=True)))
        assert answers[0] == answers[1]
        assert growth[0] == growth[1] == (1, 1, 1)  # a token, an outbox row, an audit row
    smtp.wait_for(f"known-{field}@example.com", subject="Reset")
    assert smtp.to("nobody@example.invalid") == []
    assert smtp.to(f"nobody-{field}@example.com") == []


def test_bad_reset_requests_get_a_clear_4xx(live: LiveServer) -> None:
    with live.client() as c:
        for body in ({}, {"email": "a@b.c", "username": "x"}, {"email": "not an address"}):
            r = c.post("/auth/password-reset", json=body)
            assert r.status_code == 422, (body, r.text)
            assert r.json()["error"] == "invalid_request"
        for token in ("", "x" * 43, "short", "ü" * 43):
            r = _confirm(c, token)
            assert r.status_code in (400, 422), r.text


@pytest.fixture
def tight(tmp_path: Path, smtp: TestSmtp) -> Iterator[LiveServer]:
    """Two reset requests per account or address per hour, three per IP."""
    mail = email_settings(smtp, requests_per_hour=2, requests_per_ip_per_hour=3)
    yield from live_server(recovery_settings(tmp_path, smtp, email=mail))


def test_reset_requests_are_throttled_alike_for_known_and_unknown_accounts(
    tight: LiveServer, smtp: TestSmtp
) -> None:
    with tight.client() as c:
        register(c, "limited", "limited@example.com")
        known = [_reset(c, email="limited@example.com").status_code for _ in range(3)]
        tight.clock.advance(3600)  # a new hour for the IP as well
        unknown = [_reset(c, email="ghost@example.com").status_code for _ in range(3)]
        assert known == unknown == [202, 202, 429]
        tight.clock.advance(3600)
        by_ip = [_reset(c, email=f"ip{i}@example.com").status_code for i in range(4)]
        assert by_ip == [202, 202, 202, 429]
        assert "retry-after" in _reset(c, email="limited@example.com").headers
