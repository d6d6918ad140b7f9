"""Addresses: normalised and unique, verified by a link, changed only from the new
address; ``require_verified_email`` judged after the password (SECURITY.md A.7 #57,
#54's rule applied to the new refusal)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from authgate.settings import ThrottleSettings
from recovery._smtp import TestSmtp, link_in, text_of, token_in
from recovery.conftest import ISSUER, bearer, live_server, recovery_settings, register
from server.conftest import PASSWORD, LiveServer

WRONG_PASSWORD = "amber-thistle-gondola-19"


def _me(c: httpx.Client, token: str) -> dict[str, object]:
    r = c.get("/users/me", headers=bearer(token))
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


def _verify(c: httpx.Client, token: str) -> httpx.Response:
    return c.post("/auth/email/verify", json={"token": token})


def test_registration_sends_a_link_that_verifies_the_address_once(
    live: LiveServer, smtp: TestSmtp
) -> None:
    with live.client() as c:
        register(c, "vera", "Vera@Example.org")
        access = live.login(c, "vera")["access_token"]
        me = _me(c, access)
        assert me["email"] == "Vera@example.org"
        assert me["email_verified"] is False
        message = smtp.wait_for("Vera@example.org", subject="Confirm")[0]
        token = token_in(message)
        assert link_in(message) == f"{ISSUER}/verify#token={token}"
        assert _verify(c, token).status_code == 204
        assert _me(c, access)["email_verified"] is True
        again = _verify(c, token)
        assert again.status_code == 400
        assert again.json()["error"] == "invalid_grant"


def test_an_address_is_unique_whatever_its_case(live: LiveServer) -> None:
    with live.client() as c:
        register(c, "first-owner", "Shared.Box@example.net")
        r = c.post(
            "/users",
            json={
                "username": "second-owner",
                "password": PASSWORD,
                "email": "shared.box@EXAMPLE.NET",
            },
        )
        assert r.status_code == 409
        assert r.json() == {
            "error": "username_taken",
            "error_description": "this email address is taken",
        }


@pytest.mark.parametrize("address", ["no-at-sign", "two@@example.com", "a@b", "x" * 300 + "@e.com"])
def test_an_invalid_address_is_refused_with_a_clear_error(live: LiveServer, address: str) -> None:
    with live.client() as c:
        r = c.post(
            "/users", json={"username": "bad-address", "password": PASSWORD, "email": address}
        )
        assert r.status_code == 422, r.text
        assert r.json()["error"] == "invalid_request"
        assert "email" in r.json()["error_description"]


def test_an_address_change_is_confirmed_from_the_new_address(
    live: LiveServer, smtp: TestSmtp
) -> None:
    with live.client() as c:
        register(c, "mover", "old.home@example.com")
        access = live.login(c, "mover")["access_token"]
        wrong = c.post(
            "/users/me/email",
            json={"email": "new.home@example.com", "current_password": WRONG_PASSWORD},
            headers=bearer(access),
        )
        assert wrong.status_code == 400
        assert wrong.json()["error"] == "invalid_credentials"
        r = c.post(
            "/users/me/email",
            json={"email": "New.Home@example.com", "current_password": PASSWORD},
            headers=bearer(access),
        )
        assert r.status_code == 202, r.text
        assert _me(c, access)["email"] == "old.home@example.com"  # not yet
        confirm = smtp.wait_for("New.Home@example.com", subject="Confirm")[0]
        notice = smtp.wait_for("old.home@example.com", subject="being changed")[0]
        assert "#token=" not in text_of(notice)  # nothing at the old address takes the account
        # A reset link sent to the old address before the change dies with it.
        assert c.post("/auth/password-reset", json={"username": "mover"}).status_code == 202
        old_reset = token_in(smtp.wait_for("old.home@example.com", subject="Reset")[0])
        assert _verify(c, token_in(confirm)).status_code == 204
        dead = c.post(
            "/auth/password-reset/confirm",
            json={"token": old_reset, "new_password": "saffron-marble-kettle-41"},
        )
        assert dead.status_code == 400
        me = _me(c, access)
        assert me["email"] == "New.Home@example.com"
        assert me["email_verified"] is True
        # The old address no longer finds the account; the new one does.
        before = len(smtp.to("old.home@example.com"))  # the notice and the reset link
        assert (
            c.post("/auth/password-reset", json={"email": "old.home@example.com"}).status_code
            == 202
        )
        assert (
            c.post("/auth/password-reset", json={"email": "new.home@example.com"}).status_code
            == 202
        )
        smtp.wait_for("New.Home@example.com", subject="Reset")
        assert len(smtp.to("old.home@example.com")) == before


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory, smtp: TestSmtp) -> Iterator[LiveServer]:
    settings = recovery_settings(
        tmp_path_factory.mktemp("strict"),
        smtp,
        require_verified_email=True,
        throttle=ThrottleSettings(max_failures=5, registrations_per_ip_per_hour=10_000),
    )
    yield from live_server(settings)


def test_require_verified_email_refuses_the_password_login_after_the_password(
    strict: LiveServer, smtp: TestSmtp
) -> None:
    with strict.client() as c:
        register(c, "unverified", "unverified@example.com")
        wrong = c.post("/auth/token", data={"username": "unverified", "password": WRONG_PASSWORD})
        assert wrong.status_code == 400
        assert wrong.json()["error_description"] == "invalid username or password"
        right = c.post("/auth/token", data={"username": "unverified", "password": PASSWORD})
        assert right.status_code == 400
        assert right.json()["error"] == "invalid_grant"
        assert "verif" in right.json()["error_description"]
        token = token_in(smtp.wait_for("unverified@example.com", subject="Confirm")[0])
        assert _verify(c, token).status_code == 204
        strict.login(c, "unverified")


def test_unverified_logins_count_against_the_throttle(strict: LiveServer) -> None:
    with strict.client() as c:
        register(c, "counted", "counted@example.com")
        codes = [
            c.post("/auth/token", data={"username": "counted", "password": PASSWORD}).status_code
            for _ in range(7)
        ]
        assert codes[:5] == [400] * 5
        assert 429 in codes[5:]
